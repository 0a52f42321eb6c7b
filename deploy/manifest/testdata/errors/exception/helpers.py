# A helper that fails: the diagnostic points here, at the line that raised.
include("../../services.py")


def sensor_node(name, address):
    node(name=name, networks={"lan": address})
    instance(name=name + "_sensor", service=temperature_sensr)
