"""The request log and `ambience logs` (ctest -R deploy.logs).

  run       (end to end) the pipeline example on three nodes: after REST calls, the request
            logs the nodes wrote hold one line per served request (field's sensor, cloud's
            store and averager, with their callers), and `./ambience logs DIR` shows them merged
            in time order and filtered by node, service and status
  reading   merging and filtering lines in the node's format (one field order per line as the
            kernel writes them), a line cut short by a killed node, a group's text line
"""

import json
import os
import subprocess
import tempfile
import time
import unittest

from synth import logs
from synth.e2e_test import PIPELINE, ROOT, post, start, token

AMBIENCE = os.path.join(ROOT, "ambience")
COMMAND_TIMEOUT_SECONDS = 60
# Bound on the wait for the log lines of calls already answered (the group posts them after
# the reply; the kernel writes them on its next pass).
LOG_DEADLINE_SECONDS = 10


def ambience_logs(*args):
    result = subprocess.run([AMBIENCE, "logs", *args], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT_SECONDS, cwd=ROOT)
    return result.returncode, result.stdout.splitlines(), result.stderr


def summary(entry):
    return (entry["node"], entry["group"], entry["instance"], entry["procedure"],
            entry["status"], entry["caller"])


class run(unittest.TestCase):
    def test_requests_of_every_node_are_logged_merged_and_filtered(self):
        session = start(PIPELINE)
        try:
            session.start_all()
            average = session.http_url("aggregator") + "/average"
            self.assertEqual(post(average, '{"count": 2}',
                                  token("pipeline", "aggregator", ["average"])),
                             (200, {"result": 20.75}))
            self.assertEqual(post(session.http_url("store") + "/count", "{}",
                                  token("pipeline", "store")), (200, {"result": 2}))
            deadline = time.monotonic() + LOG_DEADLINE_SECONDS
            while len(logs.read(session.state_dir)[0]) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            session.stop_all()
        self.assertEqual(session.running(), [])

        entries, unreadable = logs.read(session.state_dir)
        self.assertEqual(unreadable, 0)
        self.assertEqual(sorted(summary(e) for e in entries), sorted([
            ("field", "sensor", "sensor", "read", 0, "kernel"),
            ("field", "sensor", "sensor", "read", 0, "kernel"),
            ("cloud", "journal", "store", "append", 0, "analytics"),
            ("cloud", "journal", "store", "append", 0, "analytics"),
            ("cloud", "analytics", "aggregator", "average", 0, "kernel"),
            ("cloud", "journal", "store", "count", 0, "kernel")]))
        for entry in entries:
            self.assertEqual(set(entry), {"time_ns", "node", "group", "service", "instance",
                                          "procedure", "status", "duration_ns", "caller"})
        interfaces = {"sensor": "demo::pipeline::temperature_sensor",
                      "store": "demo::pipeline::log_store",
                      "aggregator": "demo::pipeline::averager"}
        for entry in entries:
            self.assertEqual(entry["service"], interfaces[entry["instance"]])
        on_disk = sorted(name for name in os.listdir(session.state_dir)
                         if name.endswith(logs.SUFFIX))
        self.assertEqual(on_disk, ["cloud.requests.jsonl", "field.requests.jsonl"])

        # The command, on the deployment directory: every line, in time order across nodes.
        status, lines, errors = ambience_logs(PIPELINE, "--json")
        self.assertEqual((status, errors), (0, ""))
        shown = [json.loads(line) for line in lines]
        self.assertEqual(sorted(map(summary, shown)), sorted(map(summary, entries)))
        times = [e["time_ns"] for e in shown]
        self.assertEqual(times, sorted(times))
        self.assertEqual({e["node"] for e in shown}, {"field", "cloud"})

        # Filters: by node, by instance or interface, by status; the run directory works too.
        status, lines, _ = ambience_logs(session.state_dir, "--node", "field", "--json")
        self.assertEqual([summary(json.loads(l))[2:4] for l in lines],
                         [("sensor", "read"), ("sensor", "read")])
        status, lines, _ = ambience_logs(PIPELINE, "--service", "store", "--node", "cloud")
        self.assertEqual(len(lines), 3)
        self.assertTrue(all(" store (demo::pipeline::log_store)." in l for l in lines), lines)
        status, lines, _ = ambience_logs(PIPELINE, "--service", "averager")
        self.assertEqual(len(lines), 1)
        self.assertIn("aggregator (demo::pipeline::averager).average ok", lines[0])
        self.assertTrue(lines[0].endswith(" ms from kernel"), lines[0])
        self.assertEqual(len(ambience_logs(PIPELINE, "--status", "ok")[1]), 6)
        self.assertEqual(ambience_logs(PIPELINE, "--status", "error")[1], [])
        status, lines, errors = ambience_logs(PIPELINE, "--status", "bad")
        self.assertEqual(status, 2)
        self.assertIn("--status must be ok, error or a number", errors)


