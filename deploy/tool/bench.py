"""The benchmark runner behind `./ambience bench`.

Each benchmark NAME has a Google Benchmark program `bench/NAME_bench.cpp` (built as target
`NAME_bench`) and an analysis module `bench/NAME.py` defining:

    ARGS: list of extra command-line arguments for the program (repetitions and so on)
    def analyse(results): -> (figures, targets, plots)

`results` maps each benchmark name (as Google Benchmark reports it) to its median real time in
nanoseconds. `figures` is {name: number}; `targets` is a list of {"name", "value", "op",
"target"}; `plots` is a list of callables taking a matplotlib module and an output-path prefix.
The runner prints a table, checks each target, and writes bench-results/NAME.json (and plots).
"""

import glob
import importlib.util
import json
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
    """Median real time in ns of every benchmark in a Google Benchmark JSON report."""
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    samples = {}
    for entry in report["benchmarks"]:
        if entry.get("run_type") == "aggregate":
            continue
        name = entry.get("run_name", entry["name"])
        samples.setdefault(name, []).append(entry["real_time"] * scale[entry["time_unit"]])
    return {name: statistics.median(values) for name, values in samples.items()}


def check(target):
    if target["op"] == "<=":
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
        print(f"  {target['name']:<{width}}  {target['value']:10.3f} {target['op']} "
              f"{target['target']:<8}  {'met' if met else 'MISSED'}")
    path = os.path.join(out_dir, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"benchmark": name, "figures": figures, "targets": targets}, f, indent=2)
    print(f"\nwrote {os.path.relpath(path, root)}")
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
