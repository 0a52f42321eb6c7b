"""The request logs of a local run: `ambience logs DIR` (docs/deploy.md, "Request log").

Each node of a run appends one JSON line per request its groups serve to
RUN_DIR/NODE.requests.jsonl (`request_log`; the run passes the path as the setting
`log.requests`). The line is written by the node's kernel (services/node/node_services.hpp
declares it): `time_ns`, `node`, `group`, `service` (the interface), `instance`, `procedure`,
`status` (0: ok), `duration_ns`, `caller`. This module reads every node's log of a run, merges
them in time order and filters them:

    entries = logs.read(run_directory)
    for entry in logs.select(entries, nodes=["cloud"], services=["aggregator"], status="error"):
        print(logs.format(entry))

A run starts with no request log (`clear`); the logs stay after the run stops.
"""

import datetime
import glob
import json
import os

SUFFIX = ".requests.jsonl"


def request_log(run_directory, node):
    """The request log file of `node` in a run directory."""
    return os.path.join(run_directory, node + SUFFIX)


def clear(run_directory):
    """Removes the request logs of an earlier run."""
    for path in glob.glob(os.path.join(run_directory, "*" + SUFFIX)):
        os.remove(path)


def read(run_directory):
    """(entries merged in time order, count of unreadable lines). Each entry is a line's dict;
    lines of one node keep their order when times are equal."""
    entries, unreadable = [], 0
    for path in sorted(glob.glob(os.path.join(run_directory, "*" + SUFFIX))):
        node = os.path.basename(path)[:-len(SUFFIX)]
        with open(path, encoding="utf-8", errors="replace") as file:
            for line in file:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    unreadable += 1  # a line cut short by a node killed while writing
                    continue
                if not isinstance(entry, dict) or "procedure" not in entry:
                    continue  # a group's text line, not a request
                entry.setdefault("node", node)
                entries.append(entry)
    entries.sort(key=lambda e: e.get("time_ns", 0))
    return entries, unreadable


def status_matches(entry, wanted):
    """`wanted`: "ok" (status 0), "error" (any other) or a status number."""
    status = entry.get("status")
    if wanted == "ok":
        return status == 0
    if wanted == "error":
        return status != 0
    return str(status) == str(wanted)


def select(entries, nodes=(), services=(), status=None):
    """The entries of any of `nodes` (all when empty), of any of `services` (an instance name,
    or an interface by qualified or plain name; all when empty), with `status`."""
    def service_matches(entry):
        interface = entry.get("service", "")
        names = {entry.get("instance", ""), interface, interface.rsplit("::", 1)[-1]}
        return any(name in names for name in services)

    return [e for e in entries
            if (not nodes or e.get("node") in nodes)
            and (not services or service_matches(e))
            and (status is None or status_matches(e, status))]


def format(entry):
    """One line: time (UTC), node/group, instance (interface).procedure, status, duration,
    caller."""
    when = datetime.datetime.fromtimestamp(entry.get("time_ns", 0) / 1e9,
                                           tz=datetime.timezone.utc)
    instance = entry.get("instance") or "?"
    status = "ok" if entry.get("status") == 0 else f"status {entry.get('status')}"
    caller = entry.get("caller") or "?"
    return (f"{when.strftime('%Y-%m-%d %H:%M:%S.%f')} {entry.get('node')}/{entry.get('group')} "
            f"{instance} ({entry.get('service')}).{entry.get('procedure')} {status} "
            f"{entry.get('duration_ns', 0) / 1e6:.3f} ms from {caller}")
