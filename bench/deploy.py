"""Analysis of benchmark `deploy` (issue 8): Ambience deployed between processes, in one run of
bench/deploy_bench.cpp.

Parts (names as bench/deploy_bench.cpp registers them):
1. add/SYSTEM (one call per iteration) and inflight/SYSTEM/64 (a batch of 64 calls in flight):
   the small call add(u64, u64) -> u64 between two processes. SYSTEM: ambience_udp (two hosted
   remote nodes over UDP on 127.0.0.1, group loops spinning 50 us before sleeping: the deployed
   default), ambience_udp_nospin (the same with loops that sleep at once), capnp_tcp (Cap'n Proto
   RPC over TCP on 127.0.0.1, kj async io). Wall-clock medians.
2. Counters of the Ambience runs (from bench-results/deploy.raw.json, median over repetitions):
   the serving child's CPU time over the timed loop per request (CLOCK_PROCESS_CPUTIME_ID, and
   getrusage's user/system split), and the CPU time of CAPLets alone on the same requests,
   measured in the child after the loop (token parse, verify_request with a fresh replay store in
   order, holder tag), per request. Their ratio is the CAPLets share of a request's CPU time.
   The target uses the sequential run of the deployed configuration (ambience_udp: spinning
   loops), the same run as the round-trip target; every run's share is reported beside it.
3. REST: `wrk -t1 -c16 -d5s --latency` against the HTTP export of the same adder (a capability
   token in the Authorization header), its output in bench-results/deploy.wrk.txt; the server's
   CPU time during the load (its process CPU clock) per call.

Every ratio comes from one run on a shared machine."""

import json
import os
import re
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAW = os.path.join(ROOT, "bench-results", "deploy.raw.json")
WRK = os.path.join(ROOT, "bench-results", "deploy.wrk.txt")
WRK_SECONDS = 5

ARGS = ["--benchmark_repetitions=5", "--benchmark_min_time=0.5",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true",
        f"--deploy_wrk_out={WRK}", f"--deploy_wrk_seconds={WRK_SECONDS}"]

SYSTEMS = ["ambience_udp", "ambience_udp_nospin", "capnp_tcp"]
LABELS = {"ambience_udp": "Ambience UDP", "ambience_udp_nospin": "Ambience UDP\nno spin",
          "capnp_tcp": "Cap'n Proto\nTCP"}
AMBIENCE = ["ambience_udp", "ambience_udp_nospin"]
BATCH = 64
COUNTERS = ["server_cpu_ns_per_request", "server_user_ns_per_request",
            "server_system_ns_per_request", "server_sleeps_per_request",
            "caplets_ns_per_request", "caplets_share", "requests"]


def find(results, name):
    """Median ns of benchmark `name` (with or without Google Benchmark's suffixes), or None when
    it did not run or failed."""
    for key, value in results.items():
        if key == name or key.startswith(name + "/"):
            return value if value > 0 else None
    return None


