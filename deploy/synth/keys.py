"""The key material of a deployment, created by `ambience build` (docs/deploy.md, "Keys").

In build/deploy/NAME/keys (mode 0700; every file 0600, written by `amb-remote-keys`, never
printed):

    deployment.key        the deployment root: 32 random bytes, created once and kept
    NODE.node.key         the key NODE verifies requests with (nodes that serve other nodes)
    CALLER.to.NODE.cred   the credential CALLER presents to NODE: identity{CALLER} and
                          service{instance, procedures} for every instance it calls there
    http.key              the origin key of HTTP export tokens (`ambience token issue`)

Everything but the root is derived from the root, so it is written again at every build (the
imports may have changed) and is the same as long as the root is.
"""

import os
import subprocess
import time

HTTP_KEY_NAME = "http-export"   # the HKDF label of the HTTP export key (not a node name)


class key_error(Exception):
    pass


def key_directory(root, name):
    return os.path.join(root, "build", "deploy", name, "keys")


def _tool(tool, *arguments):
    result = subprocess.run([tool, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if result.returncode != 0:
        raise key_error(f"amb-remote-keys {arguments[0]} failed: {result.stderr.strip()}")


def _fresh(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    return path


def ensure(root, description, tool):
    """Creates the keys `description` (synth.generate.describe) needs. Returns the directory."""
    directory = key_directory(root, description["name"])
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    deployment_key = os.path.join(directory, "deployment.key")
    if not os.path.exists(deployment_key):
        _tool(tool, "root", "--out", deployment_key)
    _tool(tool, "node-key", "--root", deployment_key, "--node", HTTP_KEY_NAME,
          "--out", _fresh(os.path.join(directory, "http.key")))
    for node, info in description["nodes"].items():
        if info["exports_remote"]:
            _tool(tool, "node-key", "--root", deployment_key, "--node", node,
                  "--out", _fresh(os.path.join(directory, f"{node}.node.key")))
        for callee, imports in info["callees"].items():
            grants = []
            for instance, procedures in imports.items():
                grants += ["--import", f"{instance}:{','.join(procedures)}"]
            _tool(tool, "credential", "--root", deployment_key, "--caller", node,
                  "--callee", callee, *grants,
                  "--out", _fresh(os.path.join(directory, f"{node}.to.{callee}.cred")))
    return directory


def parse_duration(text):
    """'90s', '15m', '1h', '2d' or plain seconds → seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise key_error(f"--expires: expected a duration such as 90s, 15m, 1h or 2d, not "
                        f"{text!r}") from None


def issue_token(root, name, caplets_tool, service, procedures, expires_in):
    """A CAPLets token (text) granting `procedures` (a list, or ['*']) of the HTTP export
    `service`, expiring in `expires_in` seconds (None: no expiry). The key goes to `caplets`
    through a pipe, never through a file or the terminal."""
    path = os.path.join(key_directory(root, name), "http.key")
    try:
        with open(path, "rb") as file:
            secret = file.read()
    except OSError:
        raise key_error(f"no HTTP export key for deployment '{name}' (run `ambience build` "
                        f"first)") from None
    if len(secret) != 32:
        raise key_error(f"{path} is not a 32-byte key")
    command = [caplets_tool, "mint", "--key", "-",
               "--cap", f"service:{service}:{','.join(procedures)}"]
    if expires_in is not None:
        command += ["--constraint", f"expires:{int(time.time()) + expires_in}"]
    result = subprocess.run(command, input=secret.hex() + "\n", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise key_error(f"caplets mint failed: {result.stderr.strip()}")
    return result.stdout.strip()
