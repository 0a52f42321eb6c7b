"""The benchmark runner behind `./ambience bench`.

Each benchmark NAME has a Google Benchmark program `bench/NAME_bench.cpp` (built as target
`NAME_bench`) and an analysis module `bench/NAME.py` defining:

    ARGS: list of extra command-line arguments for the program (repetitions and so on)
    TARGETS: the names of every target the analysis reports (checked by `--smoke`)
    SMOKE_ARGS (optional): arguments for `--smoke` instead of the tiny default below
    def analyse(results, counters): -> (figures, targets, plots)

`results` maps each benchmark name (as Google Benchmark reports it) to its median real time in
nanoseconds; `counters` maps it to the medians of its user counters, among them `cpu_ns`: CPU ns
per operation summed over every process involved (bench/support/process_cpu.hpp). A benchmark
that does not set `cpu_ns` gets Google Benchmark's CPU time of its own thread, which is all the
CPU of a single-threaded benchmark in one process (the only kind allowed to omit it). `figures`
is {name: number}; `targets` is a list of {"name", "value", "op", "target"}; `plots` is a list of
callables taking a matplotlib module and an output-path prefix. The runner prints a table of
every benchmark's real and CPU time per operation, the figures and the targets, checks each
target, writes bench-results/NAME.json (and plots) and the generated results table of
bench/README.md (between `<!-- results NAME -->` and `<!-- end results NAME -->`).

`--smoke` runs every program with tiny iteration counts (environment AMBIENCE_BENCH_SMOKE=1 lets
a program shrink fixed workloads) into a temporary directory and checks that it succeeds and that
every target of TARGETS comes out with a value; the values themselves mean nothing there.

Honest by construction (bench/README.md, issue 13): a benchmark that reports an error (Google
Benchmark's `error_occurred`, or the program's own non-zero exit) fails the run instead of
counting as 0 ns; a target whose value is missing (None or NaN) is shown MISSING and is not met;
an op other than `<=` or `>=` is an error in the analysis module, not silently `>=`.
"""

import datetime
import glob
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

SMOKE_ARGS = ["--benchmark_min_time=0.001", "--benchmark_repetitions=1"]


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


def counters(report):
    """{benchmark: {counter: median}} of every run without an error: the program's own counters
    and `cpu_ns` (CPU ns per operation; Google Benchmark's CPU time when the program set none)."""
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    fixed = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
             "iterations", "real_time", "cpu_time", "time_unit", "family_index",
             "per_family_instance_index", "aggregate_name", "aggregate_unit", "label",
             "error_occurred", "error_message"}
    samples = {}
    for entry in report["benchmarks"]:
        if entry.get("run_type") == "aggregate" or entry.get("error_occurred"):
            continue
        name = entry.get("run_name", entry["name"])
        own = samples.setdefault(name, {})
        for key, value in entry.items():
            if key not in fixed and isinstance(value, (int, float)):
                own.setdefault(key, []).append(float(value))
        if "cpu_ns" not in entry:
            own.setdefault("cpu_ns", []).append(entry["cpu_time"] * scale[entry["time_unit"]])
    return {name: {key: statistics.median(values) for key, values in own.items()}
            for name, own in samples.items()}


def compute_times(results, counters):
    """For single-threaded compute benchmarks in one process: each row's CPU ns per operation
    instead of its wall-clock median (the work done, without the time a shared machine gave to
    other processes), except rows that report a manual time (sizes and counts)."""
    return {name: value if name.endswith("/manual_time") or name not in counters
            else counters[name].get("cpu_ns", value)
            for name, value in results.items()}


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


def _execute(root, binary_dir, name, module, out_dir, smoke):
    program = os.path.join(binary_dir, "bench", f"{name}_bench")
    print(f"==> bench {name}: running {os.path.relpath(program, root)}"
          f"{' (smoke: tiny iteration counts)' if smoke else ''} (Google Benchmark; progress below)",
          flush=True)
    raw_path = os.path.join(out_dir, f"{name}.raw.json")
    args = list(getattr(module, "SMOKE_ARGS", SMOKE_ARGS)) if smoke else list(module.ARGS)
    env = dict(os.environ, AMBIENCE_BENCH_SMOKE="1") if smoke else None
    result = subprocess.run([program, f"--benchmark_out={raw_path}", "--benchmark_out_format=json",
                             "--benchmark_counters_tabular=true"] + args, env=env)
    if result.returncode != 0:
        sys.exit(f"ambience bench: {name} failed with status {result.returncode}")
    with open(raw_path, encoding="utf-8") as f:
        return json.load(f)


def rows_table(results, rows):
    """Lines of the per-benchmark table: real time and CPU time (every process) per operation
    (an iteration of `ops_per_iteration` operations, when the program says so, is divided)."""
    width = max([len(n) for n in results] + [9])
    lines = [f"  {'benchmark':<{width}}  {'real ns/op':>12}  {'CPU ns/op':>12}  CPU/real"]
    for key in sorted(results):
        real = results[key] / rows.get(key, {}).get("ops_per_iteration", 1.0)
        cpu = rows.get(key, {}).get("cpu_ns")
        share = f"{cpu / real:8.2f}" if cpu is not None and real > 0 else f"{'-':>8}"
        cpu_cell = f"{cpu:12.1f}" if cpu is not None else f"{'-':>12}"
        lines.append(f"  {key:<{width}}  {real:12.1f}  {cpu_cell}  {share}")
    return lines


