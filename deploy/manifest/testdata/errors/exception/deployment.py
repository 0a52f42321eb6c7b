include("helpers.py")
network(name="lan", kind="udp")
sensor_node("a", "10.0.0.1")
