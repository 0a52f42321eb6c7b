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

With `netns="auto"` (what `ambience run` asks for unless `--no-netns`), as root and when
`ip netns` works, each node runs in a network namespace of its own instead (`network_namespaces`
below: the manifest's addresses on veth links, one bridge per udp/tcp network); otherwise, and
for library callers by default, on loopback ports, and `netns_status` says why.

Logs: each node's output is shown line by line as `[node/group] text` (the glue writes `@group
text`; other lines are shown as `[node]`). Each node also appends one JSON line per request its
groups serve to build/deploy/NAME/run/NODE.requests.jsonl (synth/logs.py; `ambience logs`),
kept after the run and cleared when the next run claims the deployment. The state of the run
(pids) is in build/deploy/NAME/run/state.json while it runs.

One run per deployment: a run claims the deployment before it touches anything (its settings
files, its namespaces, its state) by holding an exclusive lock on build/deploy/NAME/run/lock
for as long as it runs, and by finding no node of an earlier run still alive in state.json (a
supervisor killed with SIGKILL leaves its nodes running and releases the lock). A second run is
refused with `already_running`, which names the live pids, and leaves the first run's files
alone. A state whose processes are gone (or whose pids now belong to other processes, told
apart by their start times) is stale and does not block a new run.
"""

import fcntl

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib

from synth import keys as key_files
from synth import http_names
from synth import logs as request_logs
from synth import node_settings

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
DEFAULT_UDP_PORT = 7700


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


class already_running(RuntimeError):
    """Another run of the deployment is live; the message names its processes."""


def _start_time(pid):
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22), or None
    when that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            text = file.read()
        return int(text[text.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _same_process(pid, start):
    """Whether `pid` is still the process that had start time `start` (None: unknown)."""
    if not isinstance(pid, int) or pid <= 0 or not alive(pid):
        return False
    now = _start_time(pid) if start is not None else None
    return now is None or now == start


def live_processes(root, name):
    """The processes of a run of deployment `name` that are still alive, according to its
    state.json: a list of (what, pid), e.g. ("ambience run", 812), ("node cloud", 830)."""
    try:
        with open(os.path.join(state_directory(root, name), "state.json"),
                  encoding="utf-8") as file:
            state = json.load(file)
    except (OSError, ValueError):
        return []
    live = []
    if _same_process(state.get("supervisor"), state.get("supervisor_start")):
        live.append(("ambience run", state["supervisor"]))
    for node, entry in state.get("nodes", {}).items():
        if isinstance(entry, dict) and _same_process(entry.get("pid"), entry.get("start")):
            live.append((f"node {node}", entry["pid"]))
    return live


def _refusal(name, live):
    if not live:
        return (f"deployment {name} is already being started by another `ambience run` (it "
                "holds the run's lock and has written no state yet); not starting it again")
    pids = ", ".join(f"{what} pid {pid}" for what, pid in live)
    return (f"deployment {name} is already running ({pids}); not starting it again and leaving "
            f"its state alone. Stop it first (Ctrl-C where it runs, or `kill {live[0][1]}`); "
            f"`ambience status {name}` shows it")


class netns_error(Exception):
    """Network namespaces cannot be set up; the message says why (the run falls back)."""


def _ip(*args):
    """Runs `ip ARGS`; returns its standard output; raises netns_error with ip's message."""
    done = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise netns_error(f"`ip {' '.join(args)}` failed: "
                          f"{(done.stderr or done.stdout).strip() or done.returncode}")
    return done.stdout


def netns_unavailable():
    """Why network namespaces cannot be used here, or None when they can be tried."""
    if os.geteuid() != 0:
        return "not running as root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    try:
        _ip("netns", "list")
    except netns_error as error:
        return str(error)
    return None


class network_namespaces:
    """The network namespaces of one deployment run (as root; docs/deploy.md, "Network
    namespaces"):

    - `amb-NAME-NODE` per node, holding `lo`, one veth `ethK` per udp/tcp network the node is
      attached to (K: the network's index among the node's networks) with the manifest's
      address, and `host` for nodes serving HTTP exports;
    - `amb-NAME--net` (the fabric: `--` cannot occur in a node name) holding one bridge `brK`
      per udp/tcp network and the other ends of the veths, so that nothing of a run but the
      HTTP links lives in the root namespace (no firewall or bridge setting of the host
      applies);
    - per node with HTTP exports, a veth `ambTTTTTThI` (TTTTTT: 6 hex digits of CRC-32 of NAME)
      in the root namespace, 10.213.X.(4I+1)/30, its peer `host` in the node's namespace
      10.213.X.(4I+2)/30 (X from the same CRC), so the host reaches the exports there.

    The prefix length of a network's addresses is the longest one (at most /24) that holds
    every address of the network. `remove()` deletes the root-side links and every namespace
    (which deletes the veths and bridges in them); `remove_stale()` does the same for anything
    left by a run that crashed, after killing processes still inside those namespaces.
    """

    def __init__(self, name, description):
        self.name = name
        crc = zlib.crc32(name.encode())
        self.tag = f"amb{crc & 0xFFFFFF:06x}"
        self.host_octet = (crc >> 24) % 250
        self.prefix = f"amb-{name}-"
        self.fabric = f"amb-{name}--net"
        self.description = description
        self.host_links = {}      # node -> (root-side name, root address, namespace address)

    def namespace(self, node):
        return self.prefix + node

    def routable(self, network):
        return self.description["networks"][network]["kind"] in ("udp", "tcp")

    @staticmethod
    def prefix_length(addresses):
        values = [int(ipaddress.IPv4Address(a)) for a in addresses]
        length = 24
        while length > 8 and len({v >> (32 - length) for v in values}) > 1:
            length -= 1
        return length

    def existing(self):
        names = []
        for line in _ip("netns", "list").splitlines():
            item = line.split()[0] if line.split() else ""
            if item.startswith(self.prefix):
                names.append(item)
        return names

    def root_links(self):
        links = []
        for line in _ip("-o", "link", "show").splitlines():
            parts = line.split(":")
            if len(parts) > 1:
                link = parts[1].strip().split("@")[0]
                if link.startswith(self.tag):
                    links.append(link)
        return links

    def remove_stale(self):
        """Removes what a run of this deployment left (processes, namespaces, links)."""
        for namespace in self.existing():
            try:
                for pid in _ip("netns", "pids", namespace).split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
            except netns_error:
                pass
        self.remove()

    def remove(self):
        for link in self.root_links():
            try:
                _ip("link", "del", link)
            except netns_error:
                pass
        for namespace in self.existing():
            try:
                _ip("netns", "del", namespace)
            except netns_error:
                pass
        self.host_links.clear()

    def create(self, http_nodes):
        """Creates every namespace, bridge and link; raises netns_error (after removing what
        it made) when something fails."""
        try:
            self._create(http_nodes)
        except (netns_error, ValueError) as error:
            self.remove()
            raise netns_error(str(error)) from None

    def _create(self, http_nodes):
        networks = self.description["networks"]
        _ip("netns", "add", self.fabric)
        _ip("-n", self.fabric, "link", "set", "lo", "up")
        bridges = {}
        for index, (network, item) in enumerate(networks.items()):
            if self.routable(network):
                bridges[network] = f"br{index}"
                _ip("-n", self.fabric, "link", "add", bridges[network], "type", "bridge")
                _ip("-n", self.fabric, "link", "set", bridges[network], "up")
        port = 0
        for node, info in self.description["nodes"].items():
            namespace = self.namespace(node)
            _ip("netns", "add", namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
            for index, network in enumerate(info["networks"]):
                if network not in bridges:
                    continue
                inside, outside = f"eth{index}", f"p{port}"
                port += 1
                addresses = list(networks[network]["nodes"].values())
                length = self.prefix_length(addresses)
                _ip("-n", namespace, "link", "add", inside, "type", "veth", "peer", "name",
                    outside, "netns", self.fabric)
                _ip("-n", self.fabric, "link", "set", outside, "master", bridges[network], "up")
                _ip("-n", namespace, "addr", "add", f"{info['networks'][network]}/{length}",
                    "dev", inside)
                _ip("-n", namespace, "link", "set", inside, "up")
        for index, node in enumerate(http_nodes):
            outside = f"{self.tag}h{index}"
            root = f"10.213.{self.host_octet}.{4 * index + 1}"
            inside = f"10.213.{self.host_octet}.{4 * index + 2}"
            _ip("link", "add", outside, "type", "veth", "peer", "name", "host", "netns",
                self.namespace(node))
            _ip("addr", "add", f"{root}/30", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("-n", self.namespace(node), "addr", "add", f"{inside}/30", "dev", "host")
            _ip("-n", self.namespace(node), "link", "set", "host", "up")
            self.host_links[node] = (outside, root, inside)


class node_process:
    def __init__(self, name):
        self.name = name
        self.process = None
        self.lines = []
        self.ready = threading.Event()
        self.reader = None


class deployment_run:
    def __init__(self, root, directory, binary_dir, base_port=None, out="stdout",
                 call_timeout_ms=3000, netns=False):
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
        # Network namespaces: False (loopback), "auto" (if possible) or True (required).
        self.netns_wanted = netns
        self.netns = None
        self.netns_status = ("off (not asked for): loopback ports" if not netns
                             else "not set up yet")
        self.lock = None        # the open lock file while this run owns the deployment
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
        if self.netns is not None:
            item = self.description["networks"][network]
            manifest = item["nodes"][node]
            if item["kind"] == "http":
                port = manifest.rsplit(":", 1)[1] if ":" in manifest else "80"
                return f"0.0.0.0:{port}"
            return f"{manifest}:{self.network_port(network)}"
        return f"127.0.0.1:{self.ports[(network, node)]}"

    def network_port(self, network):
        """The port of a udp/tcp network in namespaces: its `port=` option, else 7700 + its
        index among the deployment's networks (on tcp, every node of the network listens
        there, at its own address)."""
        item = self.description["networks"][network]
        port = item.get("options", {}).get("port")
        return int(port) if port else DEFAULT_UDP_PORT + list(
            self.description["networks"]).index(network)

    def http_url(self, export_name):
        for node, info in self.description["nodes"].items():
            for export in info["http_exports"]:
                if export["name"] == export_name:
                    where = self.address(export["network"], node)
                    if self.netns is not None:
                        where = f"{self.netns.host_links[node][2]}:{where.rsplit(':', 1)[1]}"
                    return f"http://{where}{http_names.export_path(export_name)}"
        raise KeyError(export_name)

    # --- one run per deployment ------------------------------------------------------------

    def claim(self):
        """Makes this run the deployment's only one (see the module's docstring), or raises
        `already_running` without changing any file of the run that is live. Called by
        setup_netns and start_node; a no-op once claimed."""
        if self.lock is not None:
            return
        os.makedirs(self.state_dir, exist_ok=True)
        lock = open(os.path.join(self.state_dir, "lock"), "a", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise already_running(_refusal(self.name, live_processes(self.root, self.name)))
        live = live_processes(self.root, self.name)
        if live:
            lock.close()  # releases the lock
            raise already_running(_refusal(self.name, live))
        self.lock = lock
        request_logs.clear(self.state_dir)  # this run's requests only

    def release(self):
        """Gives the deployment up (after stop_all has removed the state)."""
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    # --- network namespaces ----------------------------------------------------------------

    def setup_netns(self):
        """Creates the namespaces when asked to and possible; otherwise records why not (in
        `netns_status`) and stays on loopback. Stale namespaces and links of this deployment
        (a crashed run) are removed first. Raises netns_error when `netns=True` and it fails,
        already_running when another run of the deployment is live (before touching anything
        of it)."""
        self.claim()
        if not self.netns_wanted or self.netns is not None:
            return
        why = netns_unavailable()
        if why is None:
            spaces = network_namespaces(self.name, self.description)
            http_nodes = [n for n, info in self.description["nodes"].items()
                          if info["http_exports"]]
            try:
                spaces.remove_stale()
                spaces.create(http_nodes)
                self.netns = spaces
                self.netns_status = (f"on: namespaces {spaces.prefix}* (nodes), "
                                     f"{spaces.fabric} (bridges)")
                return
            except netns_error as error:
                why = str(error)
        if self.netns_wanted is True:
            raise netns_error(why)
        self.netns_status = f"off ({why}); using loopback ports"

    def teardown_netns(self):
        if self.netns is not None:
            self.netns.remove()
            self.netns = None

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
                 f"call_timeout_ms = {self.call_timeout_ms}",
                 # what must survive a restart (the replay marks: docs/remote.md, "Replay")
                 f"state.dir = {self.state_dir}",
                 # its request log (synth/logs.py, `ambience logs`)
                 f"log.requests = {request_logs.request_log(self.state_dir, node)}"]
        for network in info["networks"]:
            kind = self.description["networks"][network]["kind"]
            if kind in ("udp", "tcp"):
                # tcp: the node listens at its bind address and connects to peers' addresses
                # (which one connects is the glue's rule: the name that sorts first).
                lines.append(f"{kind}.{network}.bind = {self.address(network, node)}")
                for peer in self.description["networks"][network]["nodes"]:
                    if peer != node:
                        address = self.peer_overrides.get((node, network, peer),
                                                          self.address(network, peer))
                        lines.append(f"{kind}.{network}.peer.{peer} = {address}")
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
        # Only declared keys (synth/glue/node_settings.keys): the node refuses any other.
        return node_settings.check("\n".join(lines) + "\n")

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
        self.claim()
        self.setup_netns()
        os.makedirs(self.state_dir, exist_ok=True)
        self._open_lines()
        path = os.path.join(self.state_dir, f"{node}.conf")
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.settings(node))
        entry.ready.clear()
        command = [self.executable(node), path]
        if self.netns is not None:
            # `ip netns exec` enters the namespace and executes the node (same pid).
            command = ["ip", "netns", "exec", self.netns.namespace(node)] + command
        entry.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
        self.teardown_netns()
        if self.lock is None:
            return  # never claimed: the state (if any) is another run's
        try:
            os.remove(os.path.join(self.state_dir, "state.json"))
        except OSError:
            pass
        self.release()

    def lines(self):
        with self.lines_lock:
            return [line for entry in self.nodes.values() for line in entry.lines]

    def _save_state(self):
        state = {"deployment": self.name, "supervisor": os.getpid(),
                 "supervisor_start": _start_time(os.getpid()), "nodes": {},
                 "network_namespaces": self.netns_status}
        for name, entry in self.nodes.items():
            if entry.process is not None and entry.process.poll() is None:
                state["nodes"][name] = {"pid": entry.process.pid,
                                        "start": _start_time(entry.process.pid),
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
        if state.get("network_namespaces"):
            print(f"  network namespaces: {state['network_namespaces']}")
        shown += 1
    if not shown:
        print("no deployment is running" + (f" ({name})" if name else ""))
    return 0
