"""Analysis of benchmark `lidl` (issue: lidl). Targets, all ratios to anchors in the same run:
build_vs_best_anchor <= 1.0, verify_read_vs_best_anchor <= 1.0 (the faster of Cap'n Proto and
FlatBuffers), read_1mib_string_vs_16b <= 1.5 (reads are in place), direct_call_vs_virtual <= 2.0
(a call through the generated client over the direct backend against awaiting the same
procedure through the interface)."""

from tool import bench

ARGS = ["--benchmark_repetitions=7", "--benchmark_min_time=0.05",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]
TARGETS = ["build_vs_best_anchor", "verify_read_vs_best_anchor", "read_1mib_string_vs_16b", "direct_call_vs_virtual"]

SYSTEMS = ["lidl", "capnp", "flatbuffers"]


def analyse(results, counters):
    # One thread, pure computation: both sides compared on CPU time (bench/README.md, Rules).
    results = bench.compute_times(results, counters)
    figures = {}
    for system in SYSTEMS:
        figures[f"build_{system}_ns"] = results[f"build/{system}"]
        figures[f"verify_read_{system}_ns"] = results[f"verify_read/{system}"]
        figures[f"read_string_16B_{system}_ns"] = results[f"read_string/{system}/16"]
        figures[f"read_string_1MiB_{system}_ns"] = results[f"read_string/{system}/1048576"]
    figures["call_virtual_task_ns"] = results["call/virtual_task"]
    figures["call_direct_client_ns"] = results["call/direct_client"]
    figures["call_virtual_plain_ns"] = results["call/virtual_plain"]

    best_build = min(results["build/capnp"], results["build/flatbuffers"])
    best_verify = min(results["verify_read/capnp"], results["verify_read/flatbuffers"])
    figures["build_vs_best_anchor"] = results["build/lidl"] / best_build
    figures["verify_read_vs_best_anchor"] = results["verify_read/lidl"] / best_verify
    figures["read_1mib_string_vs_16b"] = (results["read_string/lidl/1048576"] /
                                          results["read_string/lidl/16"])
    figures["direct_call_vs_virtual"] = (results["call/direct_client"] /
                                         results["call/virtual_task"])
    figures["direct_call_vs_plain_virtual"] = (results["call/direct_client"] /
                                               results["call/virtual_plain"])
    targets = [
        {"name": "build_vs_best_anchor", "value": figures["build_vs_best_anchor"], "op": "<=",
         "target": 1.0},
        {"name": "verify_read_vs_best_anchor", "value": figures["verify_read_vs_best_anchor"],
         "op": "<=", "target": 1.0},
        {"name": "read_1mib_string_vs_16b", "value": figures["read_1mib_string_vs_16b"],
         "op": "<=", "target": 1.5},
        {"name": "direct_call_vs_virtual", "value": figures["direct_call_vs_virtual"], "op": "<=",
         "target": 2.0},
    ]

    def plot(plt, prefix):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        labels = ["build", "verify + read"]
        width = 0.25
        for i, system in enumerate(SYSTEMS):
            values = [results[f"build/{system}"], results[f"verify_read/{system}"]]
            axes[0].bar([x + i * width for x in range(2)], values, width, label=system)
        axes[0].set_xticks([x + width for x in range(2)], labels)
        axes[0].set_ylabel("ns per message (sample, 4.4 KB)")
        axes[0].set_title("Same message, three formats")
        axes[0].legend()
        calls = ["call/virtual_plain", "call/virtual_task", "call/direct_client"]
        axes[1].bar(["plain virtual", "virtual task", "lidl client\n(direct backend)"],
                    [results[c] for c in calls], color=["gray", "tab:blue", "tab:orange"])
        axes[1].set_ylabel("ns per call")
        axes[1].set_title("Calling a procedure in the same group")
        fig.tight_layout()
        path = prefix + "_summary.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]

    return figures, targets, [plot]
