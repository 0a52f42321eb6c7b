#!/usr/bin/env python3
"""amb-remote-keys: files are 0600, never overwritten, nothing secret is printed, and group- or
world-readable inputs are refused. Usage: keys_tool_test.py TOOL WORKDIR"""
import os
import shutil
import stat
import subprocess
import sys

tool, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def run(*args, expect=0):
    done = subprocess.run([tool, *args], capture_output=True)
    assert done.returncode == expect, (args, done.returncode, done.stderr)
    return done.stdout + done.stderr


def path(name):
    return os.path.join(work, name)


output = run("root", "--out", path("deployment.key"))
output += run("node-key", "--root", path("deployment.key"), "--node", "b", "--out", path("b.node.key"))
output += run("credential", "--root", path("deployment.key"), "--caller", "a", "--callee", "b",
              "--import", "calculator:add,greet", "--import", "other", "--expires", "4102444800",
              "--out", path("a.to.b.cred"))
for name in ("deployment.key", "b.node.key", "a.to.b.cred"):
    mode = stat.S_IMODE(os.stat(path(name)).st_mode)
    assert mode == 0o600, (name, oct(mode))
    secret = open(path(name), "rb").read()
    assert len(secret) >= 32
    # No window of the secret appears in anything the tool printed, raw or in hex.
    for start in range(0, len(secret) - 8):
        window = secret[start:start + 8]
        assert window not in output and window.hex().encode() not in output, name
assert os.path.getsize(path("deployment.key")) == 32
assert os.path.getsize(path("b.node.key")) == 32

# Never overwrite; refuse insecure inputs; usage errors.
run("root", "--out", path("deployment.key"), expect=1)
os.chmod(path("deployment.key"), 0o644)
run("node-key", "--root", path("deployment.key"), "--node", "c", "--out", path("c.node.key"), expect=1)
os.chmod(path("deployment.key"), 0o600)
run("node-key", "--root", path("deployment.key"), "--node", "bad name", "--out", path("x"), expect=1)
run("frobnicate", "--out", path("y"), expect=2)
# Two node keys of one root differ; the same node's key is reproducible.
run("node-key", "--root", path("deployment.key"), "--node", "c", "--out", path("c.node.key"))
run("node-key", "--root", path("deployment.key"), "--node", "b", "--out", path("b2.node.key"))
assert open(path("b.node.key"), "rb").read() == open(path("b2.node.key"), "rb").read()
assert open(path("b.node.key"), "rb").read() != open(path("c.node.key"), "rb").read()
print("keys tool: ok")
