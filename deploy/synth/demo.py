"""The pipeline demo (examples/pipeline/README.md): builds the deployment, runs its three nodes,
answers a REST call end to end, shows a forged and an expired token refused, prints where each
service ran and how each call travelled, and stops everything.

    PYTHONPATH=deploy python3 -m synth.demo      # or: from synth import demo; demo.run(root)
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from synth import keys, run as deployment_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def post(url, body, token):
    """POSTs JSON; returns (status, parsed body or text)."""
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", **({"Authorization": f"Bearer {token}"}
                                               if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def forge(token):
    """The same token with one character of its tag changed."""
    last = token[-2]
    return token[:-2] + ("A" if last != "A" else "B") + token[-1]


def run(root=ROOT, step=print):
    directory = os.path.join(root, "examples", "pipeline")
    binary_dir = os.path.join(root, "build", "default")
    ambience = os.path.join(root, "ambience")
    step("==> 1/5 build: check the manifest, plan routes, synthesize each node, build, keys")
    subprocess.run([ambience, "build", directory], check=True)
    step("==> 2/5 where each service runs and how each call travels (ambience plan)")
    subprocess.run([ambience, "plan", directory], check=True)
    session = deployment_run.deployment_run(root, directory, binary_dir)
    caplets = os.path.join(binary_dir, "caplets", "caplets")
    try:
        step("==> 3/5 start the three nodes (serial line: a pty pair; udp and http: loopback)")
        session.start_all()
        url = session.http_url("aggregator")
        token = keys.issue_token(root, "pipeline", caplets, "aggregator", ["average"], 3600)
        step(f"==> 4/5 POST {url}/average {{\"count\": 4}} with a token for aggregator.average "
             f"(1 h)")
        step("    path: cloud kernel -(channel)-> analytics group: averager -(kernel proxy)-> "
             "lan -> gateway -> serial link -> field: sensor; each reading appended to store "
             "in the journal group (rings)")
        status, answer = post(url + "/average", '{"count": 4}', token)
        step(f"    {status} {answer}")
        ok = status == 200 and answer == {"result": 21.25}
        status, answer = post(session.http_url("store") + "/count", "{}",
                              keys.issue_token(root, "pipeline", caplets, "store", ["count"],
                                               3600))
        step(f"    store.count -> {status} {answer}")
        ok = ok and answer == {"result": 4}
        step("==> 5/5 refused: a forged token, an expired token, another procedure")
        status, answer = post(url + "/average", '{"count": 1}', forge(token))
        step(f"    forged:  {status} {answer}")
        ok = ok and status == 401
        expired = keys.issue_token(root, "pipeline", caplets, "aggregator", ["average"], -60)
        status, answer = post(url + "/average", '{"count": 1}', expired)
        step(f"    expired: {status} {answer}")
        ok = ok and status == 401
        status, answer = post(session.http_url("store") + "/total", "{}", token)
        step(f"    a token for aggregator.average on store.total: {status} {answer}")
        ok = ok and status == 403
    finally:
        step("==> stopping every node")
        session.stop_all()
    left = session.running()
    step("    nothing left running" if not left else f"    still running: {left}")
    return 0 if ok and not left else 1


if __name__ == "__main__":
    sys.exit(run())
