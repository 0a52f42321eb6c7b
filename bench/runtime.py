"""Analysis of benchmark `runtime` (issue: runtime core). Targets: same_group_call_vs_virtual
<= 2.0 (the generated client over the direct backend against awaiting the procedure through the
interface) and coroutine_bytes_per_request <= 1024 (coroutine frame bytes the calling group
allocates per call in flight; the thesis measured 627 bytes for a coroutine and 32 KiB for a
fiber stack); the caller's and the callee's frames of a call held in flight in one group). Calls
between groups go through hosted channels: bench `ipc`."""

ARGS = ["--benchmark_repetitions=5", "--benchmark_min_time=0.05",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]
TARGETS = ["same_group_call_vs_virtual", "coroutine_bytes_per_request"]


def find(results, prefix):
    for name, value in results.items():
        if name.startswith(prefix):
            return name, value
    raise KeyError(prefix)


def analyse(results, counters):
    memory_row, _ = find(results, "memory/coroutine_bytes")
    coroutine_bytes = counters[memory_row]["bytes_per_call"]
    figures = {
        "call_virtual_task_ns": results["call/virtual_task"],
        "call_same_group_ns": results["call/same_group"],
        "same_group_call_vs_virtual": results["call/same_group"] / results["call/virtual_task"],
        "coroutine_bytes_per_request": coroutine_bytes,
    }
    targets = [
        {"name": "same_group_call_vs_virtual", "value": figures["same_group_call_vs_virtual"],
         "op": "<=", "target": 2.0},
        {"name": "coroutine_bytes_per_request", "value": coroutine_bytes, "op": "<=",
         "target": 1024},
    ]

    def plot(plt, prefix):
        fig, axis = plt.subplots(1, 1, figsize=(5, 4))
        axis.bar(["coroutine frames (measured)"], [coroutine_bytes], color=["tab:blue"])
        axis.axhline(1024, color="gray", linestyle="--", label="target 1024 B")
        axis.set_ylabel("bytes per call in flight")
        axis.set_title("Memory per call in flight (fibers: see ipc)")
        axis.legend()
        fig.tight_layout()
        path = prefix + "_calls.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]

    return figures, targets, [plot]
