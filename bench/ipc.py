"""Analysis of benchmark `ipc` (issues 7 and 13): Ambience's calls between processes (channels
of the hosted node, bench/ipc_bench.cpp) beside baselines in real child processes, in one run.

Parts (names as bench/ipc_bench.cpp registers them):
1. scalars/FAMILY/BYTES/SYSTEM: 8…128 bytes of uniform (u64) or mixed scalars, sequential calls;
   SYSTEM static, dynamic, user (channel strategies; loops spin 50 µs) or pipe (the same lidl
   serialisation as the user strategy over two pipes). scalars64/…: the channel strategies with
   64 calls in flight (time per batch of 64). The targets compare channel strategies with each
   other, sequential calls, both sides in the same mode (loops spin 50 µs).
2. buffer/BYTES/SYSTEM: buffer(span<u8>) whose callee reads the first and last byte only;
   static_heap (the buffer is in the caller's shareable heap: zero copy; loops spin 50 µs),
   static_heap_block (the same, loops sleep at once: the pipe's mode), static_copy (an ordinary
   buffer, copied once), user, pipe (pipes enlarged to 1 MiB with F_SETPIPE_SZ).
3. add/SYSTEM and inflight/SYSTEM/N: the small call add(u64, u64) -> u64, sequential and with N
   in flight. Ambience (static strategy) in three waiting modes: ambience_block (loops sleep at
   once), ambience_poll (loops never sleep), ambience_spin50 (the default: spin 50 µs, then
   sleep); anchors eventfd (shared memory + eventfd: blocking floor), busypoll (shared memory,
   both sides spin on sequence words with a pause, yielding the CPU after every fourth pause as
   Ambience's polling loop does: polling floor; busypoll_pause_only, sequential only: the same
   without yielding, a figure), pipe and capnp (Cap'n Proto RPC, blocking
   in its event loop as its users run it).
4. resolver/PLACEMENT/KIND/C (a batch of resolutions with C concurrent clients; counter `batch`)
   and memory/KIND/C (bytes per request in flight, measured in the front resolver's process).

Every row's counter cpu_ns is CPU ns per call (per resolution) summed over every process
involved. Every ratio is a ratio of medians over interleaved repetitions of one run, both sides
in the same waiting mode."""

import os
import statistics

ARGS = ["--benchmark_repetitions=9", "--benchmark_min_time=0.1",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]

FAMILIES = ["uniform", "mixed"]
SCALAR_SIZES = [8, 16, 32, 64, 128]
STRATEGIES = ["static", "dynamic", "user", "pipe"]
BUFFER_SIZES = [64, 1024, 4000, 4096, 65536, 1 << 20]
BUFFER_SYSTEMS = ["static_heap", "static_heap_block", "static_copy", "user", "pipe"]
AMBIENCE_MODES = ["ambience_block", "ambience_poll", "ambience_spin50"]
ANCHORS = ["eventfd", "busypoll", "pipe", "capnp"]
SMALL_SYSTEMS = AMBIENCE_MODES + ANCHORS
IN_FLIGHT = [16, 64]
CONCURRENCY = [1, 4, 16, 64, 256]
TARGET_CONCURRENCY = 64
FIBER_STACK_BYTES = 32 * 1024  # usable bytes of a fiber's stack (bench/ipc_anchors/resolver.hpp)
PLACEMENTS = ["in_group", "own_process"]
KINDS = ["coroutine", "fiber"]

TARGETS = [
    "rtt_blocking_vs_eventfd_floor",
    "cpu_per_call_blocking_vs_eventfd_floor",
    "capnp_vs_ambience_cpu_per_call_blocking",
    "rtt_polling_vs_busy_floor",
    "calls_per_s_64_in_flight",
    "calls_64_in_flight_vs_eventfd_floor",
    "pipe_vs_static_1mib",
    "call_1mib_vs_64b",
    "static_vs_user_scalars_avg",
    "static_vs_dynamic_mixed_avg",
    "in_group_vs_cross_resolver_throughput",
]


