"""Golden test of policy compiler errors: runs `capvm compile` on every tests/policy_errors/*.policy
and compares its standard error with the .expected file beside it.
Usage: compare_golden.py CAPVM_BINARY DIRECTORY"""

import glob
import os
import subprocess
import sys


def main():
    binary, directory = sys.argv[1], sys.argv[2]
    cases = sorted(glob.glob(os.path.join(directory, "*.policy")))
    if not cases:
        sys.exit(f"no .policy files in {directory}")
    failed = 0
    for case in cases:
        with open(case, encoding="utf-8") as f:
            source = f.read()
        with open(case[:-len(".policy")] + ".expected", encoding="utf-8") as f:
            expected = f.read()
        run = subprocess.run([binary, "compile", source], capture_output=True, text=True)
        if run.returncode != 2 or run.stderr != expected:
            failed += 1
            print(f"FAIL {os.path.basename(case)}: status {run.returncode}\n"
                  f"  expected: {expected!r}\n  actual:   {run.stderr!r}")
        else:
            print(f"ok   {os.path.basename(case)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
