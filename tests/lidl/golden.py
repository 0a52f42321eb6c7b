#!/usr/bin/python3
"""Runs lidlc and compares what it prints with golden files (standard library only).

    golden.py --lidlc PATH --directory DIR [--status N] [--stdout FILE] [--stderr FILE]
              [--json] -- LIDLC_ARGUMENTS...

lidlc runs with DIR as its working directory, so messages name files relative to DIR. A stream
without a golden file must be empty. --json also checks that stdout parses with
`python3 -m json.tool`. On a mismatch the script prints a unified diff and exits 1.
With LIDL_UPDATE_GOLDEN=1 in the environment it rewrites the golden files instead.
"""

import argparse
import difflib
import os
import subprocess
import sys


def compare(label, expected_path, actual):
    if expected_path is None:
        if actual:
            print(f"unexpected output on {label}:\n{actual}", end="")
            return False
        return True
    if os.environ.get("LIDL_UPDATE_GOLDEN") == "1":
        with open(expected_path, "w", encoding="utf-8", newline="") as file:
            file.write(actual)
        print(f"updated {expected_path}")
        return True
    with open(expected_path, encoding="utf-8", newline="") as file:
        expected = file.read()
    if expected == actual:
        return True
    print(f"{label} differs from {expected_path}:")
    sys.stdout.writelines(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=expected_path,
            tofile=f"lidlc {label}",
        )
    )
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lidlc", required=True)
    parser.add_argument("--directory", required=True)
    parser.add_argument("--status", type=int, default=0)
    parser.add_argument("--stdout")
    parser.add_argument("--stderr")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("arguments", nargs="+")
    options = parser.parse_args()

    run = subprocess.run(
        [options.lidlc, *options.arguments],
        cwd=options.directory,
        capture_output=True,
        timeout=60,
    )
    stdout = run.stdout.decode("utf-8", errors="replace")
    stderr = run.stderr.decode("utf-8", errors="replace")

    ok = True
    if run.returncode != options.status:
        print(f"lidlc exited with status {run.returncode}, expected {options.status}")
        ok = False
    ok = compare("stderr", options.stderr, stderr) and ok
    ok = compare("stdout", options.stdout, stdout) and ok
    if options.json:
        tool = subprocess.run(
            [sys.executable, "-m", "json.tool"], input=run.stdout, capture_output=True
        )
        if tool.returncode != 0:
            print("stdout is not valid JSON:", tool.stderr.decode(errors="replace"))
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
