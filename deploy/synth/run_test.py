"""One run per deployment (ctest -R deploy.run): `ambience run DIR` of a deployment that is
already running is refused at once, names the running pids, exits non-zero and leaves the
running one's state alone (`ambience status` still shows it); a stale state (its processes
gone, or its pids reused by other processes) does not block a new run.

The first run is started here as the e2e tests start theirs (synth.e2e_test.start: kernel-chosen
loopback ports); the second is the real command line, `./ambience run DIR --no-netns`.
"""

import json
import os
import socket
import subprocess
import sys
import unittest

from synth import run as deployment_run
from synth.e2e_test import BINARY_DIR, ROOT, start

DEPLOYMENT = os.path.join(ROOT, "deploy", "synth", "tests", "placement_one_group")
NAME = os.path.basename(DEPLOYMENT)
AMBIENCE = os.path.join(ROOT, "ambience")
# Bound on a command that should answer at once (no node is started, nothing is built).
COMMAND_TIMEOUT_SECONDS = 60


def ambience(*args):
    return subprocess.run([AMBIENCE, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT_SECONDS, cwd=ROOT)


def free_port():
    """A TCP port the kernel picks (for a second run that must not start, should it start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_files(directory):
    """{name: bytes} of the files of a run's state directory (its settings and state)."""
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and name.endswith((".conf", ".json")):
            with open(path, "rb") as file:
                files[name] = file.read()
    return files


def dead_pid():
    """A pid that belonged to a process which has exited (and was reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@unittest.skipUnless(os.path.exists(os.path.join(BINARY_DIR, "deploy", NAME, "bin", "box")),
                     f"{NAME} is not built (cmake --build --preset default --target "
                     f"deploy_{NAME})")
class one_run_per_deployment(unittest.TestCase):
    def start_first(self):
        session = start(DEPLOYMENT)
        self.addCleanup(session.stop_all)
        session.start_all()
        return session

    def test_a_second_run_is_refused_and_the_first_keeps_running(self):
        first = self.start_first()
        (pid,) = [entry.process.pid for entry in first.nodes.values()]
        before = read_files(first.state_dir)
        self.assertIn("state.json", before)
        self.assertIn("box.conf", before)

        # Refused at once: bounded by the command's timeout (it raises past it), and no node
        # started; no clock is read here.
        second = ambience("run", DEPLOYMENT, "--no-netns", "--seconds", "5",
                          "--base-port", str(free_port()))
        self.assertNotEqual(second.returncode, 0, second.stdout + second.stderr)
        self.assertIn(f"deployment {NAME} is already running (ambience run pid {os.getpid()}, "
                      f"node box pid {pid})", second.stderr)
        self.assertNotIn("starting box", second.stdout + second.stderr)  # no node started
        # Its state and settings untouched, its node still the same process.
        self.assertEqual(read_files(first.state_dir), before)
        self.assertEqual(first.running(), ["box"])

        status = ambience("status", DEPLOYMENT)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn(f"deployment {NAME} (ambience run pid {os.getpid()})", status.stdout)
        self.assertIn(f"node box: pid {pid} running", status.stdout)

        # A second run from a library caller in this same process is refused the same way.
        other = deployment_run.deployment_run(ROOT, DEPLOYMENT, BINARY_DIR, out=None)
        with self.assertRaises(deployment_run.already_running):
            other.start_all()
        other.stop_all()  # owns nothing: must not remove the first run's state
        self.assertEqual(read_files(first.state_dir), before)

        first.stop_all()
        self.assertEqual(first.running(), [])
        self.assertIn(f"no deployment is running ({NAME})", ambience("status", DEPLOYMENT).stdout)

    def test_nodes_left_by_a_killed_supervisor_still_block_a_run(self):
        # A supervisor killed with SIGKILL releases the lock but leaves its nodes running: the
        # state's node pids, still alive, refuse the new run.
        first = self.start_first()
        (pid,) = [entry.process.pid for entry in first.nodes.values()]
        first.release()  # as if this process had died: the lock is free, the node runs on
        with self.assertRaises(deployment_run.already_running) as refused:
            deployment_run.deployment_run(ROOT, DEPLOYMENT, BINARY_DIR, out=None).claim()
        self.assertIn(f"node box pid {pid}", str(refused.exception))
        first.stop_all()  # stops the node; owning nothing now, it leaves the state file
        self.assertEqual(first.running(), [])
        self.assertEqual(deployment_run.live_processes(ROOT, NAME), [("ambience run", os.getpid())])
        os.remove(os.path.join(first.state_dir, "state.json"))

    def test_a_stale_state_does_not_block_a_new_run(self):
        state_dir = deployment_run.state_directory(ROOT, NAME)
        os.makedirs(state_dir, exist_ok=True)
        stale = {"deployment": NAME, "supervisor": dead_pid(), "supervisor_start": 1,
                 # A live pid (this process) with another start time: a reused pid.
                 "nodes": {"box": {"pid": os.getpid(), "start": 1, "executable": "box"}}}
        with open(os.path.join(state_dir, "state.json"), "w", encoding="utf-8") as file:
            json.dump(stale, file)
        self.assertEqual(deployment_run.live_processes(ROOT, NAME), [])

        session = self.start_first()
        with open(os.path.join(state_dir, "state.json"), encoding="utf-8") as file:
            state = json.load(file)
        self.assertEqual(state["supervisor"], os.getpid())
        self.assertEqual(state["nodes"]["box"]["pid"], session.nodes["box"].process.pid)
        self.assertEqual(deployment_run.live_processes(ROOT, NAME),
                         [("ambience run", os.getpid()),
                          ("node box", session.nodes["box"].process.pid)])
        session.stop_all()
        self.assertFalse(os.path.exists(os.path.join(state_dir, "state.json")))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
