# The services of the pipeline example: each names its lidl interface, the CMake target of its
# implementation, the C++ class generated node code constructs and its header, and its
# dependencies (the constructor takes them in this order, after the configuration of a service
# that has a config_type).
temperature_sensor = service(
    name="temperature_sensor",
    interface="interfaces/sensor.lidl:demo::pipeline::temperature_sensor",
    implementation="pipeline_sensor",
    cls="demo::pipeline::sensor_impl", header="sensor_impl.hpp",
    config_type="interfaces/sensor.lidl:demo::pipeline::sensor_config",
    doc="a simulated temperature probe")
# The probe every deployment of the pipeline uses (a sensor_config): 20.5, 21.0, 21.5, 22.0,
# 20.0, then again, so that every placement gives the same answers.
probe = {"base_celsius": 20.0, "step_celsius": 0.5, "cycle": 5}
log_store = service(
    name="log_store",
    interface="interfaces/store.lidl:demo::pipeline::log_store",
    implementation="pipeline_store",
    cls="demo::pipeline::store_impl", header="store_impl.hpp",
    doc="an append-only store of values")
averager = service(
    name="averager",
    interface="interfaces/averager.lidl:demo::pipeline::averager",
    implementation="pipeline_averager",
    cls="demo::pipeline::averager_impl", header="averager_impl.hpp",
    depends={"source": "interfaces/sensor.lidl:demo::pipeline::temperature_sensor",
             "sink": "interfaces/store.lidl:demo::pipeline::log_store"},
    doc="averages readings and logs each one")
