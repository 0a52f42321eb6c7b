"""The planner: the network graph, cheapest routes (multi-hop, costs, ties), placement,
backends, exports and the JSON plan, on the testdata pipeline and small manifests."""

import json
import os
import textwrap
import unittest

from manifest import analyse, dsl, planner
from manifest.test_support import TESTDATA, analyse_source, lidlc

# Three pipelines on nodes a and b; the network part varies per test.
PIPELINE = """\
    include(SERVICES)
    instance(name="sensor", service=temperature_sensor)
    instance(name="store", service=log_store)
    instance(name="aggregator", service=averager,
             dependencies={"source": "sensor", "sink": "store"})
    group(name="pipeline", services=["aggregator", "store"])
    deploy(node="a", groups=["sensor"])
    deploy(node="b", groups=["pipeline"])
    """


def with_pipeline(networks):
    return textwrap.dedent(PIPELINE) + textwrap.dedent(networks)


def route_of(plan, importer, slot):
    (binding,) = [b for b in plan["bindings"] if (b["importer"], b["slot"]) == (importer, slot)]
    return binding["route"]["hops"], binding["route"]["cost"]


class pipeline_plan_test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.result = analyse(os.path.join(TESTDATA, "pipeline"), lidlc())
        cls.plan = cls.result.plan

    def test_placement(self):
        self.assertEqual({name: (i["node"], i["group"])
                          for name, i in self.plan["instances"].items()},
                         {"sensor": ("edge", "sensor"), "store": ("cloud", "pipeline"),
                          "aggregator": ("cloud", "pipeline"), "watch": ("cloud", "watch")})
        self.assertEqual({name: n["groups"] for name, n in self.plan["nodes"].items()},
                         {"edge": ["sensor"], "gateway": [], "cloud": ["pipeline", "watch"]})
        self.assertTrue(self.plan["groups"]["sensor"]["implicit"])
        self.assertFalse(self.plan["groups"]["pipeline"]["implicit"])

    def test_backends(self):
        self.assertEqual([(b["importer"], b["slot"], b["exporter"], b["backend"])
                          for b in self.plan["bindings"]],
                         [("aggregator", "source", "sensor", "network"),
                          ("aggregator", "sink", "store", "direct"),
                          ("watch", "indoor", "aggregator", "rings"),
                          ("watch", "outdoor", "outdoor", "http")])

    def test_multi_hop_route_through_the_gateway(self):
        (binding,) = [b for b in self.plan["bindings"] if b["backend"] == "network"]
        self.assertEqual(binding["route"]["hops"], ["cloud", "lan", "gateway", "link", "edge"])
        self.assertEqual(binding["route"]["cost"], 11)
        self.assertEqual(binding["reply_route"]["hops"],
                         ["edge", "link", "gateway", "lan", "cloud"])
        self.assertEqual(binding["route"]["links"], [
            {"from": "cloud", "from_address": "10.77.0.3", "network": "lan", "kind": "udp",
             "to": "gateway", "to_address": "10.77.0.2"},
            {"from": "gateway", "from_address": "/dev/ttyS1", "network": "link",
             "kind": "serial", "to": "edge", "to_address": "uart0"}])
        self.assertEqual(binding["interface"], "demo::pipeline::temperature_sensor")

    def test_the_gateway_forwards_requests_and_replies(self):
        forwards = self.plan["nodes"]["gateway"]["forwards"]
        self.assertIn({"binding": 0, "direction": "request", "from_network": "lan",
                       "to_network": "link", "next_hop": "edge"}, forwards)
        self.assertIn({"binding": 0, "direction": "reply", "from_network": "link",
                       "to_network": "lan", "next_hop": "cloud"}, forwards)
        self.assertEqual(self.plan["nodes"]["cloud"]["forwards"], [])

    def test_http_import_binding(self):
        binding = self.plan["bindings"][3]
        self.assertEqual((binding["url"], binding["via_node"], binding["route"]["hops"]),
                         ("https://weather.example/v1/outdoor", "cloud", ["cloud"]))

    def test_exports_are_served_by_the_cheapest_attached_node(self):
        self.assertEqual([(e["instance"], e["network"], e["address"], e["node"],
                           e["route"]["hops"]) for e in self.plan["exports"]],
                         [("aggregator", "web", "/aggregator", "cloud", ["cloud"]),
                          ("sensor", "web", "/sensor", "cloud",
                           ["cloud", "lan", "gateway", "link", "edge"]),
                          ("sensor", "lan", "7701", "gateway", ["gateway", "link", "edge"])])
        self.assertEqual(self.plan["nodes"]["gateway"]["serves_exports"], [2])

    def test_start_order_puts_dependencies_first(self):
        self.assertEqual(self.plan["nodes"]["cloud"]["start_order"],
                         ["store", "aggregator", "watch"])

    def test_plan_is_json_and_names_its_format(self):
        text = json.dumps(self.plan)
        again = json.loads(text)
        self.assertEqual((again["format"], again["version"]), ("ambience-plan", 1))
        self.assertEqual(again["services"]["averager"]["depends"],
                         {"source": "demo::pipeline::temperature_sensor",
                          "sink": "demo::pipeline::log_store"})
        self.assertEqual(again["interfaces"]["demo::pipeline::log_store"]["procedures"],
                         ["append", "count"])
        self.assertEqual(again["networks"]["link"]["cost"], 10)
        self.assertFalse(again["networks"]["web"]["routable"])

    def test_network_graph(self):
        loaded, _ = dsl.load(os.path.join(TESTDATA, "pipeline"))
        graph = planner.network_graph(loaded)
        self.assertEqual(sorted(graph.nodes),
                         [("network", "lan"), ("network", "link"), ("node", "cloud"),
                          ("node", "edge"), ("node", "gateway")])
        self.assertEqual(graph.edges[("node", "edge"), ("network", "link")]["cost"], 10)
        self.assertEqual(graph.edges[("network", "link"), ("node", "edge")]["cost"], 0)
        self.assertFalse(graph.has_edge(("node", "edge"), ("network", "lan")))


