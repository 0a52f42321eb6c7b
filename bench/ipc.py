"""Analysis of benchmark `ipc` (issue 7): Ambience's calls between processes (channels of the
hosted node, bench/ipc_bench.cpp) beside baselines in real child processes, in one run.

Parts (names as bench/ipc_bench.cpp registers them):
1. scalars/FAMILY/BYTES/SYSTEM: 8…128 bytes of uniform (u64) or mixed scalars, sequential calls;
   SYSTEM static, dynamic, user (channel strategies) or pipe (the same lidl serialisation as the
   user strategy over two pipes). scalars64/…: the channel strategies with 64 calls in flight
   (time per batch of 64). The targets use the sequential calls.
2. buffer/BYTES/SYSTEM: buffer(span<u8>) whose callee reads the first and last byte only;
   static_heap (the buffer is in the caller's shareable heap: zero copy), static_copy (an
   ordinary buffer, copied once), user, pipe.
3. add/SYSTEM and inflight/SYSTEM/N: the small call (two u64 -> u64), sequential and with N in
   flight, Ambience (static strategy) against the shared-memory + eventfd floor, a pipe and
   Cap'n Proto RPC; add/ambience_nospin: Ambience with group loops that never spin.
4. resolver/PLACEMENT/KIND/C (a batch of 2048 resolutions with C concurrent clients) and
   memory/KIND/C (bytes per request in flight, measured in the front resolver's process).

Every ratio comes from one run on a shared machine."""

import os
import statistics

ARGS = ["--benchmark_repetitions=5", "--benchmark_min_time=0.05",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]

FAMILIES = ["uniform", "mixed"]
SCALAR_SIZES = [8, 16, 32, 64, 128]
STRATEGIES = ["static", "dynamic", "user", "pipe"]
BUFFER_SIZES = [64, 1024, 4000, 4096, 65536, 1 << 20]
BUFFER_SYSTEMS = ["static_heap", "static_copy", "user", "pipe"]
SMALL_SYSTEMS = ["ambience", "eventfd", "pipe", "capnp"]
IN_FLIGHT = [16, 64]
CONCURRENCY = [1, 4, 16, 64, 256]
PLACEMENTS = ["in_group", "own_process"]
KINDS = ["coroutine", "fiber"]
RESOLVER_BATCH = 2048


def find(results, name):
    """Median ns of benchmark `name` (with or without Google Benchmark's suffixes), or None when
    it did not run or failed (a failed benchmark reports a time of 0)."""
    for key, value in results.items():
        if key == name or key.startswith(name + "/"):
            return value if value > 0 else None
    return None


def size_label(size):
    if size >= 1 << 20:
        return f"{size >> 20}MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size >> 10}KiB"
    return f"{size}B"


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def cell(value, digits=0):
    return f"{value:>12.{digits}f}" if value is not None else f"{'-':>12}"


