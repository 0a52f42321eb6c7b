include("../../services.py")
network(name="lan", kind="udp")
node(name="a", networks={"lan": "10.0.0.1"})
instance(name="store", service=log_store)
instance(name="aggregator", service=averager,
         dependencies={"source": "smooth", "sink": "store"})
instance(name="smooth", service=smoother, dependencies={"input": "aggregator"})
group(name="all", services=["store", "aggregator", "smooth"])
deploy(node="a", groups=["all"])
