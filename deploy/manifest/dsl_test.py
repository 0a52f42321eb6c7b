"""The manifest language: recorded lines, handles, include and import, implicit groups."""

import os
import unittest

import manifest
from manifest import dsl, model
from manifest.test_support import TESTDATA, temporary_deployment


def load(source, extra_files=None):
    with temporary_deployment(source, extra_files) as directory:
        loaded, found = dsl.load(directory)
        return loaded, [(os.path.basename(d.where.file), d.where.line, d.message)
                        for d in found.sorted()]


class dsl_test(unittest.TestCase):
    def test_calls_record_their_file_and_first_line(self):
        loaded, found = load("""\
            include(SERVICES)

            sensor = instance(
                name="sensor",
                service=temperature_sensor)
            network(name="lan", kind="udp")
            """)
        self.assertEqual(found, [])
        self.assertEqual(os.path.basename(loaded.instances["sensor"].where.file),
                         "deployment.py")
        self.assertEqual(loaded.instances["sensor"].where.line, 3)
        self.assertEqual(loaded.networks["lan"].where.line, 6)
        service = loaded.services["temperature_sensor"]
        self.assertEqual(service.where, manifest.diagnostics.location(
            os.path.join(TESTDATA, "services.py"), 2))

    def test_service_options_for_generated_nodes(self):
        loaded, found = load("""\
            a = service(name="a", interface="x.lidl", implementation="a", shareable_heap=True,
                        config_type="x.lidl:a_config")
            b = service(name="b", interface="x.lidl", implementation="b", shareable_heap="yes",
                        config_type=3)
            """)
        self.assertEqual((loaded.services["a"].shareable_heap, loaded.services["a"].config_type),
                         (True, "x.lidl:a_config"))
        self.assertEqual((loaded.services["b"].shareable_heap, loaded.services["b"].config_type),
                         (False, ""))
        self.assertEqual(found, [
            ("deployment.py", 3, "service 'b': config_type must be a string, not 3"),
            ("deployment.py", 3, "service 'b': shareable_heap must be True or False, not 'yes'")])

    def test_handles_and_names_are_interchangeable(self):
        loaded, found = load("""\
            include(SERVICES)
            lan = network(name="lan", kind="udp")
            a = node(name="a", networks={lan: "10.0.0.1"})
            sensor = instance(name="sensor", service="temperature_sensor")
            store = instance(name="store", service=log_store)
            both = group(name="both", instances=[sensor, "store"])
            deploy(node=a, groups=both)
            export(service=sensor, networks={lan: "7701"})
            """)
        self.assertEqual(found, [])
        self.assertEqual(loaded.nodes["a"].networks, {"lan": "10.0.0.1"})
        self.assertEqual(loaded.instances["sensor"].service, "temperature_sensor")
        self.assertEqual(loaded.groups["both"].instances, ["sensor", "store"])
        self.assertEqual([(d.node, d.groups) for d in loaded.deployments], [("a", ["both"])])
        self.assertEqual([(e.instance, e.networks) for e in loaded.exports],
                         [("sensor", {"lan": "7701"})])

    def test_a_handle_of_the_wrong_kind_is_reported(self):
        _, found = load("""\
            include(SERVICES)
            sensor = instance(name="sensor", service=temperature_sensor)
            instance(name="other", service=sensor)
            """)
        self.assertEqual(found, [("deployment.py", 3,
                                  "service= must be the name of a service or the value its "
                                  "declaration returned, not instance 'sensor'")])

    def test_instances_in_no_group_get_their_own(self):
        loaded, found = load("""\
            include(SERVICES)
            instance(name="sensor", service=temperature_sensor)
            instance(name="store", service=log_store)
            group(name="storage", services=["store"])
            """)
        self.assertEqual(found, [])
        self.assertEqual({name: (g.instances, g.implicit) for name, g in loaded.groups.items()},
                         {"storage": (["store"], False), "sensor": (["sensor"], True)})
        self.assertEqual(loaded.groups["sensor"].where.line, 2)

    def test_a_group_names_its_loops_spin_period(self):
        loaded, found = load("""\
            include(SERVICES)
            instance(name="sensor", service=temperature_sensor)
            instance(name="store", service=log_store)
            group(name="storage", services=["store"], spin_us=0)
            group(name="sensing", services=["sensor"], spin_us=-3)
            """)
        self.assertEqual(loaded.groups["storage"].spin_us, 0)
        self.assertIsNone(loaded.groups["sensing"].spin_us)
        self.assertEqual(found, [("deployment.py", 5,
                                  "group 'sensing': spin_us must be a whole number of "
                                  "microseconds from 0 to 1000000, not -3")])

    def test_a_group_named_like_an_ungrouped_instance_is_reported(self):
        _, found = load("""\
            include(SERVICES)
            instance(name="sensor", service=temperature_sensor)
            instance(name="store", service=log_store)
            group(name="sensor", services=["store"])
            """)
        self.assertEqual(found, [("deployment.py", 4,
                                  "group 'sensor' has the name of instance 'sensor', which is "
                                  "in no group and so gets a group of its own with that name "
                                  "(rename the group, or add 'sensor' to a group)")])

    def test_instances_and_http_imports_share_one_namespace(self):
        _, found = load("""\
            include(SERVICES)
            instance(name="outdoor", service=temperature_sensor)
            import_http(name="outdoor", interface="x.lidl", url="ftp://weather")
            """)
        self.assertEqual(found, [
            ("deployment.py", 3, "import_http 'outdoor': url must start with http:// or "
                                 "https://, not 'ftp://weather'"),
            ("deployment.py", 3, "import 'outdoor' is already declared at deployment.py:2 as "
                                 "an instance (choose another name)")])

    def test_import_runs_a_local_file_once_as_a_module(self):
        loaded, found = load("""\
            import nodes
            import nodes as again
            from nodes import lan
            node(name="c", networks={lan: "10.0.0.3"})
            assert again is nodes and nodes.count == 1
            """, {"nodes.py": """\
            count = globals().get("count", 0) + 1
            lan = network(name="lan", kind="udp")
            node(name="a", networks={"lan": "10.0.0.1"})
            """})
        self.assertEqual(found, [])
        self.assertEqual(list(loaded.nodes), ["a", "c"])
        self.assertEqual(os.path.basename(loaded.nodes["a"].where.file), "nodes.py")
        self.assertEqual(loaded.nodes["a"].where.line, 3)
        self.assertEqual([os.path.basename(f) for f in loaded.files],
                         ["deployment.py", "nodes.py"])

    def test_include_copies_public_names_and_returns_the_module(self):
        loaded, found = load("""\
            shared = include("shared.py")
            include("shared.py")
            node(name="a", networks={lan: "10.0.0.1"})
            assert shared.lan is lan and "_private" not in globals()
            """, {"shared.py": """\
            lan = network(name="lan", kind="udp")
            _private = 1
            """})
        self.assertEqual(found, [])
        self.assertEqual(list(loaded.networks), ["lan"])

    def test_include_of_a_missing_file_stops_with_its_line(self):
        loaded, found = load("""\
            network(name="lan", kind="udp")
            include("nowhere.py")
            """)
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0][:2], ("deployment.py", 2))
        self.assertTrue(found[0][2].startswith("include: no file 'nowhere.py'"), found[0][2])
        self.assertFalse(loaded.complete)

    def test_an_exception_is_reported_at_the_manifest_line(self):
        loaded, found = load("""\
            network(name="lan", kind="udp")
            ports = {"a": 1}
            node(name="a", networks={"lan": ports["b"]})
            """)
        self.assertEqual(found, [("deployment.py", 3,
                                  "KeyError: 'b' (the manifest raised this exception; fix the "
                                  "Python code)")])
        self.assertFalse(loaded.complete)

    def test_a_wrong_keyword_is_reported_at_the_call(self):
        _, found = load("""\
            network(name="lan", knd="udp")
            """)
        self.assertEqual(found[0][:2], ("deployment.py", 1))
        self.assertIn("TypeError: network() missing 1 required positional argument: 'kind'",
                      found[0][2])

    def test_a_directory_without_deployment_py_is_reported(self):
        with temporary_deployment("") as directory:
            os.remove(os.path.join(directory, "deployment.py"))
            loaded, found = dsl.load(directory)
        self.assertEqual(len(found), 1)
        self.assertTrue(found[0].message.startswith("no manifest: "), found[0].message)

    def test_functions_refuse_to_run_outside_a_load(self):
        with self.assertRaisesRegex(RuntimeError, "only work while a deployment is loaded"):
            manifest.node(name="a")

    def test_a_load_leaves_no_module_behind(self):
        import sys
        load("import nodes\n", {"nodes.py": "x = 1\n"})
        self.assertNotIn("nodes", sys.modules)

    def test_network_options_are_checked_per_kind(self):
        loaded, found = load("""\
            network(name="line", kind="serial", baud=0, cost=-1, encrypt="yes")
            network(name="lan", kind="udp", port=70000)
            network(name="slow", kind="tcp", cost=2.5, prt=1)
            """)
        self.assertEqual(found, [
            ("deployment.py", 1, "network 'line': cost must be a positive number, not -1"),
            ("deployment.py", 1, "network 'line': encrypt must be True or False"),
            ("deployment.py", 1, "network 'line': option baud must be a positive integer, "
                                 "not 0"),
            ("deployment.py", 2, "network 'lan': option port must be a positive integer up to "
                                 "65535, not 70000"),
            ("deployment.py", 3, "network 'slow': unknown option 'prt' for a tcp network "
                                 "(known: cost, encrypt, doc, port; did you mean 'port'?)")])
        self.assertEqual(loaded.networks["slow"].cost, 2.5)
        self.assertIsInstance(loaded.networks["lan"], model.network)


if __name__ == "__main__":
    unittest.main()
