# The services of the manifest tests, shared by every deployment below this directory.
temperature_sensor = service(
    name="temperature_sensor",
    interface="interfaces/sensor.lidl:demo::pipeline::temperature_sensor",
    implementation="temperature_sensor_impl")
log_store = service(
    name="log_store",
    interface="interfaces/store.lidl:log_store",
    implementation="log_store_impl")
averager = service(
    name="averager",
    interface="interfaces/averager.lidl",
    implementation="averager_impl",
    depends={"source": "interfaces/sensor.lidl:temperature_sensor",
             "sink": "interfaces/store.lidl:log_store"})
monitor = service(
    name="monitor",
    interface="interfaces/monitor.lidl",
    implementation="monitor_impl",
    config_type="interfaces/monitor.lidl:monitor_config",
    depends={"indoor": "interfaces/averager.lidl",
             "outdoor": "interfaces/sensor.lidl:temperature_sensor"})
smoother = service(
    name="smoother",
    interface="interfaces/sensor.lidl:temperature_sensor",
    implementation="smoother_impl",
    depends={"input": "interfaces/averager.lidl"})