class route_choice_test(unittest.TestCase):
    def test_a_cheaper_two_hop_route_beats_an_expensive_direct_link(self):
        result = analyse_source(with_pipeline("""\
            network(name="radio", kind="serial")
            network(name="lan", kind="udp")
            network(name="lan2", kind="tcp")
            node(name="a", networks={"radio": "uart0", "lan": "10.0.0.1"})
            node(name="b", networks={"radio": "uart1", "lan2": "10.0.1.2"})
            node(name="relay", networks={"lan": "10.0.0.3", "lan2": "10.0.1.3"})
            """))
        self.assertEqual(result.diagnostics, [])
        self.assertEqual(route_of(result.plan, "aggregator", "source"),
                         (["b", "lan2", "relay", "lan", "a"], 2))

    def test_a_network_cost_overrides_the_kind_default(self):
        result = analyse_source(with_pipeline("""\
            network(name="radio", kind="serial", cost=1.5)
            network(name="lan", kind="udp")
            network(name="lan2", kind="tcp")
            node(name="a", networks={"radio": "uart0", "lan": "10.0.0.1"})
            node(name="b", networks={"radio": "uart1", "lan2": "10.0.1.2"})
            node(name="relay", networks={"lan": "10.0.0.3", "lan2": "10.0.1.3"})
            """))
        self.assertEqual(route_of(result.plan, "aggregator", "source"), (["b", "radio", "a"], 1.5))

    def test_three_hops_through_two_relays(self):
        result = analyse_source(with_pipeline("""\
            network(name="n1", kind="udp")
            network(name="n2", kind="serial")
            network(name="n3", kind="tcp")
            node(name="a", networks={"n1": "10.0.0.1"})
            node(name="r1", networks={"n1": "10.0.0.2", "n2": "ttyS0"})
            node(name="r2", networks={"n2": "ttyS1", "n3": "10.0.3.1"})
            node(name="b", networks={"n3": "10.0.3.2"})
            """))
        self.assertEqual(route_of(result.plan, "aggregator", "source"),
                         (["b", "n3", "r2", "n2", "r1", "n1", "a"], 12))
        self.assertEqual(len(result.plan["nodes"]["r1"]["forwards"]), 2)
        self.assertEqual(len(result.plan["nodes"]["r2"]["forwards"]), 2)

    def test_equal_routes_are_broken_by_name_whatever_the_declaration_order(self):
        for order in (("x", "y"), ("y", "x")):
            with self.subTest(order=order):
                relays = "".join(
                    f'node(name="relay_{r}", networks={{"left": "10.0.0.{i + 3}", '
                    f'"right": "10.0.1.{i + 3}"}})\n'
                    for i, r in enumerate(order))
                result = analyse_source(with_pipeline("""\
                    network(name="left", kind="udp")
                    network(name="right", kind="udp")
                    node(name="a", networks={"left": "10.0.0.1"})
                    node(name="b", networks={"right": "10.0.1.2"})
                    """) + relays)
                self.assertEqual(result.diagnostics, [])
                self.assertEqual(route_of(result.plan, "aggregator", "source"),
                                 (["b", "right", "relay_x", "left", "a"], 2))

    def test_fewer_hops_win_among_equal_costs(self):
        result = analyse_source(with_pipeline("""\
            network(name="direct", kind="udp", cost=2)
            network(name="left", kind="udp")
            network(name="right", kind="udp")
            node(name="a", networks={"direct": "10.0.9.1", "left": "10.0.0.1"})
            node(name="b", networks={"direct": "10.0.9.2", "right": "10.0.1.2"})
            node(name="aa_relay", networks={"left": "10.0.0.3", "right": "10.0.1.3"})
            """))
        self.assertEqual(route_of(result.plan, "aggregator", "source"),
                         (["b", "direct", "a"], 2))

    def test_http_networks_carry_no_routes(self):
        result = analyse_source(with_pipeline("""\
            network(name="web", kind="http")
            node(name="a", networks={"web": "10.0.0.1:80"})
            node(name="b", networks={"web": "10.0.0.2:80"})
            """))
        self.assertEqual([d.message.split(",")[0] for d in result.diagnostics],
                         ["instance 'aggregator' on node 'b' depends on 'sensor' (slot 'source') "
                          "on node 'a'"])

    def test_an_http_import_through_a_gateway_node(self):
        result = analyse_source("""\
            include(SERVICES)
            network(name="lan", kind="udp")
            network(name="internet", kind="http")
            node(name="inside", networks={"lan": "10.0.0.1"})
            node(name="border", networks={"lan": "10.0.0.2", "internet": "192.0.2.1"})
            weather = import_http(name="weather", interface="%s:temperature_sensor",
                                  url="http://weather.example/", network="internet")
            instance(name="store", service=log_store)
            instance(name="aggregator", service=averager,
                     dependencies={"source": weather, "sink": "store"})
            group(name="pipeline", services=["aggregator", "store"])
            deploy(node="inside", groups=["pipeline"])
            """ % os.path.join(TESTDATA, "interfaces", "sensor.lidl"))
        self.assertEqual(result.diagnostics, [])
        binding = result.plan["bindings"][0]
        self.assertEqual((binding["backend"], binding["via_node"], binding["route"]["hops"]),
                         ("http", "border", ["inside", "lan", "border"]))
        self.assertEqual(result.plan["http_imports"]["weather"]["interface"],
                         "demo::pipeline::temperature_sensor")


