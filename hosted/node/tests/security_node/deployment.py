# A generated node whose `intruder` group is compromised (security.hosted.generated_node tests,
# hosted/node/tests/security_node_test.py). The group depends on an HTTP import, which the
# kernel serves to it over a channel: that channel is what it attacks. Its own service is
# exported over HTTP so that the test can drive it. The import's URL is a closed port: its calls
# are answered (with the error `unreachable`) by the kernel without leaving the node.
attacker = service(
    name="attacker",
    interface="attack.lidl:security_node::attacker",
    implementation="security_node_attacker",
    cls="security_node::attacker_impl", header="attacker_impl.hpp",
    depends={"source": "attack.lidl:security_node::target"},
    doc="a compromised service: attacks its channel to the kernel, scans its own memory")

outside = import_http(name="outside", interface="attack.lidl:security_node::target",
                      url="http://127.0.0.1:9/target")
intruder = instance(name="intruder", service=attacker, dependencies={"source": outside})
group(name="compromised", services=[intruder])

network(name="web", kind="http", port=8080)
node(name="box", networks={"web": "0.0.0.0:8080"})
deploy(node="box", groups=["compromised"])

export(service=intruder, networks={"web": "/intruder"})
