# The test pipeline: a sensor on a microcontroller (edge) linked by a serial line to a gateway,
# which joins the cloud over UDP. The cloud averages and stores readings, a monitor compares
# the average with an outdoor temperature read from an external HTTP service, and the average
# is exported over HTTP. The cloud reaches the sensor through the gateway (two hops).
include("../services.py")

sensor = instance(name="sensor", service=temperature_sensor)
store = instance(name="store", service=log_store)
aggregator = instance(name="aggregator", service=averager,
                      dependencies={"source": sensor, "sink": "store"})
outdoor = import_http(name="outdoor",
                      interface="../interfaces/sensor.lidl:temperature_sensor",
                      url="https://weather.example/v1/outdoor", network="web")
watch = instance(name="watch", service=monitor,
                 dependencies={"indoor": aggregator, "outdoor": outdoor},
                 config={"alarm_above": 30, "samples": 4, "scale": "celsius"})

group(name="pipeline", services=["aggregator", "store"])

network(name="link", kind="serial", baud=115200)
network(name="lan", kind="udp", port=7700, encrypt=True)
network(name="web", kind="http", port=8080)

node(name="edge", platform="cortex-m", networks={"link": "uart0"})
node(name="gateway", platform="hosted", networks={"link": "/dev/ttyS1", "lan": "10.77.0.2"})
node(name="cloud", platform="hosted", networks={"lan": "10.77.0.3", "web": "0.0.0.0:8080"})

deploy(node="edge", groups=["sensor"])
deploy(node="cloud", groups=["pipeline", "watch"])

export(service="aggregator", networks={"web": "/aggregator"})
export(service="sensor", networks={"web": "/sensor", "lan": "7701"})