def chain(links):
    """Networks and nodes joining node a to node b through `links` udp links (links - 1 relays)."""
    names = ["a"] + [f"r{i}" for i in range(1, links)] + ["b"]
    text = "".join(f'network(name="l{i}", kind="udp")\n' for i in range(1, links + 1))
    for index, name in enumerate(names):
        attached = {}
        if index > 0:
            attached[f"l{index}"] = f"10.0.{index}.2"
        if index < links:
            attached[f"l{index + 1}"] = f"10.0.{index + 1}.1"
        text += f"node(name={name!r}, networks={attached!r})\n"
    return text


class hop_limit_test(unittest.TestCase):
    def test_the_limit_is_read_from_the_runtime_declaration(self):
        limit = planner.hop_limit()
        self.assertTrue(1 <= limit <= 255, limit)
        with open(planner.HOP_LIMIT_HEADER, encoding="utf-8") as file:
            self.assertIn(f"default_hop_limit = {limit};", file.read())
        # Generated nodes keep the default: if the glue ever set config.hop_limit, the planner
        # would have to read that setting instead.
        glue = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "synth", "glue")
        for root, _, files in os.walk(glue):
            for name in files:
                with open(os.path.join(root, name), encoding="utf-8", errors="replace") as file:
                    self.assertNotIn("hop_limit", file.read(), os.path.join(root, name))

    def test_a_route_of_exactly_the_limit_is_planned(self):
        limit = planner.hop_limit()
        result = analyse_source(with_pipeline(chain(limit)))
        self.assertEqual(result.diagnostics, [])
        hops, _ = route_of(result.plan, "aggregator", "source")
        self.assertEqual(planner.route_links(hops), limit)

    def test_a_route_longer_than_the_limit_is_refused(self):
        limit = planner.hop_limit()
        result = analyse_source(with_pipeline(chain(limit + 1)))
        self.assertIsNone(result.plan)
        (diagnostic,) = result.diagnostics
        links = limit + 1
        route = " ".join(["b"] + [f"-l{i}-> r{i - 1}" for i in range(links, 1, -1)] +
                         ["-l1-> a"])  # b -l9-> r8 -l8-> r7 ... -l2-> r1 -l1-> a
        self.assertEqual(diagnostic.message, (
            f"instance 'aggregator' on node 'b' depends on 'sensor' (slot 'source') on node "
            f"'a', but the cheapest route {route} crosses {limit + 1} links, more than the "
            f"runtime's hop limit of {limit} (default_hop_limit in "
            "runtime/remote/include/remote/envelope.hpp): calls would fail at hop "
            f"{limit + 1} (place the two ends closer, or join their networks through fewer "
            "forwarding nodes)"))
        self.assertTrue(diagnostic.where.file.endswith("deployment.py"))
        self.assertGreater(diagnostic.where.line, 0)

    def test_an_export_served_too_far_from_its_instance_is_refused(self):
        limit = planner.hop_limit()
        # l1 joins a and r1; r1, the nearer, serves the export, limit + 1 links from b.
        source = with_pipeline(chain(limit + 2)).replace(
            'deploy(node="a", groups=["sensor"])', 'deploy(node="b", groups=["sensor"])')
        result = analyse_source(source + 'export(service="store", networks={"l1": "7701"})\n')
        self.assertIsNone(result.plan)
        (diagnostic,) = result.diagnostics
        self.assertIn("export of 'store' on network 'l1' is served by node 'r1' for node 'b', "
                      "but the cheapest route r1 -l2-> r2", diagnostic.message)
        self.assertIn(f"crosses {limit + 1} links, more than the runtime's hop limit of {limit}",
                      diagnostic.message)


if __name__ == "__main__":
    unittest.main()
