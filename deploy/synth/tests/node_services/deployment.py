# A service using its node's services: the stamper's slots "clock" and "log" name node services
# ("node:clock", "node:log"), which the generated node binds to its group's channels to the
# kernel; the instance binds nothing. The end-to-end test (synth.e2e_test.node_services) reads
# the clock and writes a note through the HTTP export.
stamper = service(
    name="stamper", interface="interfaces/stamper.lidl:demo::node_services::stamper",
    implementation="node_services_stamper", cls="demo::node_services::stamper_impl",
    header="stamper_impl.hpp", depends={"clock": "node:clock", "log": "node:log"})

stamp = instance(name="stamp", service=stamper)
group(name="stamping", services=[stamp])

network(name="web", kind="http", port=8080)
node(name="box", networks={"web": "0.0.0.0:8080"})
deploy(node="box", groups=["stamping"])

export(service=stamp, networks={"web": "/stamp"})
