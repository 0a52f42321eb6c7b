"""Local runs of a built deployment: `ambience run DIR` and `ambience status` (docs/deploy.md).

    run = deployment_run(root, "examples/pipeline", binary_dir)
    run.start_all()               # every hosted node, each waited for until it is ready
    run.http_url("aggregator")    # where an HTTP export listens
    run.kill_node("field"); run.start_node("field")
    run.stop_all()                # SIGTERM, then SIGKILL; nothing left behind

Each node runs its executable (build/PRESET/deploy/NAME/bin/NODE) with a settings file written
here (build/deploy/NAME/run/NODE.conf): its addresses, its serial lines, its key files. Without
network namespaces every address is mapped to 127.0.0.1 and a port: the (network, node) pairs
of udp, tcp and http networks, in manifest order, get `base + 0`, `base + 1`, ...; `base` is
`--base-port`, else $AMBIENCE_BASE_PORT, else 20000 + 20 × (CRC-32 of the name mod 2000).
A serial network between two nodes becomes a pty pair this tool opens and keeps open for the
whole run (the first node gets the controller side, the second the line side, as inherited
descriptors), so a node that is killed and started again finds its line where it was.

Logs: each node's output is shown line by line as `[node/group] text` (the glue writes `@group
text`; other lines are shown as `[node]`). The state of the run (pids) is in
build/deploy/NAME/run/state.json while it runs.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib

from synth import keys as key_files

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def default_base_port(name):
    if os.environ.get("AMBIENCE_BASE_PORT"):
        return int(os.environ["AMBIENCE_BASE_PORT"])
    return 20000 + 20 * (zlib.crc32(name.encode()) % 2000)


def state_directory(root, name):
    return os.path.join(root, "build", "deploy", name, "run")


def load_description(binary_dir, name):
    path = os.path.join(binary_dir, "deploy", name, "synth", "deployment.json")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


class node_process:
    def __init__(self, name):
        self.name = name
        self.process = None
        self.lines = []
        self.ready = threading.Event()
        self.reader = None


class deployment_run:
    def __init__(self, root, directory, binary_dir, base_port=None, out="stdout",
                 call_timeout_ms=3000):
        self.root = root
        self.name = os.path.basename(os.path.normpath(os.path.abspath(directory)))
        self.binary_dir = binary_dir
        self.description = load_description(binary_dir, self.name)
        self.base_port = base_port if base_port is not None else default_base_port(self.name)
        # Where node logs are shown as they come (None: only kept, see lines()).
        self.out = sys.stdout if out == "stdout" else out
        self.call_timeout_ms = call_timeout_ms
        self.keys = key_files.key_directory(root, self.name)
        self.state_dir = state_directory(root, self.name)
        self.nodes = {name: node_process(name) for name in self.description["nodes"]}
        self.ports = {}
        self.lines_lock = threading.Lock()
        self.ptys = {}          # network -> (controller fd, line fd)
        self.fds = {}           # node -> {network: fd}
        # (node, network, peer) -> ADDRESS:PORT, replacing a peer's address (tests put a man
        # in the middle there).
        self.peer_overrides = {}
        self._assign()

    # --- addresses and settings ------------------------------------------------------------

    def _assign(self):
        index = 0
        for network, item in self.description["networks"].items():
            if item["kind"] in ("udp", "tcp", "http"):
                for node in item["nodes"]:
                    self.ports[(network, node)] = self.base_port + index
                    index += 1

    def address(self, network, node):
        return f"127.0.0.1:{self.ports[(network, node)]}"

    def http_url(self, export_name):
        for node, info in self.description["nodes"].items():
            for export in info["http_exports"]:
                if export["name"] == export_name:
                    return f"http://{self.address(export['network'], node)}/{export_name}"
        raise KeyError(export_name)

    def _open_lines(self):
        for network, item in self.description["networks"].items():
            if item["kind"] != "serial" or network in self.ptys:
                continue
            members = list(item["nodes"])
            if len(members) != 2:
                continue
            controller, line = os.openpty()
            self.ptys[network] = (controller, line)
            self.fds.setdefault(members[0], {})[network] = controller
            self.fds.setdefault(members[1], {})[network] = line

    def settings(self, node):
        info = self.description["nodes"][node]
        lines = [f"# settings of node {node} (written by `ambience run`)", f"node = {node}",
                 f"call_timeout_ms = {self.call_timeout_ms}"]
        for network in info["networks"]:
            kind = self.description["networks"][network]["kind"]
            if kind == "udp":
                lines.append(f"udp.{network}.bind = {self.address(network, node)}")
                for peer in self.description["networks"][network]["nodes"]:
                    if peer != node:
                        address = self.peer_overrides.get((node, network, peer),
                                                          self.address(network, peer))
                        lines.append(f"udp.{network}.peer.{peer} = {address}")
            elif kind == "serial" and network in self.fds.get(node, {}):
                lines.append(f"serial.{network}.fd = {self.fds[node][network]}")
            elif kind == "http":
                lines.append(f"http.{network}.listen = {self.address(network, node)}")
        node_key = os.path.join(self.keys, f"{node}.node.key")
        if info["exports_remote"]:
            lines.append(f"key.node = {node_key}")
        for callee in info["callees"]:
            lines.append(f"key.credential.{callee} = "
                         f"{os.path.join(self.keys, f'{node}.to.{callee}.cred')}")
        if info["http_exports"]:
            lines.append(f"key.http = {os.path.join(self.keys, 'http.key')}")
        return "\n".join(lines) + "\n"

    # --- processes -------------------------------------------------------------------------

    def executable(self, node):
        return os.path.join(self.binary_dir, "deploy", self.name, "bin", node)

    def _show(self, node, raw):
        text = raw.rstrip("\n")
        if text.startswith("@") and " " in text:
            group, rest = text[1:].split(" ", 1)
            shown = f"[{node}/{group}] {rest}"
        else:
            shown = f"[{node}] {text}"
        with self.lines_lock:
            self.nodes[node].lines.append(shown)
            if self.out:
                print(shown, file=self.out, flush=True)
        if text == "@kernel ready":
            self.nodes[node].ready.set()

    def _read(self, node, stream):
        for raw in iter(stream.readline, ""):
            self._show(node, raw)
        stream.close()

    def start_node(self, node, wait=True):
        entry = self.nodes[node]
        if entry.process is not None and entry.process.poll() is None:
            raise RuntimeError(f"node {node} is already running")
        os.makedirs(self.state_dir, exist_ok=True)
        self._open_lines()
        path = os.path.join(self.state_dir, f"{node}.conf")
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.settings(node))
        entry.ready.clear()
        entry.process = subprocess.Popen(
            [self.executable(node), path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace",
            pass_fds=tuple(self.fds.get(node, {}).values()), start_new_session=True)
        entry.reader = threading.Thread(target=self._read, args=(node, entry.process.stdout),
                                        daemon=True)
        entry.reader.start()
        self._save_state()
        if wait:
            self.wait_ready(node)
        return entry.process.pid

    def wait_ready(self, node, timeout=READY_TIMEOUT):
        entry = self.nodes[node]
        deadline = time.monotonic() + timeout
        while not entry.ready.wait(0.05):
            if entry.process.poll() is not None:
                raise RuntimeError(f"node {node} exited with status {entry.process.returncode} "
                                   f"before it was ready")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node} was not ready within {timeout} s")

    def start_all(self):
        # Nodes that serve others first is not needed (calls time out and are retried by
        # callers); all are started, then waited for.
        for node in self.nodes:
            self.start_node(node, wait=False)
        for node in self.nodes:
            self.wait_ready(node)

    def kill_node(self, node, sig=signal.SIGKILL):
        entry = self.nodes[node]
        if entry.process is None or entry.process.poll() is not None:
            return
        entry.process.send_signal(sig)
        try:
            entry.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            entry.process.kill()
            entry.process.wait()
        if entry.reader:
            entry.reader.join(2)
        self._save_state()

    def stop_node(self, node):
        self.kill_node(node, signal.SIGTERM)

    def running(self):
        return [n for n, e in self.nodes.items() if e.process and e.process.poll() is None]

    def stop_all(self):
        for node in self.nodes:
            entry = self.nodes[node]
            if entry.process is not None and entry.process.poll() is None:
                entry.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            self.kill_node(node, signal.SIGTERM)
        for controller, line in self.ptys.values():
            os.close(controller)
            os.close(line)
        self.ptys.clear()
        self.fds.clear()
        try:
            os.remove(os.path.join(self.state_dir, "state.json"))
        except OSError:
            pass

    def lines(self):
        with self.lines_lock:
            return [line for entry in self.nodes.values() for line in entry.lines]

    def _save_state(self):
        state = {"deployment": self.name, "supervisor": os.getpid(), "nodes": {}}
        for name, entry in self.nodes.items():
            if entry.process is not None and entry.process.poll() is None:
                state["nodes"][name] = {"pid": entry.process.pid,
                                        "executable": self.executable(name)}
        for export_node, info in self.description["nodes"].items():
            for export in info["http_exports"]:
                state.setdefault("http", {})[export["name"]] = self.http_url(export["name"])
        path = os.path.join(self.state_dir, "state.json")
        with open(path + ".tmp", "w", encoding="utf-8") as file:
            json.dump(state, file, indent=2)
        os.replace(path + ".tmp", path)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def status(root, name=None):
    """Prints the running deployments (all, or `name`); returns 0."""
    base = os.path.join(root, "build", "deploy")
    names = [name] if name else sorted(os.listdir(base)) if os.path.isdir(base) else []
    shown = 0
    for item in names:
        path = os.path.join(state_directory(root, item), "state.json")
        try:
            with open(path, encoding="utf-8") as file:
                state = json.load(file)
        except (OSError, ValueError):
            continue
        supervisor = state.get("supervisor")
        live = alive(supervisor) if supervisor else False
        print(f"deployment {item} (ambience run pid {supervisor}"
              f"{'' if live else ', not running: stale state'})")
        for node, entry in state["nodes"].items():
            print(f"  node {node}: pid {entry['pid']} "
                  f"{'running' if alive(entry['pid']) else 'gone'}")
        for export, url in state.get("http", {}).items():
            print(f"  http {export}: {url}")
        shown += 1
    if not shown:
        print("no deployment is running" + (f" ({name})" if name else ""))
    return 0
