"""Analysis of benchmark `runtime` (issue: runtime core). Targets: same_group_call_vs_virtual
<= 2.0 (the generated client over the direct backend against awaiting the procedure through the
interface) and coroutine_bytes_per_request <= 1024 (coroutine frame bytes the calling group
allocates per call in flight; the thesis measured 627 bytes for a coroutine and 32 KiB for a
fiber stack). Cross-group calls through a ring region to a group on another thread are reported
for 1, 16 and 64 calls in flight."""

ARGS = ["--benchmark_repetitions=5", "--benchmark_min_time=0.05",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]
TARGETS = ["same_group_call_vs_virtual", "coroutine_bytes_per_request"]

FIBER_STACK_BYTES = 32 * 1024


def find(results, prefix):
    for name, value in results.items():
        if name.startswith(prefix):
            return value
    raise KeyError(prefix)


def analyse(results, counters):
    per_call = {n: find(results, f"ring/in_flight/{n}/") / 4096 for n in (1, 16, 64)}
    coroutine_bytes = find(results, "memory/coroutine_bytes")
    figures = {
        "call_virtual_task_ns": results["call/virtual_task"],
        "call_same_group_ns": results["call/same_group"],
        "same_group_call_vs_virtual": results["call/same_group"] / results["call/virtual_task"],
        "ring_call_ns_in_flight_1": per_call[1],
        "ring_call_ns_in_flight_16": per_call[16],
        "ring_call_ns_in_flight_64": per_call[64],
        "coroutine_bytes_per_request": coroutine_bytes,
        "fiber_bytes_per_request": FIBER_STACK_BYTES,
    }
    targets = [
        {"name": "same_group_call_vs_virtual", "value": figures["same_group_call_vs_virtual"],
         "op": "<=", "target": 2.0},
        {"name": "coroutine_bytes_per_request", "value": coroutine_bytes, "op": "<=",
         "target": 1024},
    ]

    def plot(plt, prefix):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        axes[0].plot([1, 16, 64], [per_call[n] for n in (1, 16, 64)], marker="o")
        axes[0].set_xscale("log", base=2)
        axes[0].set_xlabel("calls in flight")
        axes[0].set_ylabel("ns per call")
        axes[0].set_title("Calls to another group through a ring")
        axes[0].grid(True, alpha=0.3)
        axes[1].bar(["coroutine", "fiber (32 KiB stack)"], [coroutine_bytes, FIBER_STACK_BYTES],
                    color=["tab:blue", "gray"])
        axes[1].set_yscale("log")
        axes[1].set_ylabel("bytes per call in flight")
        axes[1].set_title("Memory per call in flight")
        fig.tight_layout()
        path = prefix + "_calls.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]

    return figures, targets, [plot]
