"""End-to-end tests of generated deployments (ctest -R deploy.e2e): real node processes on
loopback ports and pty serial lines, real HTTP. The node executables are built by the main
build (amb_add_deployment); these tests create the keys and run them.

  demo        the pipeline example answers a REST call end to end; forged and expired tokens,
              another procedure, malformed HTTP and JSON are refused with the right statuses
  placements  the same services in one group, in three groups, on three nodes (over UDP and
              over TCP): same answers
  faults      a node killed mid-run (callers get errors: 504 deadline_passed through the HTTP
              export, the rest keeps running, it restarts);
              a replayed and a tampered request injected on the UDP link are refused
  netns       (as root, with `ip netns`) the pipeline in one network namespace per node on
              veth links and bridges with the manifest's addresses; the REST call from the
              host; nothing left after the stop, also after a run that left things behind;
              the TCP placement in namespaces (connections from the manifest's addresses)
  http_import a node imports an external HTTP service (a small exporter process started here)
              and uses it; when the service goes away, its calls fail and the rest answers
  config      two instances of one service, configured differently (typed config=), read
              as their configurations ask
  node_services a service reads its node's clock and writes its node's log (slots bound by
              the node)
  shared_view a 1 MiB view from a group's shareable heap is read in place by a service in
              another group of the node (no copy); a private buffer as the control
  tcp         three nodes over TCP links: started listener last, a connecting node killed and
              started again, the accepting node killed and started again: the links come back
              each time; connections without a valid hello are refused
"""

import json
import os
import subprocess
import socket
import subprocess
import threading
import time
import unittest
from unittest import mock

from synth import demo as demo_module, keys, run as deployment_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY_DIR = os.environ.get("AMBIENCE_BINARY_DIR", os.path.join(ROOT, "build", "default"))
CAPLETS = os.path.join(BINARY_DIR, "caplets", "caplets")
KEY_TOOL = os.path.join(BINARY_DIR, "hosted", "remote", "amb-remote-keys")
# Crafts and reads link packets with the nodes' own protocol code (hosted/net/tools): no wire
# format is written a second time here.
PACKET_TOOL = os.path.join(BINARY_DIR, "hosted", "net", "amb_packet")
# Bound on one HTTP answer read by raw_http (the server closes or ends its header long before).
RAW_HTTP_DEADLINE_SECONDS = 30

post = demo_module.post


def packet(*args):
    """The bytes `amb_packet ARGS` writes (one packet, as hex)."""
    out = subprocess.run([PACKET_TOOL, *args], capture_output=True, text=True, check=True)
    return bytes.fromhex(out.stdout.strip())