def target_line(target, width):
    met = check(target)
    if missing(target):
        return met, (f"  {target['name']:<{width}}  {'-':>10} {target['op']} "
                     f"{target['target']:<8}  MISSING")
    return met, (f"  {target['name']:<{width}}  {target['value']:10.3f} {target['op']} "
                 f"{target['target']:<8}  {'met' if met else 'MISSED'}")


def _load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _commit(root):
    result = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def readme_table(document):
    """The generated Markdown results table of one bench-results/NAME.json document."""
    lines = [f"Last run: {document.get('date', '?')}, commit {document.get('commit') or '?'}, "
             f"load average {document.get('load_average_1min_at_end', '?')} at the end "
             f"(generated by `./ambience bench {document['benchmark']}` from "
             f"bench-results/{document['benchmark']}.json; do not edit by hand).", "",
             "| target | value | wanted | |", "| --- | --- | --- | --- |"]
    for target in document["targets"]:
        value = "missing" if missing(target) else f"{target['value']:.3g}"
        verdict = "missing" if missing(target) else ("met" if check(target) else "**missed**")
        lines.append(f"| `{target['name']}` | {value} | {target['op']} {target['target']} | "
                     f"{verdict} |")
    return lines


def update_readme(path, document):
    """Replaces the results block of `document`'s benchmark in bench/README.md; False if the
    README has no such block."""
    name = document["benchmark"]
    begin, end = f"<!-- results {name} -->", f"<!-- end results {name} -->"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    block = "\n".join([begin] + readme_table(document) + [end])
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + block + tail)
    return True


def smoke_one(root, binary_dir, name):
    """Runs benchmark `name` with tiny iteration counts; exits on a failure, a missing target or
    a target the analysis did not declare."""
    module = _load(root, name)
    with tempfile.TemporaryDirectory(prefix=f"ambience-bench-{name}-") as out_dir:
        report = _execute(root, binary_dir, name, module, out_dir, smoke=True)
    failed = errors(report)
    for benchmark, message in failed.items():
        print(f"ambience bench: {name}: {benchmark} failed: {message}", flush=True)
    if failed:
        sys.exit(f"ambience bench --smoke: {name}: {len(failed)} benchmark(s) failed their checks")
    _, targets, _ = module.analyse(medians(report), counters(report))
    declared = list(getattr(module, "TARGETS", None) or [])
    reported = [t["name"] for t in targets]
    problems = [f"target {t} is declared in TARGETS but not reported"
                for t in declared if t not in reported]
    problems += [f"target {t} is reported but not declared in TARGETS"
                 for t in reported if t not in declared]
    problems += [f"target {t['name']} has no value" for t in targets if missing(t)]
    for t in targets:
        check(t)  # an op other than <= or >= raises
    if not hasattr(module, "TARGETS"):
        problems.append("the analysis declares no TARGETS (an empty list if it has none)")
    if problems:
        sys.exit(f"ambience bench --smoke: {name}: " + "; ".join(problems))
    print(f"==> bench {name}: smoke passed ({len(report['benchmarks'])} runs, "
          f"{len(targets)} targets, all present)", flush=True)


def run_one(root, binary_dir, name):
    module = _load(root, name)
    out_dir = os.path.join(root, "bench-results")
    os.makedirs(out_dir, exist_ok=True)
    report = _execute(root, binary_dir, name, module, out_dir, smoke=False)
    failed = errors(report)
    for benchmark, message in failed.items():
        print(f"ambience bench: {name}: {benchmark} failed: {message}", flush=True)
    results, rows = medians(report), counters(report)
    figures, targets, plots = module.analyse(results, rows)
    load = _load_average()

    print(f"\n{name}: every benchmark, medians per operation (CPU summed over every process)")
    for line in rows_table(results, rows):
        print(line)
    width = max(len(k) for k in list(figures) + [t["name"] for t in targets])
    print(f"\n{name}: figures (medians)")
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value:12.4f}")
    print(f"\n{name}: targets")
    all_met = True
    for target in targets:
        met, line = target_line(target, width)
        all_met &= met
        print(line)
    path = os.path.join(out_dir, f"{name}.json")
    written = [dict(t, value=None) if missing(t) else t for t in targets]
    document = {"benchmark": name, "figures": figures, "targets": written,
                "rows": {key: dict(rows.get(key, {}), real_ns_per_iteration=value)
                         for key, value in results.items()},
                "failed_benchmarks": failed,
                "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "commit": _commit(root),
                "load_average_1min_at_end": round(load, 2) if load is not None else None}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2)
    print(f"\nwrote {os.path.relpath(path, root)}")
    if failed:
        # After the table and the JSON, so that what did run is still on record.
        sys.exit(f"ambience bench: {name}: {len(failed)} benchmark(s) failed their checks")
    readme = os.path.join(root, "bench", "README.md")
    if update_readme(readme, document):
        print(f"updated the {name} results table in {os.path.relpath(readme, root)}")
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


def run(root, binary_dir, selected, smoke=False):
    known = names(root)
    for name in selected:
        if name not in known:
            sys.exit(f"ambience bench: no benchmark named {name!r} (known: {', '.join(known)})")
    for name in selected:
        if smoke:
            smoke_one(root, binary_dir, name)
        else:
            run_one(root, binary_dir, name)
    # Missed targets are reported in the table and the JSON; they are not a command failure.
    return 0
