"""Analysis of benchmark `deploy` (issues 8 and 13): Ambience deployed between processes, in one
run of bench/deploy_bench.cpp. Every row carries `cpu_ns`: CPU ns per call summed over the caller
and the serving child (bench/support/process_cpu.hpp).

Parts (names as bench/deploy_bench.cpp registers them):
1. add/SYSTEM (one call per iteration) and inflight/SYSTEM/64 (a batch of 64 calls in flight):
   the small call add(u64, u64) -> u64 between two processes on 127.0.0.1. SYSTEM:
   ambience_udp_block (two hosted remote nodes over UDP whose group loops sleep in poll() as soon
   as a pass finds nothing to do: spin 0), capnp_tcp (Cap'n Proto RPC over one TCP connection,
   kj async io, which sleeps in epoll_wait): both block, in both modes. ambience_udp_spin50 (the
   deployed default: loops poll 50 us before sleeping) is reported as figures only, with its CPU
   per call beside its latency.
2. caplets/callers:N: sequential blocking calls round-robin from N calling nodes, each with its
   own credential, to a serving node sized for N callers (N replay roots, N remembered
   credentials). The node's measurement hook (remote::node_config::meter) times its CAPLets work
   on every request inside its real serving path (token parse, structural checks, verified
   credential lookup, verify_request, replay check, recording the sequence number), CLOCK_MONOTONIC
   around each part, spans above 32 us (only time off the CPU: a full verification takes a few
   us) counted as 32 us. Share = that time per request / the serving process's CPU time per
   request (its CPU clock over the same window). The uncapped and median-span shares are figures.
   caplets_miss/callers:16/cache:1: 16 callers over a node that remembers one credential, so
   every request is a verified-credential miss (its whole credential verified again).
3. REST: `wrk -t1 -c16 -d5s --latency` against the HTTP export of the same adder (a capability
   token in the Authorization header), its output in bench-results/deploy.wrk.txt; the server's
   CPU time during the load (its process CPU clock) and wrk's (getrusage of the reaped child).

Every ratio comes from one run on a shared machine (medians over interleaved repetitions)."""

import os
import re
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRK = os.path.join(ROOT, "bench-results", "deploy.wrk.txt")
WRK_SMOKE = os.path.join(tempfile.gettempdir(), "ambience-deploy-smoke.wrk.txt")
WRK_SECONDS = 5
BATCH = 64

ARGS = ["--benchmark_repetitions=5", "--benchmark_min_time=0.5",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true",
        f"--deploy_wrk_out={WRK}", f"--deploy_wrk_seconds={WRK_SECONDS}"]
# The harness's tiny iteration counts; the program shortens wrk to 1 s by itself.
SMOKE_ARGS = ["--benchmark_min_time=0.001", "--benchmark_repetitions=1",
              f"--deploy_wrk_out={WRK_SMOKE}"]

TARGETS = ["capnp_tcp_vs_ambience_udp_cpu_per_call", "capnp_tcp_vs_ambience_udp_rtt_blocking",
           "capnp_tcp_vs_ambience_udp_64_in_flight", "caplets_share_of_request_cpu"]

SYSTEMS = ["ambience_udp_block", "capnp_tcp", "ambience_udp_spin50"]
LABELS = {"ambience_udp_block": "Ambience UDP\nblocking", "capnp_tcp": "Cap'n Proto TCP\nblocking",
          "ambience_udp_spin50": "Ambience UDP\nspin 50 us"}
CALLERS = [1, 16, 256]
CAPLETS_RUNS = [(f"caplets/callers:{n}", f"{n}_callers") for n in CALLERS] + [
    ("caplets_miss/callers:16/cache:1", "miss_16_callers_cache_1")]
SERVER_COUNTERS = ["server_cpu_ns_per_request", "server_sleeps_per_request",
                   "caplets_ns_per_request", "caplets_share", "caplets_uncapped_share",
                   "caplets_median_share", "caplets_verify_ns_per_request",
                   "caplets_record_ns_per_request", "hit_verify_ns", "hit_median_ns",
                   "miss_verify_ns", "miss_median_ns", "long_spans", "meter_empty_part_ns"]


