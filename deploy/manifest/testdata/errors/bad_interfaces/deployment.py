service(name="missing", interface="../../interfaces/nowhere.lidl:x", implementation="x")
service(name="broken", interface="../../interfaces/broken.lidl", implementation="y")
service(name="unknown", interface="../../interfaces/sensor.lidl:temperature_sensr",
        implementation="z")
service(name="form", interface="sensor:temperature_sensor", implementation="w")
