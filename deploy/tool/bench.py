"""The benchmark runner behind `./ambience bench`.

Each benchmark NAME has a Google Benchmark program `bench/NAME_bench.cpp` (built as target
`NAME_bench`) and an analysis module `bench/NAME.py` defining:

    ARGS: list of extra command-line arguments for the program (repetitions and so on)
    def analyse(results): -> (figures, targets, plots)

`results` maps each benchmark name (as Google Benchmark reports it) to its median real time in
nanoseconds. `figures` is {name: number}; `targets` is a list of {"name", "value", "op",
"target"}; `plots` is a list of callables taking a matplotlib module and an output-path prefix.
The runner prints a table, checks each target, and writes bench-results/NAME.json (and plots).

Honest by construction (bench/README.md, issue 13): a benchmark that reports an error (Google
Benchmark's `error_occurred`, or the program's own non-zero exit) fails the run instead of
counting as 0 ns; a target whose value is missing (None or NaN) is shown MISSING and is not met;
an op other than `<=` or `>=` is an error in the analysis module, not silently `>=`.
"""

import glob
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys


def names(root):
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(root, "bench", "*.py")))


def _load(root, name):
    path = os.path.join(root, "bench", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def medians(report):
    """Median real time in ns of every benchmark in a Google Benchmark JSON report. Runs that
    reported an error are left out (their time is meaningless); `errors(report)` names them."""
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    samples = {}
    for entry in report["benchmarks"]:
        if entry.get("run_type") == "aggregate" or entry.get("error_occurred"):
            continue
        name = entry.get("run_name", entry["name"])
        samples.setdefault(name, []).append(entry["real_time"] * scale[entry["time_unit"]])
    return {name: statistics.median(values) for name, values in samples.items()}


def errors(report):
    """{benchmark: message} of every run that reported an error."""
    return {entry.get("run_name", entry["name"]): entry.get("error_message", "error")
            for entry in report["benchmarks"] if entry.get("error_occurred")}


def missing(target):
    value = target.get("value")
    return value is None or (isinstance(value, float) and math.isnan(value))


def check(target):
    """Whether `target` is met. A missing value is not met; an unknown op is an error."""
    op = target.get("op")
    if op not in ("<=", ">="):
        raise ValueError(f"target {target.get('name')!r}: op {op!r} is neither '<=' nor '>='")
    if missing(target):
        return False
    if op == "<=":
        return target["value"] <= target["target"]
    return target["value"] >= target["target"]


def run_one(root, binary_dir, name):
    module = _load(root, name)
    program = os.path.join(binary_dir, "bench", f"{name}_bench")
    print(f"==> bench {name}: running {os.path.relpath(program, root)} "
          f"(Google Benchmark; progress below)", flush=True)
    out_dir = os.path.join(root, "bench-results")
    os.makedirs(out_dir, exist_ok=True)
    raw_path = os.path.join(out_dir, f"{name}.raw.json")
    result = subprocess.run([program, f"--benchmark_out={raw_path}", "--benchmark_out_format=json",
                             "--benchmark_counters_tabular=true"] + list(module.ARGS))
    if result.returncode != 0:
        sys.exit(f"ambience bench: {name} failed with status {result.returncode}")
    with open(raw_path, encoding="utf-8") as f:
        report = json.load(f)
    failed = errors(report)
    for benchmark, message in failed.items():
        print(f"ambience bench: {name}: {benchmark} failed: {message}", flush=True)
    figures, targets, plots = module.analyse(medians(report))

    width = max(len(k) for k in list(figures) + [t["name"] for t in targets])
    print(f"\n{name}: figures (medians)")
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value:12.4f}")
    print(f"\n{name}: targets")
    all_met = True
    for target in targets:
        met = check(target)
        all_met &= met
        if missing(target):
            print(f"  {target['name']:<{width}}  {'-':>10} {target['op']} "
                  f"{target['target']:<8}  MISSING")
            continue
        print(f"  {target['name']:<{width}}  {target['value']:10.3f} {target['op']} "
              f"{target['target']:<8}  {'met' if met else 'MISSED'}")
    path = os.path.join(out_dir, f"{name}.json")
    written = [dict(t, value=None) if missing(t) else t for t in targets]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"benchmark": name, "figures": figures, "targets": written,
                   "failed_benchmarks": failed}, f, indent=2)
    print(f"\nwrote {os.path.relpath(path, root)}")
    if failed:
        # After the table and the JSON, so that what did run is still on record.
        sys.exit(f"ambience bench: {name}: {len(failed)} benchmark(s) failed their checks")
    if plots:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed; no plots drawn (run ./ambience setup)")
            return all_met
        for plot in plots:
            for written in plot(plt, os.path.join(out_dir, name)):
                print(f"wrote {os.path.relpath(written, root)}")
    return all_met


def run(root, binary_dir, selected):
    known = names(root)
    for name in selected:
        if name not in known:
            sys.exit(f"ambience bench: no benchmark named {name!r} (known: {', '.join(known)})")
    for name in selected:
        run_one(root, binary_dir, name)
    # Missed targets are reported in the table and the JSON; they are not a command failure.
    return 0