def analyse(results, counters):
    figures = {}

    def put(name, value):
        if value is not None:
            figures[name] = value
        return value

    # The machine's load when the run ended: Ambience's loops spin before sleeping, so other
    # processes on the (two) cores change its figures far more than the anchors' (see
    # bench/README.md).
    put("load_average_1min_at_end", os.getloadavg()[0])

    # Part 1: scalars.
    scalar = {}
    for family in FAMILIES:
        for size in SCALAR_SIZES:
            for system in STRATEGIES:
                value = find(results, f"scalars/{family}/{size}/{system}")
                scalar[family, size, system] = put(f"scalars_{family}_{size}B_{system}_ns", value)
    all_scalars = [(f, s) for f in FAMILIES for s in SCALAR_SIZES]
    put("static_vs_user_scalars_avg",
        mean([ratio(scalar[f, s, "user"], scalar[f, s, "static"]) for f, s in all_scalars]))
    put("static_vs_dynamic_scalars_avg",
        mean([ratio(scalar[f, s, "dynamic"], scalar[f, s, "static"]) for f, s in all_scalars]))
    put("static_vs_dynamic_mixed_avg",
        mean([ratio(scalar["mixed", s, "dynamic"], scalar["mixed", s, "static"])
              for s in SCALAR_SIZES]))
    put("static_vs_dynamic_uniform_avg",
        mean([ratio(scalar["uniform", s, "dynamic"], scalar["uniform", s, "static"])
              for s in SCALAR_SIZES]))
    scalar64 = {}
    for family in FAMILIES:
        for size in SCALAR_SIZES:
            for system in STRATEGIES[:3]:
                value = find(results, f"scalars64/{family}/{size}/{system}")
                scalar64[family, size, system] = put(
                    f"scalars_{family}_{size}B_{system}_ns_per_call_64_in_flight",
                    value / 64 if value else None)
    put("static_vs_user_scalars_avg_64_in_flight",
        mean([ratio(scalar64[f, s, "user"], scalar64[f, s, "static"]) for f, s in all_scalars]))
    put("static_vs_dynamic_mixed_avg_64_in_flight",
        mean([ratio(scalar64["mixed", s, "dynamic"], scalar64["mixed", s, "static"])
              for s in SCALAR_SIZES]))
    put("pipe_vs_static_scalars_avg",
        mean([ratio(scalar[f, s, "pipe"], scalar[f, s, "static"]) for f, s in all_scalars]))

    # Part 2: buffers.
    buffer = {}
    for size in BUFFER_SIZES:
        for system in BUFFER_SYSTEMS:
            value = find(results, f"buffer/{size}/{system}")
            buffer[size, system] = put(f"buffer_{size_label(size)}_{system}_ns", value)
    put("call_1mib_vs_64b", ratio(buffer[1 << 20, "static_heap"], buffer[64, "static_heap"]))
    put("pipe_vs_static_1mib", ratio(buffer[1 << 20, "pipe"], buffer[1 << 20, "static_heap"]))
    put("static_copy_vs_heap_1mib",
        ratio(buffer[1 << 20, "static_copy"], buffer[1 << 20, "static_heap"]))
    put("user_vs_static_64kib", ratio(buffer[65536, "user"], buffer[65536, "static_heap"]))
    put("pipe_vs_static_64kib", ratio(buffer[65536, "pipe"], buffer[65536, "static_heap"]))

    # Part 3: the small call.
    sequential = {}
    batches = {}
    for system in SMALL_SYSTEMS:
        sequential[system] = put(f"small_call_rtt_{system}_ns", find(results, f"add/{system}"))
        if sequential[system]:
            put(f"calls_per_s_sequential_{system}", 1e9 / sequential[system])
        for count in IN_FLIGHT:
            batch = find(results, f"inflight/{system}/{count}")
            batches[system, count] = batch
            if batch:
                put(f"calls_per_s_{count}_in_flight_{system}", count * 1e9 / batch)
    put("rtt_vs_eventfd_floor", ratio(sequential["ambience"], sequential["eventfd"]))
    # The floor sleeps in read() for every answer; Ambience's loops spin 50 us first. The same
    # call with loops that sleep at once shows what the channel costs when both sides sleep.
    nospin = put("small_call_rtt_ambience_nospin_ns", find(results, "add/ambience_nospin"))
    put("rtt_nospin_vs_eventfd_floor", ratio(nospin, sequential["eventfd"]))
    put("capnp_vs_ambience_rtt", ratio(sequential["capnp"], sequential["ambience"]))
    put("calls_per_s_64_in_flight", figures.get("calls_per_s_64_in_flight_ambience"))

    # Part 4: the resolver.
    throughput = {}
    for placement in PLACEMENTS:
        for kind in KINDS:
            for c in CONCURRENCY:
                batch = find(results, f"resolver/{placement}/{kind}/{c}")
                value = RESOLVER_BATCH * 1e9 / batch if batch else None
                throughput[placement, kind, c] = put(
                    f"resolver_{placement}_{kind}_c{c}_requests_per_s", value)
    in_group_ratios = {}
    for kind in KINDS:
        for c in CONCURRENCY:
            r = ratio(throughput["in_group", kind, c], throughput["own_process", kind, c])
            in_group_ratios[kind, c] = put(f"in_group_vs_cross_{kind}_c{c}", r)
    coroutine_ratios = [in_group_ratios["coroutine", c] for c in CONCURRENCY
                        if in_group_ratios["coroutine", c] is not None]
    # The thesis reports "up to 10x": the best ratio over the concurrencies (coroutine fronts);
    # the mean is reported beside it.
    put("in_group_vs_cross_resolver_throughput", max(coroutine_ratios) if coroutine_ratios else None)
    put("in_group_vs_cross_resolver_throughput_mean", mean(coroutine_ratios))
    memory = {}
    for kind in KINDS:
        for c in CONCURRENCY:
            memory[kind, c] = put(f"memory_{kind}_c{c}_bytes_per_request",
                                  find(results, f"memory/{kind}/{c}"))
    put("fiber_vs_coroutine_bytes_per_request",
        mean([ratio(memory["fiber", c], memory["coroutine", c]) for c in CONCURRENCY]))
    put("fiber_resident_stack_bytes", find(results, "memory/fiber_resident/64"))
    put("coroutine_vs_fiber_throughput_own_process_avg",
        mean([ratio(throughput["own_process", "coroutine", c],
                    throughput["own_process", "fiber", c]) for c in CONCURRENCY]))

    def target(name, op, goal):
        value = figures.get(name)
        return {"name": name, "value": value if value is not None else float("nan"), "op": op,
                "target": goal}

    targets = [
        target("static_vs_user_scalars_avg", ">=", 3.0),
        target("static_vs_dynamic_mixed_avg", ">=", 2.0),
        target("call_1mib_vs_64b", "<=", 2.0),
        target("pipe_vs_static_1mib", ">=", 50),
        target("rtt_vs_eventfd_floor", "<=", 1.3),
        target("capnp_vs_ambience_rtt", ">=", 5),
        target("calls_per_s_64_in_flight", ">=", 500000),
        target("in_group_vs_cross_resolver_throughput", ">=", 5),
        target("fiber_vs_coroutine_bytes_per_request", ">=", 30),
    ]

    # Tables (the runner prints the flat figures and the targets after these).
    print("\nipc part 1: scalars, ns per sequential call (median)")
    print(f"{'procedure':<16}" + "".join(f"{s:>12}" for s in STRATEGIES) +
          f"{'user/static':>12}{'dyn/static':>12}")
    for family in FAMILIES:
        for size in SCALAR_SIZES:
            row = [scalar[family, size, s] for s in STRATEGIES]
            print(f"{family + ' ' + str(size) + ' B':<16}" + "".join(cell(v) for v in row) +
                  cell(ratio(row[2], row[0]), 2) + cell(ratio(row[1], row[0]), 2))
    print("\nipc part 1b: scalars with 64 calls in flight, ns per call (batch / 64)")
    print(f"{'procedure':<16}" + "".join(f"{s:>12}" for s in STRATEGIES[:3]) +
          f"{'user/static':>12}{'dyn/static':>12}")
    for family in FAMILIES:
        for size in SCALAR_SIZES:
            row = [scalar64[family, size, s] for s in STRATEGIES[:3]]
            print(f"{family + ' ' + str(size) + ' B':<16}" + "".join(cell(v) for v in row) +
                  cell(ratio(row[2], row[0]), 2) + cell(ratio(row[1], row[0]), 2))
    print("\nipc part 2: buffer(span<u8>), ns per call (the callee reads the first and last byte "
          "only, not the whole buffer)")
    print(f"{'bytes':<16}" + "".join(f"{s:>12}" for s in BUFFER_SYSTEMS))
    for size in BUFFER_SIZES:
        print(f"{size_label(size):<16}" +
              "".join(cell(buffer[size, s]) for s in BUFFER_SYSTEMS))
    print("\nipc part 3: the small call (add), ns per call sequential and calls/s in flight")
    print(f"{'':<16}" + "".join(f"{s:>12}" for s in SMALL_SYSTEMS))
    print(f"{'rtt ns':<16}" + "".join(cell(sequential[s]) for s in SMALL_SYSTEMS))
    print(f"{'rtt ns, no spin':<16}" + cell(nospin) + "   (Ambience with loops that sleep at once)")
    for count in IN_FLIGHT:
        print(f"{str(count) + ' in flight/s':<16}" +
              "".join(cell(count * 1e9 / batches[s, count] if batches[s, count] else None)
                      for s in SMALL_SYSTEMS))
    print("\nipc part 4: resolver requests/s by concurrency; front memory bytes per request "
          "in flight")
    print(f"{'':<24}" + "".join(f"{c:>12}" for c in CONCURRENCY))
    for placement in PLACEMENTS:
        for kind in KINDS:
            print(f"{placement + ' ' + kind:<24}" +
                  "".join(cell(throughput[placement, kind, c]) for c in CONCURRENCY))
    for kind in KINDS:
        print(f"{'bytes/request ' + kind:<24}" + "".join(cell(memory[kind, c]) for c in CONCURRENCY))

    plots = [lambda plt, prefix: plot_scalars(plt, prefix, scalar, scalar64),
             lambda plt, prefix: plot_buffers(plt, prefix, buffer),
             lambda plt, prefix: plot_in_flight(plt, prefix, sequential, batches),
             lambda plt, prefix: plot_resolver(plt, prefix, throughput, memory)]
    return figures, targets, plots


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def _line(ax, xs, ys, **style):
    points = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if points:
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", **style)