class reading(unittest.TestCase):
    # Lines as the node's kernel writes them (services/node/node_services.cpp), from a run.
    CLOUD = [
        '{"group":"journal","service":"demo::pipeline::log_store","procedure":"append",'
        '"status":0,"duration_ns":1800,"instance":"store","caller":"analytics","node":"cloud",'
        '"time_ns":1765148400000002000}',
        '{"group":"analytics","service":"demo::pipeline::averager","procedure":"average",'
        '"status":2,"duration_ns":90000,"instance":"aggregator","caller":"kernel",'
        '"node":"cloud","time_ns":1765148400000009000}',
        '{"group":"analytics","level":"info","text":"a group\'s own line"}',
        '{"group":"journal","service":"demo::pipe',
    ]
    FIELD = [
        '{"group":"sensor","service":"demo::pipeline::temperature_sensor","procedure":"read",'
        '"status":0,"duration_ns":700,"instance":"sensor","caller":"kernel","node":"field",'
        '"time_ns":1765148400000001000}',
        '{"group":"sensor","service":"demo::pipeline::temperature_sensor","procedure":"read",'
        '"status":0,"duration_ns":650,"instance":"sensor","caller":"kernel","node":"field",'
        '"time_ns":1765148400000005000}',
    ]

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory(prefix="ambience-logs-")
        for node, lines in (("cloud", self.CLOUD), ("field", self.FIELD)):
            with open(logs.request_log(self.directory.name, node), "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")

    def tearDown(self):
        self.directory.cleanup()

    def test_lines_of_all_nodes_merge_in_time_order(self):
        entries, unreadable = logs.read(self.directory.name)
        self.assertEqual(unreadable, 1)
        self.assertEqual([(e["node"], e["procedure"]) for e in entries],
                         [("field", "read"), ("cloud", "append"), ("field", "read"),
                          ("cloud", "average")])

    def test_filters(self):
        entries, _ = logs.read(self.directory.name)
        self.assertEqual([e["procedure"] for e in logs.select(entries, status="error")],
                         ["average"])
        self.assertEqual([e["procedure"] for e in logs.select(entries, status="2")],
                         ["average"])
        self.assertEqual(len(logs.select(entries, status="ok")), 3)
        self.assertEqual(len(logs.select(entries, nodes=["field"])), 2)
        self.assertEqual(len(logs.select(entries, nodes=["field", "cloud"])), 4)
        self.assertEqual(len(logs.select(entries, services=["temperature_sensor"])), 2)
        self.assertEqual(len(logs.select(entries, services=["demo::pipeline::log_store"])), 1)
        self.assertEqual(len(logs.select(entries, services=["aggregator"], nodes=["field"])), 0)

    def test_format(self):
        entries, _ = logs.read(self.directory.name)
        self.assertEqual(logs.format(entries[3]),
                         "2025-12-07 23:00:00.000009 cloud/analytics aggregator "
                         "(demo::pipeline::averager).average status 2 0.090 ms from kernel")

    def test_a_new_run_starts_with_no_request_log(self):
        logs.clear(self.directory.name)
        self.assertEqual(logs.read(self.directory.name), ([], 0))


if __name__ == "__main__":
    unittest.main()
