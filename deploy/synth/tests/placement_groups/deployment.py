# The pipeline's services in three groups on one node: every dependency crosses a channel.
include("../../../../examples/pipeline/services.py")

sensor = instance(name="sensor", service=temperature_sensor, config=probe)
store = instance(name="store", service=log_store)
# The store's loop sleeps as soon as it finds nothing (spin_us=0), the others spin the default
# 50 µs: the answers are the same.
group(name="store", services=[store], spin_us=0)
aggregator = instance(name="aggregator", service=averager,
                      dependencies={"source": sensor, "sink": store})

network(name="web", kind="http", port=8080)
node(name="box", networks={"web": "0.0.0.0:8080"})
deploy(node="box", groups=["sensor", "store", "aggregator"])

export(service=aggregator, networks={"web": "/aggregator"})
export(service=store, networks={"web": "/store"})
