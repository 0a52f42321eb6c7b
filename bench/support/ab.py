"""A/B of one benchmark program between two builds, in one run: the old and the new binary run
in turns (old, new, old, new, ...), each turn a Google Benchmark run of the selected rows, and
the table gives each row's median over the turns for both, with new/old ratios for time and,
where the row reports it, CPU per operation (counter cpu_ns). Both binaries run on the same
machine in the same minutes, so load affects both alike.

    python3 bench/support/ab.py OLD_BUILD NEW_BUILD PROGRAM [--filter REGEX] [--turns N]
    python3 bench/support/ab.py /tmp/old/build/default build/default ipc_bench \
        --filter '^(add|inflight)/'

Only the standard library; the benchmark programs are the ones `./ambience bench` runs."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def one_turn(binary, pattern):
    """{row: (real ns, cpu_ns counter or None)} of one run of `binary` over rows `pattern`."""
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "rows.json")
        # The rows go to a file: fixtures may print on standard output.
        command = [binary, "--benchmark_out=" + out, "--benchmark_out_format=json",
                   "--benchmark_min_time=0.1"]
        if pattern:
            command.append("--benchmark_filter=" + pattern)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{binary} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        with open(out, encoding="utf-8") as file:
            report = json.load(file)
    rows = {}
    for row in report["benchmarks"]:
        if row.get("run_type") == "aggregate" or row.get("error_occurred"):
            continue
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[row.get("time_unit", "ns")]
        rows[row["name"]] = (row["real_time"] * scale, row.get("cpu_ns"))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_build")
    parser.add_argument("new_build")
    parser.add_argument("program", help="benchmark program, e.g. ipc_bench")
    parser.add_argument("--filter", default="", help="Google Benchmark filter")
    parser.add_argument("--turns", type=int, default=5)
    options = parser.parse_args()
    sides = {name: os.path.join(build, "bench", options.program)
             for name, build in (("old", options.old_build), ("new", options.new_build))}
    samples = {"old": {}, "new": {}}
    for turn in range(options.turns):
        for side, binary in sides.items():
            print(f"turn {turn + 1}/{options.turns}: {side}", file=sys.stderr, flush=True)
            for row, value in one_turn(binary, options.filter).items():
                samples[side].setdefault(row, []).append(value)
    print(f"{'row':60} {'old ns':>11} {'new ns':>11} {'new/old':>8} "
          f"{'old cpu':>9} {'new cpu':>9} {'cpu n/o':>8}")
    for row in sorted(set(samples["old"]) & set(samples["new"])):
        old_times = [t for t, _ in samples["old"][row]]
        new_times = [t for t, _ in samples["new"][row]]
        old_cpu = [c for _, c in samples["old"][row] if c]
        new_cpu = [c for _, c in samples["new"][row] if c]
        old_t, new_t = statistics.median(old_times), statistics.median(new_times)
        line = f"{row:60} {old_t:11.1f} {new_t:11.1f} {new_t / old_t:8.3f}"
        if old_cpu and new_cpu:
            old_c, new_c = statistics.median(old_cpu), statistics.median(new_cpu)
            line += f" {old_c:9.1f} {new_c:9.1f} {new_c / old_c:8.3f}"
        print(line)


if __name__ == "__main__":
    main()