def find(results, name):
    """Median ns of benchmark `name` (with or without Google Benchmark's suffixes), or None when
    it did not run or failed (a failed benchmark reports a time of 0)."""
    for key, value in results.items():
        if key == name or key.startswith(name + "/"):
            return value if value > 0 else None
    return None


def find_counter(counters, name, counter):
    """Median of counter `counter` of benchmark `name`, or None."""
    for key, values in counters.items():
        if key == name or key.startswith(name + "/"):
            value = values.get(counter)
            return value if value is not None and value > 0 else None
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

    def cpu(row):
        """CPU ns per call of `row` over every process (median), also reported as a figure."""
        return put(row.replace("/", "_") + "_cpu_ns", find_counter(counters, row, "cpu_ns"))

    # The machine's load when the run ended: other processes on the (two) cores change every
    # figure, the spinning and polling rows most (see bench/README.md).
    put("load_average_1min_at_end", os.getloadavg()[0])

    # Part 1: scalars (channel strategies against each other; both sides' loops spin 50 us).
    scalar = {}
    for family in FAMILIES:
        for size in SCALAR_SIZES:
            for system in STRATEGIES:
                row = f"scalars/{family}/{size}/{system}"
                scalar[family, size, system] = put(f"scalars_{family}_{size}B_{system}_ns",
                                                   find(results, row))
                if system != "pipe":
                    cpu(row)
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

    # Part 2: buffers.
    buffer = {}
    buffer_cpu = {}
    for size in BUFFER_SIZES:
        for system in BUFFER_SYSTEMS:
            row = f"buffer/{size}/{system}"
            buffer[size, system] = put(f"buffer_{size_label(size)}_{system}_ns",
                                       find(results, row))
            buffer_cpu[size, system] = find_counter(counters, row, "cpu_ns")
    for size in (64, 1 << 20):
        for system in ("static_heap", "static_heap_block"):
            cpu(f"buffer/{size}/{system}")
    cpu(f"buffer/{1 << 20}/pipe")
    cpu(f"buffer/{1 << 20}/static_copy")
    # Both sides spin 50 us.
    put("call_1mib_vs_64b", ratio(buffer[1 << 20, "static_heap"], buffer[64, "static_heap"]))
    put("static_copy_vs_heap_1mib",
        ratio(buffer[1 << 20, "static_copy"], buffer[1 << 20, "static_heap"]))
    put("user_vs_static_64kib", ratio(buffer[65536, "user"], buffer[65536, "static_heap"]))
    # Both sides block: the pipe's reader sleeps in read(), Ambience's loops sleep at once.
    put("call_1mib_vs_64b_blocking",
        ratio(buffer[1 << 20, "static_heap_block"], buffer[64, "static_heap_block"]))
    put("pipe_vs_static_1mib",
        ratio(buffer[1 << 20, "pipe"], buffer[1 << 20, "static_heap_block"]))
    put("pipe_vs_static_64kib", ratio(buffer[65536, "pipe"], buffer[65536, "static_heap_block"]))
    put("pipe_vs_static_1mib_cpu_per_call",
        ratio(buffer_cpu[1 << 20, "pipe"], buffer_cpu[1 << 20, "static_heap_block"]))

    # Part 3: the small call.
    sequential = {}
    sequential_cpu = {}
    batches = {}
    batch_cpu = {}
    for system in SMALL_SYSTEMS:
        sequential[system] = put(f"small_call_rtt_{system}_ns", find(results, f"add/{system}"))
        sequential_cpu[system] = cpu(f"add/{system}")
        if sequential[system]:
            put(f"calls_per_s_sequential_{system}", 1e9 / sequential[system])
        for count in IN_FLIGHT:
            row = f"inflight/{system}/{count}"
            batch = find(results, row)
            batches[system, count] = batch
            batch_cpu[system, count] = cpu(row)
            if batch:
                put(f"calls_per_s_{count}_in_flight_{system}", count * 1e9 / batch)
    put("small_call_rtt_busypoll_pause_only_ns", find(results, "add/busypoll_pause_only"))
    cpu("add/busypoll_pause_only")
    # Both block: Ambience's loops sleep at once, the floor sleeps in read().
    put("rtt_blocking_vs_eventfd_floor",
        ratio(sequential["ambience_block"], sequential["eventfd"]))
    put("cpu_per_call_blocking_vs_eventfd_floor",
        ratio(sequential_cpu["ambience_block"], sequential_cpu["eventfd"]))
    put("capnp_vs_ambience_rtt_blocking", ratio(sequential["capnp"], sequential["ambience_block"]))
    put("capnp_vs_ambience_cpu_per_call_blocking",
        ratio(sequential_cpu["capnp"], sequential_cpu["ambience_block"]))
    # Both poll: Ambience's loops never sleep, the floor spins on its sequence words.
    put("rtt_polling_vs_busy_floor", ratio(sequential["ambience_poll"], sequential["busypoll"]))
    put("cpu_per_call_polling_vs_busy_floor",
        ratio(sequential_cpu["ambience_poll"], sequential_cpu["busypoll"]))
    # Ambience's default (spin 50 us, then sleep) beside both floors: figures only, since its
    # mode is neither of theirs.
    put("rtt_spin50_vs_eventfd_floor", ratio(sequential["ambience_spin50"], sequential["eventfd"]))
    put("rtt_spin50_vs_busy_floor", ratio(sequential["ambience_spin50"], sequential["busypoll"]))
    # 64 in flight, both block.
    put("calls_per_s_64_in_flight", figures.get("calls_per_s_64_in_flight_ambience_block"))
    put("calls_64_in_flight_vs_eventfd_floor",
        ratio(batches["eventfd", 64], batches["ambience_block", 64]))
    put("calls_64_in_flight_polling_vs_busy_floor",
        ratio(batches["busypoll", 64], batches["ambience_poll", 64]))

    # Part 4: the resolver (every loop spins 50 us, in both placements).
    throughput = {}
    for placement in PLACEMENTS:
        for kind in KINDS:
            for c in CONCURRENCY:
                row = f"resolver/{placement}/{kind}/{c}"
                batch = find(results, row)
                size = find_counter(counters, row, "batch")
                value = size * 1e9 / batch if batch and size else None
                throughput[placement, kind, c] = put(
                    f"resolver_{placement}_{kind}_c{c}_requests_per_s", value)
                if c == TARGET_CONCURRENCY:
                    cpu(row)
    in_group_ratios = {}
    for kind in KINDS:
        for c in CONCURRENCY:
            r = ratio(throughput["in_group", kind, c], throughput["own_process", kind, c])
            in_group_ratios[kind, c] = put(f"in_group_vs_cross_{kind}_c{c}", r)
    # The target: coroutine fronts at 64 clients, from the medians of the repetitions.
    put("in_group_vs_cross_resolver_throughput",
        in_group_ratios["coroutine", TARGET_CONCURRENCY])
    put("coroutine_vs_fiber_throughput_own_process_avg",
        mean([ratio(throughput["own_process", "coroutine", c],
                    throughput["own_process", "fiber", c]) for c in CONCURRENCY]))
    # Memory per request in flight in the front's process (figures only): coroutine frames;
    # fibers' frames plus their busy stacks, reserved (the whole usable stack) and resident
    # (the pool's resident stack bytes per stack, mincore, times the busy stacks).
    memory = {}
    for kind in KINDS:
        for c in CONCURRENCY:
            row = f"memory/{kind}/{c}"
            in_flight = find_counter(counters, row, "in_flight")
            frames = find_counter(counters, row, "frame_bytes") or 0.0
            stack = find_counter(counters, row, "stack_bytes") or 0.0
            stacks = find_counter(counters, row, "stacks")
            resident = find_counter(counters, row, "resident_stack_bytes") or 0.0
            if not in_flight:
                memory[kind, c] = None
                continue
            if kind == "coroutine":
                memory[kind, c] = put(f"memory_coroutine_c{c}_frame_bytes_per_request",
                                      frames / in_flight)
                continue
            memory[kind, c] = put(f"memory_fiber_c{c}_reserved_bytes_per_request",
                                  (frames + stack) / in_flight)
            busy = stack / FIBER_STACK_BYTES
            if stacks:
                put(f"memory_fiber_c{c}_resident_bytes_per_request",
                    (frames + busy * resident / stacks) / in_flight)
            put(f"memory_fiber_c{c}_frame_bytes_per_request", frames / in_flight)
    put("fiber_resident_stack_bytes", find(results, "memory/fiber_resident/64"))

    def target(name, op, goal):
        value = figures.get(name)
        return {"name": name, "value": value if value is not None else float("nan"), "op": op,
                "target": goal}

    targets = [
        target("rtt_blocking_vs_eventfd_floor", "<=", 1.3),
        target("cpu_per_call_blocking_vs_eventfd_floor", "<=", 1.5),
        target("capnp_vs_ambience_cpu_per_call_blocking", ">=", 2.5),
        target("rtt_polling_vs_busy_floor", "<=", 4),
        target("calls_per_s_64_in_flight", ">=", 500000),
        target("calls_64_in_flight_vs_eventfd_floor", ">=", 1.0),
        target("pipe_vs_static_1mib", ">=", 50),
        target("call_1mib_vs_64b", "<=", 2.0),
        target("static_vs_user_scalars_avg", ">=", 3.0),
        target("static_vs_dynamic_mixed_avg", ">=", 2.0),
        target("in_group_vs_cross_resolver_throughput", ">=", 5),
    ]

    # Tables (the runner prints the flat figures and the targets after these).
    print("\nipc part 1: scalars, ns per sequential call (median; channel loops spin 50 us)")
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
          "only, not the whole buffer); CPU ns per call over both processes below")
    print(f"{'bytes':<16}" + "".join(f"{s:>18}" for s in BUFFER_SYSTEMS))
    for size in BUFFER_SIZES:
        print(f"{size_label(size):<16}" +
              "".join(f"{cell(buffer[size, s]):>18}" for s in BUFFER_SYSTEMS))
    for size in BUFFER_SIZES:
        print(f"{size_label(size) + ' cpu':<16}" +
              "".join(f"{cell(buffer_cpu[size, s]):>18}" for s in BUFFER_SYSTEMS))
    print("\nipc part 3: the small call (add): ns per call sequential, CPU ns per call (every "
          "process), calls/s in flight")
    print(f"{'':<16}" + "".join(f"{s:>16}" for s in SMALL_SYSTEMS))
    print(f"{'rtt ns':<16}" + "".join(f"{cell(sequential[s]):>16}" for s in SMALL_SYSTEMS))
    print(f"{'cpu ns/call':<16}" + "".join(f"{cell(sequential_cpu[s]):>16}"
                                           for s in SMALL_SYSTEMS))
    for count in IN_FLIGHT:
        print(f"{str(count) + ' in flight/s':<16}" +
              "".join(f"{cell(count * 1e9 / batches[s, count] if batches[s, count] else None):>16}"
                      for s in SMALL_SYSTEMS))
        print(f"{str(count) + ' cpu ns/call':<16}" +
              "".join(f"{cell(batch_cpu[s, count]):>16}" for s in SMALL_SYSTEMS))
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
             lambda plt, prefix: plot_small_call(plt, prefix, sequential, sequential_cpu),
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


def plot_small_call(plt, prefix, sequential, sequential_cpu):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    systems = [s for s in SMALL_SYSTEMS if sequential[s] is not None]
    xs = range(len(systems))
    width = 0.4
    ax.bar([x - width / 2 for x in xs], [sequential[s] for s in systems], width,
           label="round trip (ns, wall clock)")
    ax.bar([x + width / 2 for x in xs], [sequential_cpu[s] or 0 for s in systems], width,
           label="CPU per call (ns, every process)")
    ax.set_xticks(list(xs), systems, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("ns per call (median)")
    ax.set_title("Small call add(u64, u64) across processes, one at a time")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend()
    return _save(plt, fig, prefix + "_small_call.png")


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
    axes[1].set_ylabel("bytes per request in flight (front process; fibers: reserved)")
    axes[1].set_title("Front resolver memory per request")
    axes[1].grid(True, which="both", alpha=0.3)
    axes[1].legend()
    return _save(plt, fig, prefix + "_resolver.png")