def find(table, name):
    """The entry of benchmark `name` (Google Benchmark adds suffixes such as /real_time)."""
    for key, value in table.items():
        if key == name or key.startswith(name + "/"):
            return value
    return None


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}  # to milliseconds


def duration_ms(text):
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    return float(match.group(1)) * UNITS[match.group(2)] if match else None


def parse_wrk(text):
    """Requests/s, latency (avg, stdev, max, percentiles) in ms, requests, non-2xx responses and
    socket errors from wrk's output (with --latency), plus the lines deploy_bench adds."""
    found = {}
    match = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if match:
        found["avg"], found["stdev"], found["max"] = (duration_ms(g) for g in match.groups())
    for percent, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M):
        found[f"p{percent}"] = duration_ms(value)
    match = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s)", text, re.M)
    if match:
        found["requests"] = int(match.group(1))
        found["seconds"] = float(match.group(2)) * UNITS[match.group(3)] / 1e3
    match = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if match:
        found["requests_per_s"] = float(match.group(1))
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    found["non_2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    found["socket_errors"] = sum(int(g) for g in match.groups()) if match else 0
    for key in ("server_cpu_ns", "wrk_cpu_ns"):
        match = re.search(rf"^deploy_bench: {key}=(\d+)", text, re.M)
        if match:
            found[key] = int(match.group(1))
    found["answer_after_load_ok"] = "deploy_bench: answer_after_load=ok" in text
    return found


def read_wrk():
    """The most recent wrk output (a smoke run writes its own file, a full run bench-results')."""
    present = [p for p in (WRK, WRK_SMOKE) if os.path.exists(p)]
    if not present:
        print(f"deploy: no wrk output in {os.path.relpath(WRK, ROOT)}: REST not measured")
        return {}
    with open(max(present, key=os.path.getmtime), encoding="utf-8") as f:
        return parse_wrk(f.read())


def analyse(results, counters):
    figures = {}

    def put(name, value):
        if value is not None:
            figures[name] = value
        return value

    # Part 1: the small call, wall clock and CPU (every process) per call.
    rtt, cpu_seq, per_call_64, cpu_64 = {}, {}, {}, {}
    for system in SYSTEMS:
        rtt[system] = put(f"small_call_rtt_{system}_ns", find(results, f"add/{system}"))
        cpu_seq[system] = put(f"small_call_cpu_ns_per_call_{system}",
                              (find(counters, f"add/{system}") or {}).get("cpu_ns"))
        batch = find(results, f"inflight/{system}/{BATCH}")
        per_call_64[system] = put(f"ns_per_call_64_in_flight_{system}",
                                  batch / BATCH if batch else None)
        cpu_64[system] = put(f"cpu_ns_per_call_64_in_flight_{system}",
                             (find(counters, f"inflight/{system}/{BATCH}") or {}).get("cpu_ns"))
        if rtt[system]:
            put(f"calls_per_s_sequential_{system}", 1e9 / rtt[system])
        if batch:
            put(f"calls_per_s_64_in_flight_{system}", BATCH * 1e9 / batch)
    put("capnp_tcp_vs_ambience_udp_cpu_per_call",
        ratio(cpu_seq["capnp_tcp"], cpu_seq["ambience_udp_block"]))
    put("capnp_tcp_vs_ambience_udp_rtt_blocking",
        ratio(rtt["capnp_tcp"], rtt["ambience_udp_block"]))
    put("capnp_tcp_vs_ambience_udp_64_in_flight",
        ratio(per_call_64["capnp_tcp"], per_call_64["ambience_udp_block"]))
    put("capnp_tcp_vs_ambience_udp_cpu_per_call_64_in_flight",
        ratio(cpu_64["capnp_tcp"], cpu_64["ambience_udp_block"]))
    # The deployed default (spinning loops) beside Cap'n Proto blocking: latency bought with CPU.
    put("capnp_tcp_block_vs_ambience_udp_spin50_rtt",
        ratio(rtt["capnp_tcp"], rtt["ambience_udp_spin50"]))
    put("capnp_tcp_block_vs_ambience_udp_spin50_cpu_per_call",
        ratio(cpu_seq["capnp_tcp"], cpu_seq["ambience_udp_spin50"]))
    for system in ("ambience_udp_block", "capnp_tcp"):
        put(f"{system}_64_in_flight_vs_sequential", ratio(rtt[system], per_call_64[system]))

    # Part 2: CAPLets in the serving node's real path, and the serving node's CPU per request.
    server = {}
    for name, label in CAPLETS_RUNS:
        values = find(counters, name) or {}
        server[label] = values
        put(f"caplets_rtt_ns_{label}", find(results, name))
        put(f"caplets_run_cpu_ns_per_call_{label}", values.get("cpu_ns"))
        for key in SERVER_COUNTERS:
            if key in values:
                put(f"{key}_{label}", values[key])
    share = server["16_callers"].get("caplets_share")
    put("caplets_share_of_request_cpu", share)
    hit = server["16_callers"].get("hit_verify_ns")
    miss = server["miss_16_callers_cache_1"].get("miss_verify_ns")
    put("verified_credential_miss_ns", miss)
    put("verified_credential_hit_ns_16_callers", hit)
    put("verified_credential_miss_extra_ns", miss - hit if miss is not None and hit else None)
    # The serving node's CPU per request without the hook (blocking, one caller): what the
    # hook's clock reads add to the denominator is the difference with 1_callers.
    put("server_cpu_ns_per_request_unmetered_1_caller",
        (find(counters, "add/ambience_udp_block") or {}).get("server_cpu_ns_per_request"))

    # Part 3: REST under wrk.
    rest = read_wrk()
    put("rest_requests_per_s", rest.get("requests_per_s"))
    for key in ("avg", "p50", "p75", "p90", "p99", "max"):
        value = rest.get(key)
        put(f"rest_latency_{key}_us", value * 1e3 if value is not None else None)
    put("rest_requests", rest.get("requests"))
    if rest:
        put("rest_non_2xx_responses", rest.get("non_2xx", 0))
        put("rest_socket_errors", rest.get("socket_errors", 0))
        put("rest_answer_after_load_ok", 1 if rest.get("answer_after_load_ok") else 0)
        if rest.get("requests"):
            for key, name in (("server_cpu_ns", "rest_server_cpu_ns_per_call"),
                              ("wrk_cpu_ns", "rest_wrk_cpu_ns_per_call")):
                if rest.get(key) is not None:
                    put(name, rest[key] / rest["requests"])

    targets = []

    def target(name, op, bound):
        # A value that could not be measured is kept: the runner shows it MISSING.
        targets.append({"name": name, "value": figures.get(name), "op": op, "target": bound})

    target("capnp_tcp_vs_ambience_udp_cpu_per_call", ">=", 2.0)
    target("capnp_tcp_vs_ambience_udp_rtt_blocking", ">=", 2.0)
    target("capnp_tcp_vs_ambience_udp_64_in_flight", ">=", 2.0)
    target("caplets_share_of_request_cpu", "<=", 0.05)

    print_tables(rtt, cpu_seq, per_call_64, cpu_64, server, rest)
    return figures, targets, [
        lambda plt, prefix: plot_calls(plt, prefix, rtt, cpu_seq, per_call_64, cpu_64),
        lambda plt, prefix: plot_cpu(plt, prefix, server)]


def cell(value, digits=1, width=12):
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def print_tables(rtt, cpu_seq, per_call_64, cpu_64, server, rest):
    print("\ndeploy: the small call between two processes on 127.0.0.1 (medians; CPU: both "
          "processes)")
    print(f"  {'system':<22}{'seq. us':>10}{'CPU us':>10}{'64 in flight us':>17}{'CPU us':>10}")
    for system in SYSTEMS:
        seq, inflight = rtt[system], per_call_64[system]
        print(f"  {system:<22}{cell(seq and seq / 1e3, 1, 10)}"
              f"{cell(cpu_seq[system] and cpu_seq[system] / 1e3, 1, 10)}"
              f"{cell(inflight and inflight / 1e3, 2, 17)}"
              f"{cell(cpu_64[system] and cpu_64[system] / 1e3, 2, 10)}")
    print("\ndeploy: CAPLets in the serving node's real path (ns per request; share of the "
          "serving process's CPU)")
    print(f"  {'run':<26}{'server CPU':>11}{'CAPLets':>9}{'share':>8}{'uncapped':>10}"
          f"{'median':>8}{'hit ns':>8}{'miss ns':>9}")
    for _, label in CAPLETS_RUNS:
        v = server[label]
        print(f"  {label:<26}{cell(v.get('server_cpu_ns_per_request'), 0, 11)}"
              f"{cell(v.get('caplets_ns_per_request'), 0, 9)}{cell(v.get('caplets_share'), 3, 8)}"
              f"{cell(v.get('caplets_uncapped_share'), 3, 10)}"
              f"{cell(v.get('caplets_median_share'), 3, 8)}{cell(v.get('hit_verify_ns'), 0, 8)}"
              f"{cell(v.get('miss_verify_ns'), 0, 9)}")
    if rest:
        print("\ndeploy: REST through the HTTP export under wrk -t1 -c16 --latency")
        print(f"  requests/s {cell(rest.get('requests_per_s'), 0)}   latency us: avg "
              f"{cell(rest.get('avg') and rest['avg'] * 1e3, 0, 6)}, p50 "
              f"{cell(rest.get('p50') and rest['p50'] * 1e3, 0, 6)}, p99 "
              f"{cell(rest.get('p99') and rest['p99'] * 1e3, 0, 6)}; non-2xx "
              f"{rest.get('non_2xx', 0)}, socket errors {rest.get('socket_errors', 0)}")
    print()


def bars(axes, labels, values, colours, digits):
    axes.bar(range(len(values)), values, color=colours)
    for index, value in enumerate(values):
        axes.text(index, value, f"{value:,.{digits}f}", ha="center", va="bottom", fontsize=7)
    axes.set_xticks(range(len(values)), labels, fontsize=7)


def plot_calls(plt, prefix, rtt, cpu_seq, per_call_64, cpu_64):
    figure, axes = plt.subplots(1, 2, figsize=(13, 5))
    for panel, (title, wall, cpu) in zip(axes, (("sequential", rtt, cpu_seq),
                                                ("64 calls in flight", per_call_64, cpu_64))):
        labels, values, colours = [], [], []
        for index, system in enumerate(SYSTEMS):
            for kind, table, shade in (("wall", wall, f"C{index}"), ("CPU", cpu, "0.6")):
                if table[system]:
                    labels.append(f"{LABELS[system]}\n{kind}")
                    values.append(table[system] / 1e3)
                    colours.append(shade)
        bars(panel, labels, values, colours, 1)
        panel.set_ylabel("µs per call (CPU: both processes)")
        panel.set_title(title)
    figure.suptitle("deploy: add(u64, u64) -> u64 between two processes on 127.0.0.1")
    figure.tight_layout()
    path = f"{prefix}_calls.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return [path]


def plot_cpu(plt, prefix, server):
    runs = [(label, server[label]) for _, label in CAPLETS_RUNS
            if "server_cpu_ns_per_request" in server[label]]
    if not runs:
        return []
    figure, axes = plt.subplots(figsize=(8, 4.5))
    labels = [label.replace("_", " ") for label, _ in runs]
    caplets = [v.get("caplets_ns_per_request", 0) / 1e3 for _, v in runs]
    rest = [v["server_cpu_ns_per_request"] / 1e3 - c for (_, v), c in zip(runs, caplets)]
    axes.bar(range(len(runs)), caplets, label="CAPLets (timed inside the node)", color="C3")
    axes.bar(range(len(runs)), rest, bottom=caplets, label="everything else (system calls, "
             "transport, envelope, dispatch, reply)", color="C0")
    for index, (_, v) in enumerate(runs):
        axes.text(index, v["server_cpu_ns_per_request"] / 1e3, f"{v.get('caplets_share', 0):.3f}",
                  ha="center", va="bottom")
    axes.set_xticks(range(len(runs)), labels, fontsize=8)
    axes.set_ylabel("serving process CPU per request, µs")
    axes.set_title("deploy: CAPLets share of a remote request's CPU on the serving node\n"
                   "(blocking loops; target ≤ 0.05 with 16 callers)")
    axes.legend(fontsize=7)
    figure.tight_layout()
    path = f"{prefix}_cpu.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return [path]
