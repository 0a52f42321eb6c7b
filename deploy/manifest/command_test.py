"""`./ambience plan`: the real command in a child process (text, JSON, Graphviz, errors)."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from manifest import render
from manifest.test_support import TESTDATA, lidlc

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ambience(*args):
    env = dict(os.environ, AMBIENCE_LIDLC=lidlc())
    return subprocess.run([os.path.join(REPOSITORY, "ambience"), "plan", *args],
                          capture_output=True, text=True, env=env, cwd=TESTDATA)


class plan_command_test(unittest.TestCase):
    def test_text_lists_placement_bindings_and_exports(self):
        result = ambience("pipeline")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        self.assertIn("  node cloud (hosted; lan 10.77.0.3, web 0.0.0.0:8080)\n"
                      "    group pipeline: aggregator (averager), store (log_store)\n",
                      result.stdout)
        self.assertIn("  aggregator.source -> sensor [network] cloud -lan-> gateway -link-> edge "
                      "(cost 11)\n", result.stdout)
        self.assertIn("  aggregator.sink -> store [direct]\n", result.stdout)
        self.assertIn("  watch.indoor -> aggregator [rings]\n", result.stdout)
        self.assertIn("  sensor on lan (udp) 7701: served by gateway at 10.77.0.2, forwarded "
                      "gateway -link-> edge (cost 10)\n", result.stdout)

    def test_json_is_the_whole_of_standard_output(self):
        result = ambience("pipeline", "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        plan = json.loads(result.stdout)
        self.assertEqual(plan["format"], "ambience-plan")
        self.assertEqual(plan["directory"], os.path.join(TESTDATA, "pipeline"))

    def test_errors_go_to_standard_error_with_file_and_line(self):
        result = ambience("errors/no_route")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        lines = result.stderr.splitlines()
        self.assertTrue(lines[0].startswith(
            "errors/no_route/deployment.py:9: error: instance 'aggregator' on node 'cloud' "
            "depends on 'sensor'"), lines[0])
        self.assertEqual(lines[-1], "ambience plan: 1 error in errors/no_route; no plan")

    def test_dot_prints_the_graph_and_renders_it(self):
        with tempfile.TemporaryDirectory() as directory:
            png = os.path.join(directory, "plan.png")
            result = ambience("pipeline", "--dot", "--png", png)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertTrue(result.stdout.startswith("digraph plan {"))
            self.assertIn('"instance:aggregator" -> "instance:sensor" [label="source\\ncloud '
                          '-lan-> gateway -link-> edge (cost 11)", color="red"', result.stdout)
            if shutil.which("dot"):
                with open(png, "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
                self.assertEqual(result.stderr, f"ambience plan: wrote {png}\n")
            else:
                self.assertIn("Graphviz is not installed", result.stderr)

    def test_dot_strings_escape_quotes_backslashes_line_breaks_and_keep_utf8(self):
        quoted = render._quote('a "b" \\ c\nd caf\u00e9 \x01')
        self.assertEqual(quoted, '"a \\"b\\" \\\\ c\\nd caf\u00e9 \\u0001"')
        self.assertEqual(json.loads(quoted), 'a "b" \\ c\nd caf\u00e9 \x01')

    def test_a_missing_directory_is_refused(self):
        result = ambience("no/such/deployment")
        self.assertEqual(result.returncode, 2)
        self.assertIn("is not a directory", result.stderr)


if __name__ == "__main__":
    unittest.main()
