#!/usr/bin/env python3
"""End-to-end tests of the `caplets` command: every subcommand, and the attacks of the library
suite driven through the command line (exit status and the reason printed)."""

import os
import shutil
import subprocess
import sys
import unittest

CAPLETS = sys.argv[1] if len(sys.argv) > 1 else "caplets"
WORK = sys.argv[2] if len(sys.argv) > 2 else "/tmp/caplets_cli_test"


def read(path):
    with open(path) as f:
        return f.read().strip()


def run(*args, stdin=None):
    result = subprocess.run([CAPLETS, *args], capture_output=True, text=True, input=stdin)
    return result.returncode, result.stdout.strip(), result.stderr.strip()


class cli_test(unittest.TestCase):
    def setUp(self):
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(WORK)
        status, key, _ = run("keygen")
        self.assertEqual(status, 0)
        self.assertRegex(key, r"^[0-9a-f]{64}$")
        self.key = self.write("key", key)

    def write(self, name, content):
        path = os.path.join(WORK, name)
        with open(path, "w") as f:
            f.write(content + "\n")
        return path

    def ok(self, *args):
        status, out, err = run(*args)
        self.assertEqual(status, 0, f"{args}: {err}")
        return out

    def token(self, name, *args):
        return self.write(name, self.ok(*args))

    def rejected(self, *args, expect=""):
        status, out, err = run(*args)
        self.assertEqual(status, 1, f"{args}: expected rejection, got {status}: {out} {err}")
        self.assertIn(expect, err)
        return err

    def alice(self, *constraints):
        root = self.token("root", "mint", "--key", self.key)
        extra = []
        for c in constraints:
            extra += ["--constraint", c]
        return self.token("alice", "derive", "--token", root, "--cap", "path:/home/alice:rw", *extra)

    def test_mint_derive_request_verify(self):
        alice = self.alice()
        request = self.token("request", "request", "--token", alice, "--op", "read:/home/alice/notes")
        out = self.ok("verify", "--key", self.key, "--token", request)
        self.assertIn("request read:/home/alice/notes", out)
        self.assertTrue(read(request).startswith("cap1_"))

    def test_inspect_text_and_json(self):
        alice = self.alice("expires:2030-01-01T00:00:00Z", "endpoint:10.0.0.0/8")
        out = self.ok("inspect", "--token", alice)
        self.assertIn("capability  root", out)
        self.assertIn("capability  path:/home/alice:rw", out)
        self.assertIn("constraint  expires:2030-01-01T00:00:00Z", out)
        self.assertIn("constraint  endpoint:10.0.0.0/8", out)
        import json
        doc = json.loads(self.ok("inspect", "--token", alice, "--json"))
        self.assertEqual(len(doc["frames"]), 2)
        self.assertEqual(doc["frames"][1]["capabilities"], ["path:/home/alice:rw"])

    def test_tampered_token_text_is_rejected(self):
        alice = read(self.alice())
        for position in range(len("cap1_"), len(alice), 7):
            replacement = "A" if alice[position] != "A" else "B"
            tampered = self.write("tampered", alice[:position] + replacement + alice[position + 1:])
            status, _, err = run("verify", "--key", self.key, "--token", tampered)
            self.assertEqual(status, 1, f"accepted a change at {position}")

    def test_wrong_key(self):
        alice = self.alice()
        other = self.write("other", run("keygen")[1])
        self.rejected("verify", "--key", other, "--token", alice, expect="tag does not match")

    def test_widening_is_refused_unless_forced_and_then_rejected(self):
        alice = self.alice()
        err = self.rejected("derive", "--token", alice, "--cap", "path:/home:r", expect="refusing")
        self.assertIn("frame 2", err)
        forced = self.token("forced", "derive", "--token", alice, "--cap", "path:/home/alicia:r",
                            "--force")
        self.rejected("verify", "--key", self.key, "--token", forced,
                      expect="frame 2: a capability is not within")
        self.rejected("derive", "--token", alice, "--cap", "path:/home/alice/../bob:r",
                      expect="not absolute and normalised")

    def test_dropped_constraints(self):
        alice = self.alice("expires:4000000000")
        dropped = self.token("dropped", "derive", "--token", alice, "--cap", "path:/home/alice:r",
                             "--force", "--drop-inherited")
        self.rejected("verify", "--key", self.key, "--token", dropped,
                      expect="constraint of the previous frame was dropped")
        status, _, _ = run("derive", "--token", alice, "--cap", "path:/home/alice:r",
                           "--drop-inherited")
        self.assertEqual(status, 2)

    def test_nothing_derives_from_a_request(self):
        alice = self.alice()
        request = self.token("request", "request", "--token", alice, "--op", "read:/home/alice/x")
        self.rejected("request", "--token", request, "--op", "read:/home/alice/x",
                      expect="derived from a request")

    def test_time_and_endpoint(self):
        alice = self.alice("not-before:1000", "expires:2000", "endpoint:192.168.1.0/24")
        self.ok("verify", "--key", self.key, "--token", alice, "--now", "1500",
                "--endpoint", "192.168.1.7")
        self.rejected("verify", "--key", self.key, "--token", alice, "--now", "2000",
                      "--endpoint", "192.168.1.7", expect="expired")
        self.rejected("verify", "--key", self.key, "--token", alice, "--now", "999",
                      "--endpoint", "192.168.1.7", expect="not valid yet")
        self.rejected("verify", "--key", self.key, "--token", alice, "--now", "1500",
                      "--endpoint", "192.168.2.7", expect="endpoint")

    def test_revocation_covers_derivations(self):
        alice = self.alice()
        photos = self.token("photos", "derive", "--token", alice, "--cap", "path:/home/alice/photos:r")
        revoked = os.path.join(WORK, "revoked")
        self.ok("revoke", "--token", alice, "--list", revoked)
        self.rejected("verify", "--key", self.key, "--token", photos, "--revoked", revoked,
                      expect="frame 1: the token or an ancestor has been revoked")
        root = os.path.join(WORK, "root")
        self.ok("verify", "--key", self.key, "--token", root, "--revoked", revoked)

    def test_sequence_replay_survives_restarts(self):
        alice = self.alice()
        state = os.path.join(WORK, "seq")
        first = self.token("r1", "request", "--token", alice, "--op", "read:/home/alice/x",
                           "--constraint", "seq:100")
        self.ok("verify", "--key", self.key, "--token", first, "--seq-state", state)
        err = self.rejected("verify", "--key", self.key, "--token", first, "--seq-state", state,
                            expect="replay")
        self.assertIn("last accepted sequence number is 100", err)
        second = self.token("r2", "request", "--token", alice, "--op", "read:/home/alice/x",
                            "--constraint", "seq:101")
        self.ok("verify", "--key", self.key, "--token", second, "--seq-state", state)
        self.assertFalse([f for f in os.listdir(WORK) if ".tmp." in f])
        # One line per (root, holder): ROOT HOLDER NUMBER EXPIRY.
        with open(state) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1)
        self.assertEqual(lines[0].split(" ")[2:], ["101", "0"])
        # A file of the format before roots ("HOLDER NUMBER") is a floor for every holder.
        old = os.path.join(WORK, "seq-old")
        with open(old, "w") as f:
            f.write("ab" * 32 + " 500\n")
        err = self.rejected("verify", "--key", self.key, "--token", second, "--seq-state", old,
                            expect="replay")
        self.assertIn("last accepted sequence number is 500", err)

    def test_identity_with_auxiliary_token(self):
        root = self.token("root", "mint", "--key", self.key)
        shared = self.token("shared", "derive", "--token", root, "--cap", "path:/shared:r",
                            "--constraint", "identity:bob")
        request = self.token("request", "request", "--token", shared, "--op", "read:/shared/a")
        self.rejected("verify", "--key", self.key, "--token", request, expect="identity")
        request_tag = __import__("json").loads(self.ok("inspect", "--token", request, "--json"))["tag"]
        bob_root = self.token("bob_root", "mint", "--key", self.key, "--cap", "identity:bob")
        bob = self.token("bob", "derive", "--token", bob_root, "--cap", "identity:bob",
                         "--constraint", "signature:" + request_tag)
        self.ok("verify", "--key", self.key, "--token", request, "--aux", bob)
        carol_root = self.token("carol_root", "mint", "--key", self.key, "--cap", "identity:carol")
        carol = self.token("carol", "derive", "--token", carol_root, "--cap", "identity:carol",
                           "--constraint", "signature:" + request_tag)
        self.rejected("verify", "--key", self.key, "--token", request, "--aux", carol,
                      expect="identity")

    def test_services(self):
        root = self.token("root", "mint", "--key", self.key)
        camera = self.token("camera", "derive", "--token", root, "--cap", "service:camera:capture,describe")
        call = self.token("call", "request", "--token", camera, "--op", "call:camera.capture:0102")
        self.assertIn("call:camera.capture:0102", self.ok("verify", "--key", self.key, "--token", call))
        self.rejected("request", "--token", camera, "--op", "call:camera.reset", expect="refusing")

    def test_capvm_policies(self):
        alice = self.alice("policy:battery() >= 20 && now() < 4000000000")
        self.assertIn("constraint  capvm:", self.ok("inspect", "--token", alice))
        self.ok("verify", "--key", self.key, "--token", alice, "--battery", "55", "--now", "1000")
        self.rejected("verify", "--key", self.key, "--token", alice, "--battery", "10",
                      "--now", "1000", expect="CapVM constraint rejected")
        # No battery level known: the VM call fails, so the policy rejects with a fault.
        err = self.rejected("verify", "--key", self.key, "--token", alice, "--now", "1000",
                            expect="CapVM")
        self.assertIn("fault", err)
        subnet = self.alice("policy:endpoint() in 10.0.0.0/8")
        self.ok("verify", "--key", self.key, "--token", subnet, "--endpoint", "10.1.2.3")
        self.rejected("verify", "--key", self.key, "--token", subnet, "--endpoint", "11.1.2.3",
                      expect="CapVM")
        self.rejected("mint", "--key", self.key, "--constraint", "policy:battery( >= 20",
                      expect="policy:1:")
        # Derived tokens keep the policy, so a holder cannot shed it.
        request = self.token("request", "request", "--token", subnet, "--op", "read:/home/alice/x")
        self.rejected("verify", "--key", self.key, "--token", request, "--endpoint", "11.1.2.3",
                      expect="CapVM")

    def test_bad_input(self):
        self.assertEqual(run()[0], 2)
        self.assertEqual(run("frobnicate")[0], 2)
        self.assertEqual(run("mint")[0], 2)
        self.assertEqual(run("verify", "--key", self.key)[0], 2)
        garbage = self.write("garbage", "cap1_AAAA")
        self.rejected("inspect", "--token", garbage, expect="malformed")
        self.rejected("inspect", "--token", self.write("text", "hello"), expect="prefix")
        self.rejected("mint", "--key", self.write("shortkey", "abcd"), expect="64 hex")
        self.rejected("mint", "--key", self.key, "--cap", "path:relative:r", expect="normalised")
        self.rejected("mint", "--key", self.key, "--cap", "path:/x:rz", expect="rwxcd")
        self.rejected("mint", "--key", self.key, "--constraint", "expires:tomorrow", expect="time")
        self.rejected("mint", "--key", self.key, "--constraint", "endpoint:300.1.1.1",
                      expect="address")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