def plot_scalars(plt, prefix, scalar, batch):
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for column, family in enumerate(FAMILIES):
        for row, (data, systems, what) in enumerate(
                [(scalar, STRATEGIES, "one call at a time"),
                 (batch, STRATEGIES[:3], "64 calls in flight")]):
            ax = axes[row][column]
            for system in systems:
                _line(ax, SCALAR_SIZES, [data[family, s, system] for s in SCALAR_SIZES],
                      label=system)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(SCALAR_SIZES, [str(s) for s in SCALAR_SIZES])
            ax.set_xlabel("bytes of scalar arguments")
            ax.set_ylabel("ns per call (median)")
            ax.set_title(f"{family} scalars across processes, {what}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
    return _save(plt, fig, prefix + "_scalars.png")


def plot_buffers(plt, prefix, buffer):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for system in BUFFER_SYSTEMS:
        _line(ax, BUFFER_SIZES, [buffer[s, system] for s in BUFFER_SIZES], label=system)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("buffer bytes (callee reads first and last byte)")
    ax.set_ylabel("ns per call (median)")
    ax.set_title("buffer(span<u8>) across processes")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(plt, fig, prefix + "_buffers.png")


def plot_in_flight(plt, prefix, sequential, batches):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    counts = [1] + IN_FLIGHT
    for system in SMALL_SYSTEMS:
        values = [1e9 / sequential[system] if sequential[system] else None]
        values += [c * 1e9 / batches[system, c] if batches[system, c] else None for c in IN_FLIGHT]
        _line(ax, counts, values, label=system)
    ax.axhline(500000, color="gray", linestyle="--", label="target (64 in flight)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel("small calls in flight")
    ax.set_ylabel("calls per second")
    ax.set_title("Small call across processes: throughput")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(plt, fig, prefix + "_in_flight.png")


def plot_resolver(plt, prefix, throughput, memory):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for placement in PLACEMENTS:
        for kind in KINDS:
            _line(axes[0], CONCURRENCY, [throughput[placement, kind, c] for c in CONCURRENCY],
                  label=f"front {placement.replace('_', ' ')}, {kind}",
                  linestyle="-" if kind == "coroutine" else "--")
    axes[0].set_xscale("log", base=2)
    axes[0].set_yscale("log")
    axes[0].set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
    axes[0].set_xlabel("concurrent clients")
    axes[0].set_ylabel("resolutions per second")
    axes[0].set_title("Caching resolver: throughput")
    axes[0].grid(True, which="both", alpha=0.3)
    axes[0].legend()
    for kind in KINDS:
        _line(axes[1], CONCURRENCY, [memory[kind, c] for c in CONCURRENCY], label=kind)
    axes[1].set_xscale("log", base=2)
    axes[1].set_yscale("log")
    axes[1].set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
    axes[1].set_xlabel("concurrent clients (front runs at most 64 at once)")
    axes[1].set_ylabel("bytes per request in flight (front process)")
    axes[1].set_title("Front resolver memory per request")
    axes[1].grid(True, which="both", alpha=0.3)
    axes[1].legend()
    return _save(plt, fig, prefix + "_resolver.png")
