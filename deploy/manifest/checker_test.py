"""The checker on the broken manifests of testdata/errors (one per kind of mistake): every
diagnostic, with its file, line and exact message, and nothing else."""

import os
import unittest

from manifest import analyse, checker, dsl
from manifest.test_support import TESTDATA, lidlc, summary

E = "errors/{}/deployment.py"

EXPECTED = {
    "unknown_service": [
        (E, 4, "instance 'sensor' uses unknown service 'temperature_sensr' (did you mean "
               "'temperature_sensor'?)")],
    "unknown_instance": [
        (E, 6, "instance 'aggregator': dependency 'source' is bound to unknown instance "
               "'sensr' (did you mean 'sensor'?)")],
    "unknown_group": [
        (E, 5, "instance 'store' is not deployed (deploy its group: deploy(node=..., "
               "groups=[\"storage\"]))"),
        (E, 7, "deploy: unknown group 'storag' (did you mean 'storage'?)")],
    "unknown_node": [
        (E, 5, "deploy: unknown node 'egde' (did you mean 'edge'?)")],
    "unknown_network": [
        (E, 3, "node 'a' is attached to unknown network 'lann' (did you mean 'lan'?)")],
    "missing_slot": [
        (E, 5, "instance 'aggregator': dependency slot 'sink' of service 'averager' is not "
               "bound (add dependencies={'sink': ...} naming an instance that implements "
               "demo::pipeline::log_store)")],
    "undeclared_slot": [
        (E, 6, "instance 'aggregator': service 'averager' has no dependency slot 'snk' (did "
               "you mean 'sink'? its slots: source, sink)")],
    "wrong_interface": [
        (E, 6, "instance 'aggregator': dependency 'sink' needs interface "
               "demo::pipeline::log_store, but 'sensor' is an instance of service "
               "'temperature_sensor', which implements demo::pipeline::temperature_sensor "
               "(bind an instance of a service that implements demo::pipeline::log_store)")],
    "cycle": [
        (E, 5, "dependency cycle: aggregator -> smooth -> aggregator (instances start in "
               "dependency order, so a cycle never starts; remove one of these bindings)")],
    "two_groups": [
        (E, 7, "instance 'store' is already in group 'first' (deployment.py:6); an instance "
               "belongs to one group (remove it from one of them)")],
    "deployed_twice": [
        (E, 7, "group 'sensor' is already deployed on node 'a' (deployment.py:6); a group runs "
               "on one node (remove one of the deploy() calls)")],
    "not_deployed": [
        (E, 5, "instance 'store' is not deployed (deploy its group: deploy(node=..., "
               "groups=[\"storage\"]))")],
    "no_route": [
        (E, 9, "instance 'aggregator' on node 'cloud' depends on 'sensor' (slot 'source') on "
               "node 'edge', but no network route leads from 'cloud' to 'edge' (attach both "
               "nodes to one udp, tcp or serial network, or to networks joined by a third "
               "node)")],
    "export_unknown_network": [
        (E, 6, "export of 'sensor' on unknown network 'wbe' (did you mean 'web'?)")],
    "export_unattached_network": [
        (E, 7, "export of 'sensor' on network 'web', which no node is attached to (attach a "
               "node to it: node(..., networks={\"web\": ADDRESS}))")],
    "address_clash": [
        (E, 5, "node 'c': address 10.0.0.1 on network 'lan' is already taken by node 'a' "
               "(deployment.py:3) (give each node its own address)")],
    "cortex_m_groups": [
        (E, 7, "node 'edge' is a cortex-m node and already hosts group 'sensor'; a cortex-m "
               "node runs one group (put these instances in one group, or deploy this group "
               "on a hosted node)")],
    "serial_three_nodes": [
        (E, 5, "serial network 'field' is point-to-point and already joins nodes 'a' and 'b' "
               "(use another serial network for node 'c')")],
    "bad_config": [
        (E, 2, "service 'moody': '../../interfaces/monitor.lidl' declares no struct "
               "'monitr_config' (did you mean 'monitor_config'? declared structs: "
               "demo::pipeline::monitor_config)"),
        (E, 6, "instance 'sensor': service 'temperature_sensor' takes no configuration (give "
               "the service config_type=\"file.lidl:STRUCT\", or remove config=)"),
        (E, 7, "instance 'm1': config.alarm_above must be a number (f64), not a string "
               "('hot')"),
        (E, 7, "instance 'm1': config.samples = 256 is out of range for u8 (0..255)"),
        (E, 7, "instance 'm1': config.scale = 'kelvin' is not a value of "
               "demo::pipeline::scale (its values: celsius, fahrenheit)"),
        (E, 7, "instance 'm1': config.colour is not a field of demo::pipeline::monitor_config "
               "(its fields: alarm_above, samples, scale, label)"),
        (E, 9, "instance 'm2': config.alarm_above must be a number (f64), not a boolean "
               "(True)"),
        (E, 9, "instance 'm2': config.samples = -1 is out of range for u8 (0..255)"),
        (E, 9, "instance 'm2': config.scale must be the name of a value: celsius, fahrenheit "
               "(demo::pipeline::scale), not an integer (0)"),
        (E, 9, "instance 'm2': config.label must be a string (string), not an integer (7)"),
        (E, 11, "instance 'm3': config.alarm_above is missing (add it: "
                "demo::pipeline::monitor_config requires every field that is not optional)"),
        (E, 11, "instance 'm3': config.samples is missing (add it: "
                "demo::pipeline::monitor_config requires every field that is not optional)"),
        (E, 11, "instance 'm3': config.scale is missing (add it: "
                "demo::pipeline::monitor_config requires every field that is not optional)"),
        (E, 16, "instance 'm5': config.alarm_above = inf is not a finite number (f64)"),
        (E, 16, "instance 'm5': config.samples must be an integer (u8), not a float (1.0)")],
    "syntax_error": [
        (E, 2, "syntax error: '(' was never closed (fix the Python syntax)")],
    "exception": [
        ("errors/exception/helpers.py", 7, "NameError: name 'temperature_sensr' is not defined "
                                           "(did you mean 'temperature_sensor'?)")],
    "bad_arguments": [
        (E, 2, "network 'lan': unknown kind 'udpp' (use one of udp, tcp, serial, http; did you "
               "mean 'udp'?)"),
        (E, 3, "network 'lan': unknown option 'colour' for a tcp network (known: cost, "
               "encrypt, doc, port)"),
        (E, 3, "network 'lan' is already declared at deployment.py:2 as a network (choose "
               "another name)"),
        (E, 4, "node 'a': unknown platform 'cortexm' (use one of hosted, cortex-m; did you "
               "mean 'cortex-m'?)"),
        (E, 5, "instance 'sensor': config must hold only JSON values (strings, numbers, "
               "booleans, None, lists, dicts): Object of type builtin_function_or_method is "
               "not JSON serializable"),
        (E, 6, "instance name '9th' is not a valid name (use letters, digits and '_', not "
               "starting with a digit: names become C++ identifiers)")],
}