def decode_datagrams(datagrams):
    """`amb_packet decode` of each datagram: its fields and payload, or {"error": ...}."""
    lines = "".join(data.hex() + "\n" for data in datagrams)
    out = subprocess.run([PACKET_TOOL, "decode"], input=lines, capture_output=True, text=True,
                         check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def use_kernel_chosen_ports(session):
    """Replaces the run's loopback ports (consecutive from a base port, which another process
    may hold) by ports the kernel picks: a socket of the network's kind is bound to port 0 and
    its port read back, every socket held open until all are chosen (so no two coincide), then
    closed for the nodes to bind.

    The nodes cannot be handed port 0 themselves: each node's settings name its peers' ports
    before any node starts, and the test must know the HTTP exports' URLs. So a small race is
    accepted here: another process may take a port between its close and the node's bind; the
    run then fails to start (it never passes wrongly)."""
    held = []
    try:
        for network, node in sorted(session.ports):
            kind = session.description["networks"][network]["kind"]
            probe = socket.socket(socket.AF_INET,
                                  socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
            held.append(probe)
            probe.bind(("127.0.0.1", 0))
            session.ports[(network, node)] = probe.getsockname()[1]
    finally:
        for probe in held:
            probe.close()


def start(directory):
    name = os.path.basename(directory)
    description = deployment_run.load_description(BINARY_DIR, name)
    keys.ensure(ROOT, description, KEY_TOOL)
    session = deployment_run.deployment_run(ROOT, directory, BINARY_DIR, out=None,
                                            call_timeout_ms=2000)
    use_kernel_chosen_ports(session)
    return session


def token(name, export, procedures=("*",), expires=600):
    return keys.issue_token(ROOT, name, CAPLETS, export, list(procedures), expires)


def raw_http(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(data)
        answer = b""
        deadline = time.monotonic() + RAW_HTTP_DEADLINE_SECONDS
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"no complete HTTP answer within {RAW_HTTP_DEADLINE_SECONDS}"
                                     f" s; received so far: {answer!r}")
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
    return answer


class running(unittest.TestCase):
    directory = None

    def setUp(self):
        self.session = start(self.directory)
        self.addCleanup(self.check_stopped)

    def check_stopped(self):
        self.session.stop_all()
        self.assertEqual(self.session.running(), [])

    def tearDown(self):
        # The nodes' logs, for a failing test's report.
        path = os.path.join(self.session.state_dir, f"{self.id().split('.')[-1]}.log")
        with open(path, "w", encoding="utf-8") as file:
            file.write("\n".join(self.session.lines()) + "\n")


PIPELINE = os.path.join(ROOT, "examples", "pipeline")


class demo(running):
    directory = PIPELINE

    def test_a_rest_call_is_answered_end_to_end_and_bad_requests_are_refused(self):
        self.session.start_all()
        average = self.session.http_url("aggregator") + "/average"
        granted = token("pipeline", "aggregator", ["average"])
        # Sensor on field, through cloud -lan-> gateway -link-> field; store in another group.
        self.assertEqual(post(average, '{"count": 4}', granted), (200, {"result": 21.25}))
        store = self.session.http_url("store")
        store_token = token("pipeline", "store")
        self.assertEqual(post(store + "/count", "{}", store_token), (200, {"result": 4}))
        self.assertEqual(post(store + "/total", "{}", store_token), (200, {"result": 85.0}))
        # The sensor exported by cloud and forwarded to field: its fifth reading.
        sensor = self.session.http_url("sensor") + "/read"
        self.assertEqual(post(sensor, "{}", token("pipeline", "sensor")),
                         (200, {"result": {"celsius": 20.0, "sequence": 5}}))

        status, answer = post(average, '{"count": 1}', demo_module.forge(granted))
        self.assertEqual((status, answer["error"]["code"]), (401, "invalid_token"))
        status, answer = post(average, '{"count": 1}',
                              token("pipeline", "aggregator", ["average"], expires=-10))
        self.assertEqual(status, 401)
        self.assertIn("expired", answer["error"]["message"])
        status, answer = post(store + "/total", "{}", granted)
        self.assertEqual((status, answer["error"]["code"]), (403, "forbidden"))
        status, answer = post(average, '{"count": 1}', None)
        self.assertEqual((status, answer["error"]["code"]), (401, "missing_token"))
        # Malformed JSON, wrong parameters, wrong media type, malformed HTTP.
        status, answer = post(average, '{"count": ', granted)
        self.assertEqual((status, answer["error"]["code"]), (400, "malformed_json"))
        status, answer = post(average, '{"count": "four"}', granted)
        self.assertEqual((status, answer["error"]["code"]), (400, "bad_parameters"))
        status, answer = post(average, '{"count": -1}', granted)
        self.assertEqual((status, answer["error"]["code"]), (400, "bad_parameters"))
        port = int(average.split(":")[2].split("/")[0])
        self.assertIn(b" 400 ", raw_http(port, b"POST /aggregator/average HTTP/1.1\r\n"
                                               b"Host: x\r\nno colon here\r\n\r\n"))
        self.assertIn(b" 505 ", raw_http(port, b"GARBAGE / HTTP/9.9\r\n\r\n"))
        self.assertIn(b" 415 ", raw_http(
            port, b"POST /aggregator/average HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
            granted.encode() + b"\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\n{}"))
        # Everything still answers after all that.
        self.assertEqual(post(store + "/count", "{}", store_token), (200, {"result": 4}))
        log = "\n".join(self.session.lines())
        self.assertIn("[cloud/analytics] started", log)
        self.assertIn("[field/sensor] started", log)


class placements(unittest.TestCase):
    def test_the_same_services_in_three_placements_give_the_same_answers(self):
        answers = {}
        for placement in ("one_group", "groups", "nodes", "tcp"):
            name = f"placement_{placement}"
            session = start(os.path.join(ROOT, "deploy", "synth", "tests", name))
            try:
                session.start_all()
                average = post(session.http_url("aggregator") + "/average", '{"count": 4}',
                               token(name, "aggregator"))
                again = post(session.http_url("aggregator") + "/average", '{"count": 3}',
                             token(name, "aggregator"))
                count = post(session.http_url("store") + "/count", "{}", token(name, "store"))
                answers[placement] = (average, again, count)
            finally:
                session.stop_all()
            self.assertEqual(session.running(), [])
        expected = ((200, {"result": 21.25}), (200, {"result": 20.5}), (200, {"result": 7}))
        self.assertEqual(answers,
                         {p: expected for p in ("one_group", "groups", "nodes", "tcp")})


# A man in the middle on the UDP link between cloud and gateway: it forwards every datagram
# (so the deployment works) and keeps a copy, so that a test can replay or tamper with a real
# request, wrapped in a fresh reliable-datagram session (docs/net.md) so that the transport
# delivers it and CAPLets has to refuse it.
class udp_middle:
    """Cloud is told gateway is at `port_for_cloud`, gateway that cloud is at
    `port_for_gateway`: both ports the kernel chose (bound to port 0 here)."""

    def __init__(self, cloud, gateway):
        self.to_cloud = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.to_cloud.bind(("127.0.0.1", 0))
        self.port_for_cloud = self.to_cloud.getsockname()[1]
        self.to_gateway = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.to_gateway.bind(("127.0.0.1", 0))
        self.port_for_gateway = self.to_gateway.getsockname()[1]
        self.cloud, self.gateway = cloud, gateway
        self.from_cloud = []
        self.stopped = False
        self.threads = [threading.Thread(target=self.pump, args=(self.to_cloud, self.to_gateway,
                                                                 gateway, True), daemon=True),
                        threading.Thread(target=self.pump, args=(self.to_gateway, self.to_cloud,
                                                                 cloud, False), daemon=True)]
        for thread in self.threads:
            thread.start()

    def pump(self, source, sink, destination, record):
        source.settimeout(0.1)
        while not self.stopped:
            try:
                data, _ = source.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if record:
                self.from_cloud.append(data)
            sink.sendto(data, destination)

    def request_message(self, marker):
        """The message of the last single-fragment data datagram from cloud holding `marker`."""
        for decoded in reversed(decode_datagrams(list(self.from_cloud))):
            message = bytes.fromhex(decoded.get("payload", ""))
            if decoded.get("count") == 1 and marker in message:
                return message
        return None

    def close(self):
        self.stopped = True
        for thread in self.threads:
            thread.join()
        self.to_cloud.close()
        self.to_gateway.close()


def datagram(session, message):
    """`message` as the only message of a new reliable-datagram session (docs/net.md)."""
    return packet("datagram", str(session), message.hex())


class faults(running):
    directory = PIPELINE

    def test_a_killed_node_fails_its_callers_keeps_the_rest_running_and_restarts(self):
        self.session.start_all()
        sensor = self.session.http_url("sensor") + "/read"
        store = self.session.http_url("store") + "/count"
        sensor_token, store_token = token("pipeline", "sensor"), token("pipeline", "store")
        self.assertEqual(post(sensor, "{}", sensor_token)[0], 200)
        self.session.kill_node("field")
        # The call to the dead node is not answered: it fails when its deadline passes, and the
        # export says so (the remote backend's lidl::call_error), not with a made-up reading.
        status, answer = post(sensor, "{}", sensor_token)
        self.assertEqual(status, 504, answer)
        self.assertEqual(answer["error"]["code"], "deadline_passed", answer)
        # The averager's own call to the sensor fails the same way; it returns that error to
        # its caller (a service's error travels back across the channel and the export), and
        # stores nothing.
        average = self.session.http_url("aggregator") + "/average"
        status, answer = post(average, '{"count": 2}', token("pipeline", "aggregator"))
        self.assertEqual(status, 504, answer)
        self.assertEqual(answer["error"]["code"], "deadline_passed", answer)
        self.assertEqual(post(store, "{}", store_token), (200, {"result": 0}))
        self.assertEqual(sorted(self.session.running()), ["cloud", "gateway"])
        self.session.start_node("field")
        status, answer = post(sensor, "{}", sensor_token)
        self.assertEqual(status, 200, answer)
        self.assertGreaterEqual(answer["result"]["sequence"], 1)

    def test_a_replayed_and_a_tampered_request_are_refused(self):
        ports = self.session.ports
        cloud = ("127.0.0.1", ports[("lan", "cloud")])
        gateway = ("127.0.0.1", ports[("lan", "gateway")])
        middle = udp_middle(cloud, gateway)
        self.addCleanup(middle.close)
        # Each side believes the other is at the man in the middle.
        self.session.peer_overrides = {
            ("cloud", "lan", "gateway"): f"127.0.0.1:{middle.port_for_cloud}",
            ("gateway", "lan", "cloud"): f"127.0.0.1:{middle.port_for_gateway}"}
        self.session.start_all()
        sensor = self.session.http_url("sensor") + "/read"
        sensor_token = token("pipeline", "sensor")
        self.assertEqual(post(sensor, "{}", sensor_token),
                         (200, {"result": {"celsius": 20.5, "sequence": 1}}))
        message = middle.request_message(b"sensor")
        self.assertIsNotNone(message, "no request seen on the link")
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(attacker.close)
        attacker.sendto(datagram(0x5EC0_0001, message), gateway)
        tampered = bytearray(message)
        tampered[-40] ^= 0x01   # inside the request token (its last frame or tag)
        attacker.sendto(datagram(0x5EC0_0002, bytes(tampered)), gateway)
        deadline = time.monotonic() + 10
        log = ""
        while time.monotonic() < deadline:
            log = "\n".join(line for line in self.session.lines() if line.startswith("[field"))
            if log.count("request token refused") >= 2:
                break
            time.sleep(0.05)
        self.assertIn("replay", log)
        self.assertEqual(log.count("request token refused"), 2, log)
        # Neither reached the sensor: the next reading is its second.
        self.assertEqual(post(sensor, "{}", sensor_token),
                         (200, {"result": {"celsius": 21.0, "sequence": 2}}))


PLACEMENT_TCP = os.path.join(ROOT, "deploy", "synth", "tests", "placement_tcp")


class tcp(running):
    """deploy/synth/tests/placement_tcp: a (sensor) and b (store) connect to c (aggregator, the
    HTTP exports), which accepts (the name that sorts first connects)."""
    directory = PLACEMENT_TCP

    def wait_for(self, node, text, count):
        """Waits until `node`'s log holds `text` `count` times (the links are made in the
        background: this is a synchronisation, not a timing assertion)."""
        deadline = time.monotonic() + 20
        log = ""
        while time.monotonic() < deadline:
            log = "\n".join(line for line in self.session.lines()
                            if line.startswith(f"[{node}"))
            if log.count(text) >= count:
                return
            time.sleep(0.05)
        self.fail(f"{text!r} not {count} times in the log of {node}:\n{log}")

    def test_tcp_links_come_up_in_any_order_and_again_after_restarts(self):
        session = self.session
        # The connecting nodes first: they retry until c listens.
        session.start_node("a")
        session.start_node("b")
        session.start_node("c")
        from_a = "tcp link to 'a' on 'lan': accepted from"
        from_b = "tcp link to 'b' on 'lan': accepted from"
        self.wait_for("c", from_a, 1)
        self.wait_for("c", from_b, 1)
        self.wait_for("a", "tcp link to 'c' on 'lan': connected to", 1)
        average = session.http_url("aggregator") + "/average"
        count = session.http_url("store") + "/count"
        granted = token("placement_tcp", "aggregator")
        store_token = token("placement_tcp", "store")
        self.assertEqual(post(average, '{"count": 4}', granted), (200, {"result": 21.25}))
        self.assertEqual(post(count, "{}", store_token), (200, {"result": 4}))

        # A connecting node goes away: the averager's reading fails and it answers with that
        # error (the link is known lost: unreachable; not yet: deadline_passed), the store
        # still answers; started again, it connects again (a fresh sensor: 20.5, 21.0).
        session.kill_node("a")
        status, answer = post(average, '{"count": 1}', granted)
        self.assertIn((status, answer["error"]["code"]),
                      [(503, "unreachable"), (504, "deadline_passed")], answer)
        self.assertEqual(post(count, "{}", store_token), (200, {"result": 4}))
        self.wait_for("c", "tcp link to 'a' on 'lan': lost", 1)
        session.start_node("a")
        self.wait_for("c", from_a, 2)
        self.assertEqual(post(average, '{"count": 2}', granted), (200, {"result": 20.75}))
        self.assertEqual(post(count, "{}", store_token), (200, {"result": 6}))

        # Connections that do not name a neighbour c waits for are refused; a length c cannot
        # hold closes the connection; neither disturbs the links.
        lan = int(session.address("lan", "c").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", lan), timeout=10) as stranger:
            stranger.sendall(packet("hello", "mallory", "c"))
            self.assertEqual(stranger.recv(16), b"")
        with socket.create_connection(("127.0.0.1", lan), timeout=10) as stranger:
            stranger.sendall(packet("prefix", str(0x7FFFFFFF)) + b"x" * 16)
            self.assertEqual(stranger.recv(16), b"")
        self.wait_for("c", "refused a connection from 127.0.0.1", 1)
        self.assertEqual(post(average, '{"count": 1}', granted), (200, {"result": 21.5}))

        # The accepting node goes away and comes back: a and b connect again.
        session.kill_node("c")
        self.wait_for("a", "tcp link to 'c' on 'lan': lost", 1)
        session.start_node("c")
        self.wait_for("c", from_a, 3)
        self.wait_for("c", from_b, 2)
        self.assertEqual(post(average, '{"count": 1}', granted), (200, {"result": 22.0}))
        self.assertEqual(post(count, "{}", store_token), (200, {"result": 8}))
        self.assertEqual(sorted(session.running()), ["a", "b", "c"])


def ip_output(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def netns_unavailable():
    """Why this process cannot make network namespaces, or None. Beyond what `ambience run`
    checks (root, `ip`, `ip netns list`), one is made and deleted: in a container without
    CAP_SYS_ADMIN listing works but adding does not, and that is a reason to skip (reported
    as SKIPPED by ctest, deploy/CMakeLists.txt), not a failure of the code under test."""
    why = deployment_run.netns_unavailable()
    if why is not None:
        return why
    probe = f"amb-e2e-probe-{os.getpid()}"
    added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if added.returncode != 0:
        return f"`ip netns add` failed: {(added.stderr or added.stdout).strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, check=True)
    return None


class netns(unittest.TestCase):
    def setUp(self):
        why = netns_unavailable()
        if why is not None:
            self.skipTest(f"network namespaces are not available: {why}")

    def test_the_pipeline_runs_in_network_namespaces_and_leaves_nothing_behind(self):
        description = deployment_run.load_description(BINARY_DIR, "pipeline")
        keys.ensure(ROOT, description, KEY_TOOL)
        spaces = deployment_run.network_namespaces("pipeline", description)
        # What a crashed run would have left: a namespace with a process in it, a root link.
        subprocess.run(["ip", "netns", "add", "amb-pipeline-stale"], check=True)
        subprocess.run(["ip", "link", "add", f"{spaces.tag}h9", "type", "veth", "peer", "name",
                        f"{spaces.tag}x9"], check=True)
        leftover = subprocess.Popen(["ip", "netns", "exec", "amb-pipeline-stale", "sleep", "600"])
        self.addCleanup(leftover.wait)

        session = deployment_run.deployment_run(ROOT, PIPELINE, BINARY_DIR, out=None,
                                                call_timeout_ms=2000, netns=True)
        try:
            session.start_all()
            self.assertIsNotNone(session.netns, session.netns_status)
            self.assertIsNotNone(leftover.wait(10))     # killed by the stale clean-up
            namespaces = ip_output("netns", "list")
            for node in ("field", "gateway", "cloud"):
                self.assertIn(f"amb-pipeline-{node}", namespaces)
            self.assertIn("amb-pipeline--net", namespaces)
            self.assertNotIn("amb-pipeline-stale", namespaces)
            # The manifest's addresses, on the nodes' own interfaces.
            self.assertIn("inet 10.77.0.3/24", ip_output("-n", "amb-pipeline-cloud", "addr"))
            self.assertIn("inet 10.77.0.2/24", ip_output("-n", "amb-pipeline-gateway", "addr"))
            with open(os.path.join(session.state_dir, "cloud.conf"), encoding="utf-8") as file:
                settings = file.read()
            self.assertIn("udp.lan.bind = 10.77.0.3:7700", settings)
            self.assertIn("udp.lan.peer.gateway = 10.77.0.2:7700", settings)
            # The REST call from the host: cloud -lan-> gateway -link (pty)-> field and back.
            average = session.http_url("aggregator") + "/average"
            self.assertTrue(average.startswith("http://10.213."), average)
            self.assertEqual(post(average, '{"count": 4}', token("pipeline", "aggregator")),
                             (200, {"result": 21.25}))
            sensor = session.http_url("sensor") + "/read"
            status, answer = post(sensor, "{}", token("pipeline", "sensor"))
            self.assertEqual(status, 200, answer)
        finally:
            session.stop_all()
        self.assertEqual(session.running(), [])
        self.assertNotIn("amb-pipeline-", ip_output("netns", "list"))
        self.assertNotIn(spaces.tag, ip_output("-o", "link", "show"))
        self.assertNotIn("amb-pipeline-", ip_output("-o", "link", "show"))


    def test_tcp_links_in_network_namespaces(self):
        description = deployment_run.load_description(BINARY_DIR, "placement_tcp")
        keys.ensure(ROOT, description, KEY_TOOL)
        session = deployment_run.deployment_run(ROOT, PLACEMENT_TCP, BINARY_DIR, out=None,
                                                call_timeout_ms=2000, netns=True)
        try:
            session.start_all()
            self.assertIsNotNone(session.netns, session.netns_status)
            with open(os.path.join(session.state_dir, "a.conf"), encoding="utf-8") as file:
                settings = file.read()
            self.assertIn("tcp.lan.peer.c = 10.0.0.3:7800", settings)
            # c accepts a's connection from a's manifest address (the hello's address check).
            accepted = "tcp link to 'a' on 'lan': accepted from 10.0.0.1"
            deadline = time.monotonic() + 20
            while not any(accepted in line for line in session.lines()):
                if time.monotonic() > deadline:
                    self.fail(f"{accepted!r} not in the log after 20 s:\n"
                              + "\n".join(session.lines()))
                time.sleep(0.05)
            self.assertEqual(post(session.http_url("aggregator") + "/average", '{"count": 4}',
                                  token("placement_tcp", "aggregator")),
                             (200, {"result": 21.25}))
            log = "\n".join(session.lines())
            self.assertIn("[c/kernel] tcp link to 'a' on 'lan': accepted from 10.0.0.1", log)
            self.assertIn("[c/kernel] tcp network 'lan': listening at 10.0.0.3:7800", log)
        finally:
            session.stop_all()
        self.assertEqual(session.running(), [])
        self.assertNotIn("amb-placement_tcp-", ip_output("netns", "list"))


IMPORTED = os.path.join(ROOT, "deploy", "synth", "tests", "imported_sensor")
SENSOR_SERVER = os.path.join(BINARY_DIR, "deploy", "imported_sensor", "implementation",
                             "imported_sensor_server")


class http_import(unittest.TestCase):
    """deploy/synth/tests/imported_sensor: the averager's source is import_http("outdoor"),
    served here by sensor_server (the pipeline's sensor behind the HTTP exporter)."""

    def start_service(self):
        process = subprocess.Popen([SENSOR_SERVER, "0"], stdout=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, text=True)
        self.addCleanup(self.stop_service, process)
        lines = dict(process.stdout.readline().split(" ", 1) for _ in range(2))
        return process, lines["url"].strip(), lines["token"].strip()

    @staticmethod
    def stop_service(process):
        if process.poll() is None:
            process.terminate()
            process.wait(10)
        process.stdout.close()

    def test_a_node_imports_an_http_service_and_uses_it(self):
        service, url, service_token = self.start_service()
        # `ambience run` points the import at the service (the manifest's URL is a placeholder).
        overrides = {"AMBIENCE_HTTP_IMPORT_URL_outdoor": url,
                     "AMBIENCE_HTTP_IMPORT_AUTHORIZATION_outdoor": f"Bearer {service_token}"}
        with mock.patch.dict(os.environ, overrides):
            session = start(IMPORTED)
            try:
                session.start_all()
                average = session.http_url("aggregator") + "/average"
                count = session.http_url("store") + "/count"
                granted = token("imported_sensor", "aggregator")
                store_token = token("imported_sensor", "store")
                # Four readings over HTTP (20.5, 21.0, 21.5, 22.0), each appended to the store.
                self.assertEqual(post(average, '{"count": 4}', granted), (200, {"result": 21.25}))
                self.assertEqual(post(count, "{}", store_token), (200, {"result": 4}))
                self.assertEqual(post(average, '{"count": 1}', granted), (200, {"result": 20.0}))
                log = "\n".join(session.lines())
                self.assertIn(f"[cloud/kernel] HTTP import 'outdoor' calls {url}", log)

                # The service goes away: the import's calls fail (connection refused:
                # unreachable), the averager returns that error, which the export answers with,
                # and everything else still answers.
                self.stop_service(service)
                status, answer = post(average, '{"count": 2}', granted)
                self.assertEqual(status, 503, answer)
                self.assertEqual(answer["error"]["code"], "unreachable", answer)
                self.assertEqual(post(count, "{}", store_token), (200, {"result": 5}))
                self.assertEqual(sorted(session.running()), ["cloud"])
            finally:
                session.stop_all()
                path = os.path.join(session.state_dir, "http_import.log")
                with open(path, "w", encoding="utf-8") as file:
                    file.write("\n".join(session.lines()) + "\n")
            self.assertEqual(session.running(), [])


class config(running):
    """Typed instance configuration: each constructor receives its instance's config=."""
    directory = os.path.join(ROOT, "deploy", "synth", "tests", "configured")

    def test_each_instance_reads_as_its_config_asks(self):
        self.session.start_all()
        readings = {}
        for name in ("warm", "cold"):
            url = self.session.http_url(name) + "/read"
            granted = token("configured", name)
            readings[name] = [post(url, "{}", granted)[1]["result"]["celsius"]
                              for _ in range(4)]
        # warm: 30 + 2 * (n mod 3); cold: -5 - 0.25 * n (cycle 0: no repetition).
        self.assertEqual(readings, {"warm": [32.0, 34.0, 30.0, 32.0],
                                    "cold": [-5.25, -5.5, -5.75, -6.0]})


class shared_view(running):
    """A 1 MiB view crosses two groups of one node without a copy (the producer allocates it in
    its group's shareable heap); a private buffer is the control."""
    directory = os.path.join(ROOT, "deploy", "synth", "tests", "shared_view")

    def test_a_view_in_the_shareable_heap_is_read_in_place_by_the_other_group(self):
        self.session.start_all()
        send = self.session.http_url("maker") + "/send"
        granted = token("shared_view", "maker")
        size = 1 << 20
        total = sum(i % 251 for i in range(size))
        status, answer = post(send, f'{{"size": {size}, "from_heap": true}}', granted)
        self.assertEqual(status, 200, answer)
        trip = answer["result"]
        # The viewer read the bytes where the producer wrote them: in the producer's heap,
        # mapped read-only in the viewer's process, at the offset the producer allocated.
        self.assertTrue(trip["in_heap"], trip)
        self.assertEqual(trip["seen"], {"in_shared_mapping": 1, "offset": trip["heap_offset"],
                                        "size": size, "sum": total})
        # (A copy could not lie there: the producer's buffer holds that place during the call.)
        # Control: a private copy of the same buffer cannot be read in place; the channel copies
        # it into the producer's heap, at another offset, while the buffer is still held.
        status, answer = post(send, f'{{"size": {size}, "from_heap": false}}', granted)
        self.assertEqual(status, 200, answer)
        trip = answer["result"]
        self.assertTrue(trip["in_heap"], trip)
        self.assertEqual((trip["seen"]["size"], trip["seen"]["sum"]), (size, total))
        self.assertEqual(trip["seen"]["in_shared_mapping"], 1, trip)
        self.assertNotEqual(trip["seen"]["offset"], trip["heap_offset"], trip)


class node_services(running):
    """A service of a generated node uses its node's clock and log (slots "node:clock" and
    "node:log" in the manifest)."""
    directory = os.path.join(ROOT, "deploy", "synth", "tests", "node_services")

    def test_a_service_reads_the_node_clock_and_writes_the_node_log(self):
        self.session.start_all()
        stamp = self.session.http_url("stamp")
        granted = token("node_services", "stamp")
        before = time.time_ns()
        status, answer = post(stamp + "/now", "{}", granted)
        after = time.time_ns()
        self.assertEqual(status, 200, answer)
        self.assertTrue(before <= answer["result"] <= after, (before, answer, after))
        self.assertEqual(post(stamp + "/note", '{"text": "hello \\"node\\"\\n@kernel ready"}',
                              granted), (200, {"result": None}))
        # The kernel writes the note under the group's name, escaped: one line, no forgery.
        wanted = ('[box/stamping] {"group":"stamping","level":"info",'
                  '"text":"hello \\"node\\"\\n@kernel ready"}')
        deadline = time.monotonic() + 10
        while wanted not in self.session.lines() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(wanted, self.session.lines())


if __name__ == "__main__":
    unittest.main()
