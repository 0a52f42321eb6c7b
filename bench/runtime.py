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


def find(results, prefix):
    for name, value in results.items():
        if name.startswith(prefix):
            return name, value
    raise KeyError(prefix)


def analyse(results, counters):
    rows = {n: find(results, f"ring/in_flight/{n}/") for n in (1, 16, 64)}
    per_call = {n: value / 4096 for n, (_, value) in rows.items()}
    cpu_per_call = {n: counters[name]["cpu_ns"] for n, (name, _) in rows.items()}
    memory_row, _ = find(results, "memory/coroutine_bytes")
    coroutine_bytes = counters[memory_row]["bytes_per_call"]
    figures = {
        "call_virtual_task_ns": results["call/virtual_task"],
        "call_same_group_ns": results["call/same_group"],
        "same_group_call_vs_virtual": results["call/same_group"] / results["call/virtual_task"],
        "ring_call_ns_in_flight_1": per_call[1],
        "ring_call_ns_in_flight_16": per_call[16],
        "ring_call_ns_in_flight_64": per_call[64],
        "ring_call_cpu_ns_in_flight_1": cpu_per_call[1],
        "ring_call_cpu_ns_in_flight_16": cpu_per_call[16],
        "ring_call_cpu_ns_in_flight_64": cpu_per_call[64],
        "coroutine_bytes_per_request": coroutine_bytes,
    }
    targets = [
        {"name": "same_group_call_vs_virtual", "value": figures["same_group_call_vs_virtual"],
         "op": "<=", "target": 2.0},
        {"name": "coroutine_bytes_per_request", "value": coroutine_bytes, "op": "<=",
         "target": 1024},
    ]

    def plot(plt, prefix):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        axes[0].plot([1, 16, 64], [per_call[n] for n in (1, 16, 64)], marker="o",
                     label="real time")
        axes[0].plot([1, 16, 64], [cpu_per_call[n] for n in (1, 16, 64)], marker="s",
                     label="CPU time, both threads")
        axes[0].legend()
        axes[0].set_xscale("log", base=2)
        axes[0].set_xlabel("calls in flight")
        axes[0].set_ylabel("ns per call")
        axes[0].set_title("Calls to another group through a ring")
        axes[0].grid(True, alpha=0.3)
        axes[1].bar(["coroutine frames (measured)"], [coroutine_bytes], color=["tab:blue"])
        axes[1].axhline(1024, color="gray", linestyle="--", label="target 1024 B")
        axes[1].set_ylabel("bytes per call in flight")
        axes[1].set_title("Memory per call in flight (fibers: see ipc)")
        axes[1].legend()
        fig.tight_layout()
        path = prefix + "_calls.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]

    return figures, targets, [plot]