def counters(name):
    """Median of each counter over the repetitions of benchmark `name`, from the raw report."""
    try:
        with open(RAW, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        return {}
    samples = {}
    for entry in report.get("benchmarks", []):
        if entry.get("run_type") == "aggregate" or entry.get("error_occurred"):
            continue
        run = entry.get("run_name", entry["name"])
        if run != name and not run.startswith(name + "/"):
            continue
        for key in COUNTERS:
            if key in entry:
                samples.setdefault(key, []).append(float(entry[key]))
    return {key: statistics.median(values) for key, values in samples.items()}


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
    match = re.search(r"^deploy_bench: server_cpu_ns=(\d+)", text, re.M)
    if match:
        found["server_cpu_ns"] = int(match.group(1))
    found["answer_after_load_ok"] = "deploy_bench: answer_after_load=ok" in text
    return found


def analyse(results, counters):
    figures = {}

    def put(name, value):
        if value is not None:
            figures[name] = value
        return value

    # Ambience's loops spin before sleeping and the machine is shared: its load moves the cells.
    put("load_average_1min_at_end", os.getloadavg()[0])

    # Part 1: the small call.
    rtt = {}
    per_call_64 = {}
    for system in SYSTEMS:
        rtt[system] = put(f"small_call_rtt_{system}_ns", find(results, f"add/{system}"))
        if rtt[system]:
            put(f"calls_per_s_sequential_{system}", 1e9 / rtt[system])
        batch = find(results, f"inflight/{system}/{BATCH}")
        per_call_64[system] = put(f"ns_per_call_64_in_flight_{system}",
                                  batch / BATCH if batch else None)
        if batch:
            put(f"calls_per_s_64_in_flight_{system}", BATCH * 1e9 / batch)
    put("capnp_tcp_vs_ambience_udp_rtt", ratio(rtt["capnp_tcp"], rtt["ambience_udp"]))
    put("capnp_tcp_vs_ambience_udp_nospin_rtt",
        ratio(rtt["capnp_tcp"], rtt["ambience_udp_nospin"]))
    put("capnp_tcp_vs_ambience_udp_64_in_flight",
        ratio(per_call_64["capnp_tcp"], per_call_64["ambience_udp"]))
    put("capnp_tcp_vs_ambience_udp_nospin_64_in_flight",
        ratio(per_call_64["capnp_tcp"], per_call_64["ambience_udp_nospin"]))
    put("ambience_udp_64_in_flight_vs_sequential",
        ratio(rtt["ambience_udp"], per_call_64["ambience_udp"]))
    put("capnp_tcp_64_in_flight_vs_sequential",
        ratio(rtt["capnp_tcp"], per_call_64["capnp_tcp"]))

    # Part 2: the serving node's CPU time per request and the CAPLets share of it.
    cpu = {}
    for system in AMBIENCE:
        for run, name in (("sequential", f"add/{system}"),
                          (f"{BATCH}_in_flight", f"inflight/{system}/{BATCH}")):
            values = counters(name)
            cpu[system, run] = values
            for key in COUNTERS:
                if key in values:
                    put(f"{key}_{system}_{run}", values[key])
    target_run = cpu["ambience_udp", "sequential"]
    share = put("caplets_share_of_request_cpu", target_run.get("caplets_share"))
    shares = [v["caplets_share"] for v in cpu.values() if "caplets_share" in v]
    put("caplets_share_max_over_runs", max(shares) if shares else None)

    # Part 3: REST under wrk.
    rest = {}
    try:
        with open(WRK, encoding="utf-8") as f:
            rest = parse_wrk(f.read())
    except OSError:
        print(f"deploy: no wrk output in {os.path.relpath(WRK, ROOT)}: REST not measured")
    put("rest_requests_per_s", rest.get("requests_per_s"))
    for key in ("avg", "p50", "p75", "p90", "p99", "max"):
        value = rest.get(key)
        put(f"rest_latency_{key}_us", value * 1e3 if value is not None else None)
    put("rest_requests", rest.get("requests"))
    if rest:
        put("rest_non_2xx_responses", rest.get("non_2xx", 0))
        put("rest_socket_errors", rest.get("socket_errors", 0))
        put("rest_answer_after_load_ok", 1 if rest.get("answer_after_load_ok") else 0)
        if rest.get("server_cpu_ns") and rest.get("requests"):
            put("rest_server_cpu_ns_per_call", rest["server_cpu_ns"] / rest["requests"])
            put("rest_server_cpu_share_of_wall",
                rest["server_cpu_ns"] / 1e9 / rest["seconds"] if rest.get("seconds") else None)

    targets = []

    def target(name, value, op, bound):
        # A value that could not be measured is kept: the runner shows it MISSING.
        targets.append({"name": name, "value": value, "op": op, "target": bound})

    target("caplets_share_of_request_cpu", share, "<=", 0.05)
    target("capnp_tcp_vs_ambience_udp_rtt", figures.get("capnp_tcp_vs_ambience_udp_rtt"),
           ">=", 2.0)
    target("capnp_tcp_vs_ambience_udp_64_in_flight",
           figures.get("capnp_tcp_vs_ambience_udp_64_in_flight"), ">=", 2.0)

    print_tables(rtt, per_call_64, cpu, rest)
    return figures, targets, [lambda plt, prefix: plot_calls(plt, prefix, rtt, per_call_64, rest),
                              lambda plt, prefix: plot_cpu(plt, prefix, cpu)]


def cell(value, digits=1, width=12):
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def print_tables(rtt, per_call_64, cpu, rest):
    print("\ndeploy: the small call between two processes on 127.0.0.1 (median wall clock)")
    print(f"  {'system':<22}{'sequential us':>14}{'calls/s':>12}{'64 in flight':>14}"
          f"{'calls/s':>12}")
    for system in SYSTEMS:
        seq, inflight = rtt[system], per_call_64[system]
        print(f"  {system:<22}{cell(seq and seq / 1e3, 1, 14)}{cell(seq and 1e9 / seq, 0)}"
              f"{cell(inflight and inflight / 1e3, 1, 14)}{cell(inflight and 1e9 / inflight, 0)}")
    print("  (64 in flight: us per call)")
    print("\ndeploy: the serving node's CPU time per request (ns) and the CAPLets share")
    print(f"  {'run':<34}{'server CPU':>11}{'user':>8}{'system':>8}{'sleeps':>8}"
          f"{'CAPLets':>9}{'share':>8}")
    for (system, run), values in cpu.items():
        mark = " (target)" if (system, run) == ("ambience_udp", "sequential") else ""
        print(f"  {system + ' ' + run + mark:<34}{cell(values.get('server_cpu_ns_per_request'), 0, 11)}"
              f"{cell(values.get('server_user_ns_per_request'), 0, 8)}"
              f"{cell(values.get('server_system_ns_per_request'), 0, 8)}"
              f"{cell(values.get('server_sleeps_per_request'), 2, 8)}"
              f"{cell(values.get('caplets_ns_per_request'), 0, 9)}"
              f"{cell(values.get('caplets_share'), 3, 8)}")
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


def plot_calls(plt, prefix, rtt, per_call_64, rest):
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(13, 5))
    labels, values, colours = [], [], []
    for index, system in enumerate(SYSTEMS):
        if rtt[system]:
            labels.append(f"{LABELS[system]}\nsequential")
            values.append(rtt[system] / 1e3)
            colours.append(f"C{index}")
    for key in ("avg", "p50", "p99"):
        if rest.get(key) is not None:
            labels.append(f"REST {key}\nwrk, 16 conn.")
            values.append(rest[key] * 1e3)
            colours.append("C3")
    bars(latency, labels, values, colours, 1)
    latency.set_yscale("log")
    latency.set_ylabel("latency, µs (log scale)")
    latency.set_title("Latency of one call")
    labels, values, colours = [], [], []
    for index, system in enumerate(SYSTEMS):
        for run, ns in (("sequential", rtt[system]), ("64 in flight", per_call_64[system])):
            if ns:
                labels.append(f"{LABELS[system]}\n{run}")
                values.append(1e9 / ns)
                colours.append(f"C{index}")
    if rest.get("requests_per_s"):
        labels.append("REST\nwrk, 16 conn.")
        values.append(rest["requests_per_s"])
        colours.append("C3")
    bars(throughput, labels, values, colours, 0)
    throughput.set_ylabel("calls/s")
    throughput.set_title("Throughput")
    figure.suptitle("deploy: add(u64, u64) -> u64 between two processes on 127.0.0.1")
    figure.tight_layout()
    path = f"{prefix}_calls.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return [path]


