# The pipeline's services in one group on one node: every dependency is a direct call.
include("../../../../examples/pipeline/services.py")

sensor = instance(name="sensor", service=temperature_sensor, config=probe)
store = instance(name="store", service=log_store)
aggregator = instance(name="aggregator", service=averager,
                      dependencies={"source": sensor, "sink": store})
group(name="everything", services=[sensor, store, aggregator])

network(name="web", kind="http", port=8080)
node(name="box", networks={"web": "0.0.0.0:8080"})
deploy(node="box", groups=["everything"])

export(service=aggregator, networks={"web": "/aggregator"})
export(service=store, networks={"web": "/store"})
