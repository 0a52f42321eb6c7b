include("../../services.py")
network(name="lan", kind="udp")
node(name="a", networks={"lan": "10.0.0.1"})
instance(name="sensor", service=temperature_sensor)
instance(name="store", service=log_store)
instance(name="aggregator", service=averager,
         dependencies={"source": "sensor", "sink": "store", "snk": "store"})
deploy(node="a", groups=["sensor", "store", "aggregator"])
