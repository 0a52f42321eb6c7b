# The pipeline's services on three nodes joined by UDP: every dependency crosses the network,
# and the store is exported over HTTP by a node that forwards to it.
include("../../../../examples/pipeline/services.py")

sensor = instance(name="sensor", service=temperature_sensor, config=probe)
store = instance(name="store", service=log_store)
aggregator = instance(name="aggregator", service=averager,
                      dependencies={"source": sensor, "sink": store})

network(name="lan", kind="udp", port=7700)
network(name="web", kind="http", port=8080)
node(name="a", networks={"lan": "10.0.0.1"})
node(name="b", networks={"lan": "10.0.0.2"})
node(name="c", networks={"lan": "10.0.0.3", "web": "0.0.0.0:8080"})
deploy(node="a", groups=["sensor"])
deploy(node="b", groups=["store"])
deploy(node="c", groups=["aggregator"])

export(service=aggregator, networks={"web": "/aggregator"})
export(service=store, networks={"web": "/store"})
