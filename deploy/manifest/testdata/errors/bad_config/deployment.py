include("../../services.py")
moody = service(name="moody", interface="../../interfaces/monitor.lidl", implementation="moody",
                config_type="../../interfaces/monitor.lidl:monitr_config")
mood = service(name="mood", interface="../../interfaces/monitor.lidl", implementation="mood",
               config_type="../../interfaces/monitor.lidl:monitor_config")
sensor = instance(name="sensor", service=temperature_sensor, config={"rate": 2})
m1 = instance(name="m1", service=monitor, dependencies={"indoor": "a", "outdoor": sensor},
              config={"alarm_above": "hot", "samples": 256, "scale": "kelvin", "colour": 1})
m2 = instance(name="m2", service=monitor, dependencies={"indoor": "a", "outdoor": sensor},
              config={"alarm_above": True, "samples": -1, "scale": 0, "label": 7})
m3 = instance(name="m3", service=monitor, dependencies={"indoor": "a", "outdoor": sensor})
m4 = instance(name="m4", service=moody, config={"alarm_above": 1e999, "samples": 1.0,
                                               "scale": "celsius", "label": None})
a = instance(name="a", service=averager, dependencies={"source": sensor, "sink": "s"})
s = instance(name="s", service=log_store)
m5 = instance(name="m5", service=mood, config={"alarm_above": 1e999, "samples": 1.0,
                                              "scale": "celsius", "label": None})
group(name="all", services=[sensor, m1, m2, m3, m4, m5, a, s])
node(name="n")
deploy(node="n", groups=["all"])
