"""Attacks by a compromised group on the kernel of a generated node (issue 12, holes 1 and 2),
performed for real: the `security_node` deployment (security_node/) is built by the main build
as every deployment is, and these tests run its node.

  channel  the group re-initialises its channel to the kernel (an HTTP import the kernel serves
           to it) with a 16 times larger payload, bumps the epoch where it can write it and sends
           a call that long: the kernel refuses it with a status, keeps serving, stays up.
  secrets  the group scans its memory for the HTTP export key the kernel read, crashes itself,
           is restarted and scans again: never found; the same scan of the kernel finds it.

Run by ctest as security.hosted.generated_node.* (PYTHONPATH: deploy/).
"""

import os
import re
import time
import unittest

from synth import e2e_test

DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "security_node")
NAME = "security_node"


def occurrences_in_memory(pid, needle):
    """How often `needle` occurs in the readable memory of process `pid` (a child of ours)."""
    found = 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as memory:
        for line in maps:
            addresses, permissions = line.split()[:2]
            start, end = (int(part, 16) for part in addresses.split("-"))
            if permissions[0] != "r" or end - start > 1 << 32:
                continue
            try:
                memory.seek(start)
                data = memory.read(end - start)
            except OSError:
                continue
            found += data.count(needle)
    return found


class generated_node(unittest.TestCase):
    def setUp(self):
        self.session = e2e_test.start(DIRECTORY)
        self.addCleanup(self.session.stop_all)
        self.session.start_all()
        self.url = self.session.http_url("intruder")
        self.token = e2e_test.token(NAME, "intruder")
        self.kernel = self.session.nodes["box"].process

    def post(self, procedure, body="{}"):
        return e2e_test.post(f"{self.url}/{procedure}", body, self.token)

    def test_channel_a_group_cannot_change_the_geometry_of_its_channel_to_the_kernel(self):
        expected = "oversized call refused (status 1); the normal call after it was served"
        self.assertEqual(self.post("attack"), (200, {"result": expected}))
        # The kernel is up and answers the same way again: its memory was not corrupted.
        self.assertEqual(self.post("attack"), (200, {"result": expected}))
        self.assertIsNone(self.kernel.poll())
        self.assertFalse([line for line in self.session.lines() if "exited" in line])

    def test_secrets_a_restarted_group_holds_none_of_the_node_keys(self):
        with open(os.path.join(self.session.keys, "http.key"), "rb") as file:
            key = file.read()
        self.assertEqual(len(key), 32)
        # The group gets the key masked, so that the request itself does not plant it there.
        mask = bytes((byte | 1) for byte in os.urandom(len(key)))
        masked = bytes(a ^ b for a, b in zip(key, mask))
        scan = '{"masked": "%s", "mask": "%s"}' % (masked.hex(), mask.hex())
        self.assertEqual(self.post("scan", scan), (200, {"result": 0}))

        status, _ = self.post("crash")
        self.assertNotEqual(status, 200)
        deadline = time.monotonic() + 10
        while not any(re.search(r"group 'compromised' exited \(status 3\); restarting it", line)
                      for line in self.session.lines()):
            self.assertLess(time.monotonic(), deadline, "the group was not restarted")
            time.sleep(0.05)
        while True:
            status, answer = self.post("scan", scan)
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual((status, answer), (200, {"result": 0}))
        # Positive control: the kernel holds the key, and the same kind of scan finds it.
        self.assertGreaterEqual(occurrences_in_memory(self.kernel.pid, key), 1)


if __name__ == "__main__":
    unittest.main()