def plot_cpu(plt, prefix, cpu):
    runs = [(key, values) for key, values in cpu.items() if "server_cpu_ns_per_request" in values]
    if not runs:
        return []
    figure, axes = plt.subplots(figsize=(8, 4.5))
    labels = [f"{LABELS[system]}\n{run.replace('_', ' ')}" for (system, run), _ in runs]
    caplets = [values.get("caplets_ns_per_request", 0) / 1e3 for _, values in runs]
    rest = [values["server_cpu_ns_per_request"] / 1e3 - c for (_, values), c in zip(runs, caplets)]
    axes.bar(range(len(runs)), caplets, label="CAPLets verification (token parse, "
             "verify_request, holder tag)", color="C3")
    axes.bar(range(len(runs)), rest, bottom=caplets, label="everything else (syscalls, "
             "transport, envelope, dispatch, reply)", color="C0")
    for index, (_, values) in enumerate(runs):
        axes.text(index, values["server_cpu_ns_per_request"] / 1e3,
                  f"{values.get('caplets_share', 0):.3f}", ha="center", va="bottom")
    axes.set_xticks(range(len(runs)), labels, fontsize=8)
    axes.set_ylabel("serving process CPU per request, µs")
    axes.set_title("deploy: CAPLets share of a remote request's CPU time on the serving node\n"
                   "(target ≤ 0.05 on Ambience UDP sequential)")
    axes.legend(fontsize=7)
    figure.tight_layout()
    path = f"{prefix}_cpu.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return [path]
