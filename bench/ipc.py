"""Analysis of benchmark `ipc` (issue 7), first slice: Ambience's cross-process calls with the
*user* strategy (generated codec into a ring element in a memfd, eventfd wakeups, one call at a
time) beside the anchors in real child processes: a shared-memory + eventfd ping-pong (the
floor), a pipe ping-pong and Cap'n Proto RPC over a Unix socketpair.

Targets measurable today: rtt_vs_eventfd_floor <= 1.3 (a small sequential call against the
floor's small call) and capnp_vs_ambience_rtt >= 5. The issue's other targets (static vs
dynamic vs user strategies, 1 MiB zero-copy calls, 64 calls in flight, the resolver groups,
fibers vs coroutines) need parts not built yet and are not reported rather than invented."""

ARGS = ["--benchmark_repetitions=5", "--benchmark_min_time=0.05",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]

ANCHORS = ["eventfd", "pipe", "capnp"]
SIZES = [8, 64, 128, 1024, 4000]


def find(results, prefix):
    for name, value in results.items():
        if name == prefix or name.startswith(prefix + "/"):
            return value
    return None


def analyse(results):
    figures = {}
    for system in ANCHORS + ["ambience"]:
        small = find(results, f"add/{system}")
        if small is not None:
            figures[f"small_call_rtt_{system}_ns"] = small
        for size in SIZES:
            value = find(results, f"rtt/{system}/{size}")
            if value is not None:
                figures[f"echo_{size}B_rtt_{system}_ns"] = value
    ambience = figures["small_call_rtt_ambience_ns"]
    figures["rtt_vs_eventfd_floor"] = ambience / figures["small_call_rtt_eventfd_ns"]
    figures["capnp_vs_ambience_rtt"] = figures["small_call_rtt_capnp_ns"] / ambience
    figures["pipe_vs_ambience_rtt"] = figures["small_call_rtt_pipe_ns"] / ambience
    targets = [
        {"name": "rtt_vs_eventfd_floor", "value": figures["rtt_vs_eventfd_floor"], "op": "<=",
         "target": 1.3},
        {"name": "capnp_vs_ambience_rtt", "value": figures["capnp_vs_ambience_rtt"], "op": ">=",
         "target": 5.0},
    ]

    def plot(plt, prefix):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for system in ANCHORS + ["ambience"]:
            points = [(s, figures.get(f"echo_{s}B_rtt_{system}_ns")) for s in SIZES]
            points = [(s, v) for s, v in points if v is not None]
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], marker="o", label=system)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("echo payload (bytes)")
        ax.set_ylabel("round trip (ns)")
        ax.set_title("Cross-process round trips (sequential)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        path = prefix + "_rtt.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]

    return figures, targets, [plot]