class broken_manifest_test(unittest.TestCase):
    def test_every_kind_of_mistake_has_a_manifest(self):
        on_disk = sorted(os.listdir(os.path.join(TESTDATA, "errors")))
        self.assertEqual(on_disk, sorted(list(EXPECTED) + ["bad_interfaces"]))

    def test_each_broken_manifest_reports_exactly_its_mistakes(self):
        tool = lidlc()
        for name, expected in EXPECTED.items():
            with self.subTest(manifest=name):
                result = analyse(os.path.join(TESTDATA, "errors", name), tool)
                self.assertEqual(summary(result),
                                 [(path.format(name), line, message)
                                  for path, line, message in expected])
                self.assertIsNone(result.plan)

    def test_interface_mistakes_quote_lidlc(self):
        result = analyse(os.path.join(TESTDATA, "errors", "bad_interfaces"), lidlc())
        found = summary(result)
        path = "errors/bad_interfaces/deployment.py"
        self.assertEqual([(f, line) for f, line, _ in found],
                         [(path, 1), (path, 2), (path, 3), (path, 5)])
        self.assertEqual(found[0][2], (
            "service 'missing': interface file '../../interfaces/nowhere.lidl' not found (the "
            "path is relative to the directory of the manifest file that names it)"))
        broken = found[1][2].splitlines()
        self.assertEqual(broken[0], "service 'broken': interface file "
                                    "'../../interfaces/broken.lidl' has errors (fix the schema; "
                                    "lidlc's report follows)")
        self.assertTrue(broken[1].endswith("broken.lidl:5:15: error: unknown type "
                                           "'no_such_type'"), broken[1])
        self.assertEqual(found[2][2], (
            "service 'unknown': '../../interfaces/sensor.lidl' declares no service "
            "'temperature_sensr' (did you mean 'temperature_sensor'? declared services: "
            "demo::pipeline::temperature_sensor)"))
        self.assertEqual(found[3][2], (
            "service 'form': interface 'sensor:temperature_sensor' is not of the form "
            "\"file.lidl:namespace::name\" (name the schema file, then the service)"))

    def test_diagnostics_format_like_a_compiler(self):
        result = analyse(os.path.join(TESTDATA, "errors", "unknown_node"), lidlc())
        self.assertEqual(result.diagnostics[0].format(TESTDATA),
                         "errors/unknown_node/deployment.py:5: error: deploy: unknown node "
                         "'egde' (did you mean 'edge'?)")

    def test_valid_pipeline_has_no_diagnostics(self):
        result = analyse(os.path.join(TESTDATA, "pipeline"), lidlc())
        self.assertEqual(summary(result), [])
        self.assertIsNotNone(result.plan)

    def test_without_lidlc_interfaces_are_reported_unchecked(self):
        manifest, found = dsl.load(os.path.join(TESTDATA, "pipeline"))
        checker.check(manifest, found, None)
        self.assertEqual([(os.path.relpath(d.where.file, TESTDATA), d.where.line, d.message)
                          for d in found],
                         [("services.py", 2, "cannot check interfaces: lidlc not found (build it "
                                             "with `cmake --build build/default --target "
                                             "lidlc`, or set AMBIENCE_LIDLC to its path)")])

    def test_many_mistakes_in_one_manifest_are_all_reported(self):
        from manifest.test_support import analyse_source
        result = analyse_source("""\
            include(SERVICES)
            network(name="lan", kind="udp")
            node(name="a", networks={"lan": "10.0.0.1", "wan": "x"})
            instance(name="sensor", service=temperature_sensor)
            instance(name="aggregator", service=averager, dependencies={"source": "sensor"})
            instance(name="loop", service=smoother, dependencies={"input": "loop"})
            deploy(node="b", groups=["sensor"])
            export(service="nobody", networks={"lan": "1"})
            """)
        self.assertEqual([(d.where.line, d.message.split(" (")[0]) for d in result.diagnostics],
                         [(3, "node 'a' is attached to unknown network 'wan'"),
                          (5, "instance 'aggregator': dependency slot 'sink' of service "
                              "'averager' is not bound"),
                          (5, "instance 'aggregator' is not deployed"),
                          (6, "instance 'loop': dependency 'input' needs interface "
                              "demo::pipeline::averager, but 'loop' is an instance of service "
                              "'smoother', which implements demo::pipeline::temperature_sensor"),
                          (6, "dependency cycle: loop -> loop"),
                          (6, "instance 'loop' is not deployed"),
                          (7, "deploy: unknown node 'b'"),
                          (8, "export of unknown instance 'nobody'")])

    def test_config_is_checked_through_every_kind_of_type(self):
        from manifest.test_support import analyse_source
        schema = """\
            namespace demo::config;
            enum mode : i8 { off = -1, on = 1 }
            struct range { low: i16; high: u64; }
            union source { fixed: f32; named: string; }
            struct settings {
                ranges: vector<range>;
                pair: array<u32, 2>;
                source: source;
                mode: optional<mode>;
                tags: vector<string>;
            }
            service thing { poke(); }
            """
        services = """\
            thing = service(name="thing", interface="config.lidl:thing", implementation="t",
                            config_type="config.lidl:settings")
            """
        good = ('{"ranges": [{"low": -32768, "high": 18446744073709551615}], "pair": [0, '
                '4294967295], "source": {"named": "x"}, "tags": []}')
        bad = ('{"ranges": [{"low": -32769, "high": 18446744073709551616}, {"low": 1}, 3], '
               '"pair": [1], "source": {"fixd": 1.5}, "mode": "of", "tags": ["a", None]}')
        result = analyse_source(f"""\
            include("services.py")
            instance(name="good", service=thing, config={good})
            instance(name="bad", service=thing, config={bad})
            instance(name="union", service=thing, config={{"ranges": [], "pair": [1, 2],
                     "source": {{"fixed": 1e39, "named": "x"}}, "tags": [], "mode": "on"}})
            instance(name="deep", service=thing, config={{"ranges": [], "pair": [1, 2],
                     "source": {{"fixed": 3e38}}, "tags": [], "mode": "on"}})
            group(name="all", services=["good", "bad", "union", "deep"])
            node(name="n")
            deploy(node="n", groups=["all"])
            """, extra_files={"config.lidl": schema, "services.py": services})
        self.assertEqual([(d.where.line, d.message) for d in result.diagnostics], [
            (3, "instance 'bad': config.ranges[0].low = -32769 is out of range for i16 "
                "(-32768..32767)"),
            (3, "instance 'bad': config.ranges[0].high = 18446744073709551616 is out of range "
                "for u64 (0..18446744073709551615)"),
            (3, "instance 'bad': config.ranges[1].high is missing (add it: demo::config::range "
                "requires every field that is not optional)"),
            (3, "instance 'bad': config.ranges[2] must be a dict (demo::config::range), not an "
                "integer (3)"),
            (3, "instance 'bad': config.pair must be a list of 2 elements (array<u32, 2>), not "
                "of 1"),
            (3, "instance 'bad': config.source.fixd is not an alternative of "
                "demo::config::source (did you mean 'fixed'? its alternatives: fixed, named)"),
            (3, "instance 'bad': config.mode = 'of' is not a value of demo::config::mode (did "
                "you mean 'off'? its values: off, on)"),
            (3, "instance 'bad': config.tags[1] must be a string (string), not None (None)"),
            (4, "instance 'union': config.source must be a dict with one key, one of fixed, "
                "named (demo::config::source), not a dict ({'fixed': 1e+39, 'named': 'x'})")])
        self.assertEqual(result.plan, None)

    def test_node_service_slots_are_bound_by_the_node(self):
        from manifest.test_support import analyse_source
        result = analyse_source("""\
            include(SERVICES)
            timed = service(name="timed", interface=temperature_sensor.interface,
                            implementation="t", depends={"clock": "node:clock", "log": "node:log"})
            bad = service(name="bad", interface=temperature_sensor.interface, implementation="b",
                          depends={"clock": "node:clok"})
            instance(name="fine", service=timed)
            instance(name="bound", service=timed, dependencies={"clock": "fine"})
            group(name="all", services=["fine", "bound"])
            node(name="n")
            deploy(node="n", groups=["all"])
            """.replace("temperature_sensor.interface", repr(os.path.join(
                TESTDATA, "interfaces", "sensor.lidl:temperature_sensor"))))
        self.assertEqual([(d.where.line, d.message) for d in result.diagnostics], [
            (4, "service 'bad', dependency 'clock': 'node:clok' names no node service (did you "
                "mean 'clock'? node services: log, clock)"),
            (7, "instance 'bound': dependency slot 'clock' of service 'timed' is bound by the "
                "node to its node service (node:clock) (remove it from dependencies=)")])
        self.assertIsNone(result.plan)
        # Without the mistakes, the plan lists the node slots' interfaces and no binding.
        fine = analyse_source("""\
            include(SERVICES)
            timed = service(name="timed", interface=INTERFACE, implementation="t",
                            depends={"clock": "node:clock", "log": "node:log"})
            instance(name="fine", service=timed)
            node(name="n")
            deploy(node="n", groups=["fine"])
            """.replace("INTERFACE", repr(os.path.join(TESTDATA, "interfaces",
                                                      "sensor.lidl:temperature_sensor"))))
        self.assertEqual(fine.diagnostics, [])
        self.assertEqual(fine.plan["services"]["timed"]["depends"],
                         {"clock": "amb_node::clock", "log": "amb_node::log"})
        self.assertEqual(fine.plan["bindings"], [])

    def test_export_and_import_mistakes(self):
        from manifest.test_support import analyse_source
        sensor_lidl = os.path.join(TESTDATA, "interfaces", "sensor.lidl")
        result = analyse_source("""\
            include(SERVICES)
            network(name="lan", kind="udp")
            network(name="web", kind="http")
            network(name="island", kind="udp")
            node(name="a", networks={"lan": "10.0.0.1"})
            node(name="b", networks={"island": "10.0.0.1", "web": "10.0.0.1:80"})
            w1 = import_http(name="w1", interface="%s", url="http://w/", network="lan")
            w2 = import_http(name="w2", interface="%s", url="http://w/", network="wbe")
            w3 = import_http(name="w3", interface="%s", url="http://w/", network="web")
            instance(name="store", service=log_store)
            instance(name="m1", service=averager, dependencies={"source": w1, "sink": "store"})
            instance(name="m2", service=averager, dependencies={"source": w2, "sink": "store"})
            instance(name="m3", service=averager, dependencies={"source": w3, "sink": "store"})
            group(name="all", services=["store", "m1", "m2", "m3"])
            deploy(node="a", groups=["all"])
            export(service="store", networks={"web": "/store"})
            export(service="m1", networks={"web": "/store"})
            export(service="w1", networks={"lan": "1"})
            """ % (sensor_lidl, sensor_lidl, sensor_lidl))
        self.assertEqual([(d.where.line, d.message) for d in result.diagnostics], [
            (7, "import_http 'w1': network 'lan' is a udp network (name an http network, or "
                "leave network= out)"),
            (8, "import_http 'w2': unknown network 'wbe' (did you mean 'web'?)"),
            (13, "instance 'm3' on node 'a' uses HTTP import 'w3' (slot 'source') through "
                 "network 'web', but no node attached to 'web' has a route to and from 'a' "
                 "(attach 'a' to 'web', or join it to a node that is)"),
            (16, "export of 'store' on network 'web': no node attached to it ('b') has a route "
                 "to and from node 'a', which runs 'store' (attach 'a' to 'web', or join it to "
                 "one of those nodes)"),
            (17, "export of 'm1': address /store on network 'web' is already used by the export "
                 "of 'store' (deployment.py:16) (choose another address)"),
            (17, "export of 'm1' on network 'web': no node attached to it ('b') has a route to "
                 "and from node 'a', which runs 'm1' (attach 'a' to 'web', or join it to one of "
                 "those nodes)"),
            (18, "export of unknown instance 'w1' ('w1' is an HTTP import; export an "
                 "instance)")])


if __name__ == "__main__":
    unittest.main()
