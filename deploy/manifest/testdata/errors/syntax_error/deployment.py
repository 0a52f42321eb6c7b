include("../../services.py")
network(name="lan", kind="udp"
node(name="a", networks={"lan": "10.0.0.1"})
