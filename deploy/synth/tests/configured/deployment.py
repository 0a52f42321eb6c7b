# Typed instance configuration in a generated node: two instances of the pipeline's sensor,
# configured differently, in one group on one node, each exported over HTTP. The end-to-end
# test (synth.e2e_test.config) reads each and finds the readings its config= asks for, which
# only the values handed to each constructor can produce.
include("../../../../examples/pipeline/services.py")

warm = instance(name="warm", service=temperature_sensor,
                config={"base_celsius": 30.0, "step_celsius": 2.0, "cycle": 3})
cold = instance(name="cold", service=temperature_sensor,
                config={"base_celsius": -5.0, "step_celsius": -0.25, "cycle": 0})
group(name="probes", services=[warm, cold])

network(name="web", kind="http", port=8080)
node(name="box", networks={"web": "0.0.0.0:8080"})
deploy(node="box", groups=["probes"])

export(service=warm, networks={"web": "/warm"})
export(service=cold, networks={"web": "/cold"})
