"""Analysis of benchmark `capvm` (issue 5: TVM and CapVM). Targets:
timeout_bytecode_bytes <= 16, compound_bytecode_bytes <= 48, interpreter_memory_bytes <= 256
(sizeof(capvm::machine), the whole evaluation state), lua_warm_vs_capvm_time >= 3 and
capvm_vs_native_time <= 15.

The time targets are taken on the compound policy (time window AND subnet AND battery), every
system reading the same host context. CapVM is capvm::evaluate of the compiled bytecode from the
library (unverified: every decoding check at every evaluation). Lua (5.4, Debian's liblua5.4) is
measured as an application embedding a policy would run it: a minimal state prepared once, the
policy chunk compiled once, its function kept on the stack; an evaluation pushes the function,
lua_pcall's it and reads the boolean (eval/lua_warm). Lua parsing the source into a fresh state
at every evaluation (eval/lua_cold: the isolation a CapVM evaluation has by construction) is
reported as the figure lua_cold_vs_capvm_time, not a target. Native is the policy as a C++
function. All single-process, single-thread: Google Benchmark's CPU time is the whole CPU
cost. The timeout policy's ratios are figures beside them."""

from tool import bench

ARGS = ["--benchmark_repetitions=7", "--benchmark_min_time=0.05",
        "--benchmark_enable_random_interleaving=true",
        "--benchmark_display_aggregates_only=true"]

POLICIES = ["timeout", "compound"]
SYSTEMS = ["capvm", "capvm_verified", "capvm_switch", "capvm_table", "capvm_threaded", "native",
           "lua_warm", "lua_cold"]

TARGETS = ["timeout_bytecode_bytes", "compound_bytecode_bytes", "interpreter_memory_bytes",
           "lua_warm_vs_capvm_time", "capvm_vs_native_time"]


def measured(results, name):
    """A size or memory figure, reported by capvm_bench as the manual time of measure/NAME."""
    prefix = f"measure/{name}"
    for key, value in results.items():
        if key == prefix or key.startswith(prefix + "/"):
            return round(value)
    raise KeyError(prefix)


def analyse(results, counters):
    # One thread, pure computation: both sides compared on CPU time (bench/README.md, Rules).
    results = bench.compute_times(results, counters)
    figures = {}
    for policy in POLICIES:
        figures[f"{policy}_bytecode_bytes"] = measured(results, f"capvm_{policy}_bytes")
        figures[f"{policy}_ebpf_bytes"] = measured(results, f"ebpf_{policy}_bytes")
        figures[f"{policy}_wasm_code_bytes"] = measured(results, f"wasm_{policy}_bytes")
        figures[f"{policy}_lua_memory_bytes"] = measured(results, f"lua_{policy}_memory_bytes")
        for system in SYSTEMS:
            figures[f"{policy}_{system}_ns"] = results[f"eval/{system}/{policy}"]
    figures["interpreter_memory_bytes"] = measured(results, "capvm_memory_bytes")
    for policy in POLICIES:
        capvm = results[f"eval/capvm/{policy}"]
        figures[f"{policy}_lua_cold_vs_capvm_time"] = results[f"eval/lua_cold/{policy}"] / capvm
        figures[f"{policy}_lua_warm_vs_capvm_time"] = results[f"eval/lua_warm/{policy}"] / capvm
        figures[f"{policy}_capvm_vs_native_time"] = capvm / results[f"eval/native/{policy}"]
    figures["lua_warm_vs_capvm_time"] = figures["compound_lua_warm_vs_capvm_time"]
    figures["lua_cold_vs_capvm_time"] = figures["compound_lua_cold_vs_capvm_time"]
    figures["capvm_vs_native_time"] = figures["compound_capvm_vs_native_time"]

    targets = [
        {"name": "timeout_bytecode_bytes", "value": figures["timeout_bytecode_bytes"],
         "op": "<=", "target": 16},
        {"name": "compound_bytecode_bytes", "value": figures["compound_bytecode_bytes"],
         "op": "<=", "target": 48},
        {"name": "interpreter_memory_bytes", "value": figures["interpreter_memory_bytes"],
         "op": "<=", "target": 256},
        {"name": "lua_warm_vs_capvm_time", "value": figures["lua_warm_vs_capvm_time"],
         "op": ">=", "target": 3},
        {"name": "capvm_vs_native_time", "value": figures["capvm_vs_native_time"], "op": "<=",
         "target": 15},
    ]

    def plot(plt, prefix):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        width = 0.35
        size_systems = [("CapVM", "bytecode_bytes"), ("eBPF", "ebpf_bytes"),
                        ("Wasm (code)", "wasm_code_bytes")]
        for i, policy in enumerate(POLICIES):
            axes[0].bar([x + i * width for x in range(len(size_systems))],
                        [figures[f"{policy}_{key}"] for _, key in size_systems], width,
                        label=policy)
        axes[0].set_xticks([x + width / 2 for x in range(len(size_systems))],
                           [label for label, _ in size_systems])
        axes[0].set_ylabel("bytes")
        axes[0].set_title("Policy bytecode size")
        axes[0].legend()

        time_systems = [("CapVM", "capvm"), ("CapVM\nverified", "capvm_verified"),
                        ("native", "native"), ("Lua\n(warm)", "lua_warm"),
                        ("Lua\n(cold)", "lua_cold")]
        for i, policy in enumerate(POLICIES):
            axes[1].bar([x + i * width for x in range(len(time_systems))],
                        [figures[f"{policy}_{key}_ns"] for _, key in time_systems], width,
                        label=policy)
        axes[1].set_xticks([x + width / 2 for x in range(len(time_systems))],
                           [label for label, _ in time_systems])
        axes[1].set_yscale("log")
        axes[1].set_ylabel("ns per evaluation (log)")
        axes[1].set_title("Evaluation time")
        axes[1].legend()

        axes[2].bar(["CapVM\nmachine", "Lua state\n(timeout)", "Lua state\n(compound)"],
                    [figures["interpreter_memory_bytes"], figures["timeout_lua_memory_bytes"],
                     figures["compound_lua_memory_bytes"]],
                    color=["tab:blue", "tab:orange", "tab:orange"])
        axes[2].set_yscale("log")
        axes[2].set_ylabel("bytes (log)")
        axes[2].set_title("Evaluation memory")
        path = prefix + "_summary.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(7, 4.5))
        strategies = [("switch", "capvm_switch"), ("function table", "capvm_table"),
                      ("threaded", "capvm_threaded")]
        for i, policy in enumerate(POLICIES):
            ax.bar([x + i * width for x in range(len(strategies))],
                   [figures[f"{policy}_{key}_ns"] for _, key in strategies], width, label=policy)
        ax.set_xticks([x + width / 2 for x in range(len(strategies))],
                      [label for label, _ in strategies])
        ax.set_ylabel("ns per evaluation")
        ax.set_title("TVM dispatch strategies")
        ax.legend()
        dispatch_path = prefix + "_dispatch.png"
        fig.tight_layout()
        fig.savefig(dispatch_path, dpi=110)
        plt.close(fig)
        return [path, dispatch_path]

    return figures, targets, [plot]
