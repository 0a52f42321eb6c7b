# An HTTP import in generated nodes: the pipeline's averager reads its temperatures from an
# external HTTP service instead of a sensor instance. The kernel of `cloud` makes the HTTP calls
# (POST <url>/read) and serves the import to the `analytics` group over a channel, as it does
# for instances on other nodes. The URL is a placeholder: the end-to-end test
# (synth.e2e_test.http_import) starts `sensor_server` (the pipeline's sensor behind the HTTP
# exporter) and points the import at it with AMBIENCE_HTTP_IMPORT_URL_outdoor.
include("../../../../examples/pipeline/services.py")

outdoor = import_http(name="outdoor",
                      interface="../../../../examples/pipeline/interfaces/sensor.lidl:"
                                "temperature_sensor",
                      url="http://127.0.0.1:9/sensor")
store = instance(name="store", service=log_store)
aggregator = instance(name="aggregator", service=averager,
                      dependencies={"source": outdoor, "sink": store})
group(name="analytics", services=[aggregator])
group(name="journal", services=[store])

network(name="web", kind="http", port=8080)
node(name="cloud", networks={"web": "0.0.0.0:8080"})
deploy(node="cloud", groups=["analytics", "journal"])

export(service=aggregator, networks={"web": "/aggregator"})
export(service=store, networks={"web": "/store"})
