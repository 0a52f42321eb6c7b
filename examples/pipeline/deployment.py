# The pipeline example (README.md): a temperature sensor on a field node, linked by a serial
# line to a gateway, which joins the cloud over UDP. The cloud averages readings in one group,
# stores them in another, and exports the averager and the sensor over HTTP. The cloud reaches
# the sensor through the gateway: cloud -lan-> gateway -link-> field.
include("services.py")

sensor = instance(name="sensor", service=temperature_sensor, config=probe)
store = instance(name="store", service=log_store)
aggregator = instance(name="aggregator", service=averager,
                      dependencies={"source": sensor, "sink": store})
group(name="analytics", services=[aggregator])
group(name="journal", services=[store])

network(name="link", kind="serial", baud=115200)
network(name="lan", kind="udp", port=7700)
network(name="web", kind="http", port=8080)

node(name="field", networks={"link": "/dev/ttyS0"})
node(name="gateway", networks={"link": "/dev/ttyS1", "lan": "10.77.0.2"})
node(name="cloud", networks={"lan": "10.77.0.3", "web": "0.0.0.0:8080"})

deploy(node="field", groups=["sensor"])
deploy(node="cloud", groups=["analytics", "journal"])

export(service=aggregator, networks={"web": "/aggregator"})
export(service=sensor, networks={"web": "/sensor"})
export(service=store, networks={"web": "/store"})
