#!/usr/bin/python3
"""Checks the files lidlc writes: the headers of --cpp and the depfile of --deps.

    outputs.py --lidlc PATH --schema FILE --work DIR

The schema must import at least one file. Checks that --cpp writes <stem>.lidl.hpp and
<stem>.lidl.json.hpp, that the depfile names the header as its target and lists the schema and
its imports by absolute path, that a failing run writes nothing, and that bad command lines exit
with status 2. Standard library only.
"""

import argparse
import os
import shutil
import subprocess
import sys


def run(lidlc, *arguments, cwd=None):
    return subprocess.run([lidlc, *arguments], cwd=cwd, capture_output=True, text=True, timeout=60)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lidlc", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--work", required=True)
    options = parser.parse_args()

    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    shutil.rmtree(options.work, ignore_errors=True)
    out_dir = os.path.join(options.work, "generated")  # created by lidlc
    depfile = os.path.join(options.work, "schema.d")
    schema = os.path.abspath(options.schema)
    stem = os.path.splitext(os.path.basename(schema))[0]
    os.makedirs(options.work)

    result = run(options.lidlc, "--cpp", out_dir, "--deps", depfile, schema)
    check(result.returncode == 0, f"lidlc failed: {result.stderr}")
    header = os.path.join(out_dir, f"{stem}.lidl.hpp")
    check(os.path.isfile(header), f"{header} was not written")
    check(os.path.isfile(os.path.join(out_dir, f"{stem}.lidl.json.hpp")), "no JSON header")
    check(not any(name.endswith(".tmp") for name in os.listdir(out_dir)), "temporary files left")

    with open(depfile, encoding="utf-8") as file:
        depfile_text = file.read()
    check(depfile_text.startswith(os.path.abspath(header) + ":"),
          f"the depfile does not start with the header:\n{depfile_text}")
    check(f" {schema} " in depfile_text.replace("\\\n", " "),
          f"the depfile does not list {schema}:\n{depfile_text}")
    dependencies = depfile_text.replace("\\\n", " ").split()[1:]
    check(len(dependencies) >= 2, f"the depfile lists no import:\n{depfile_text}")
    check(all(os.path.isabs(path) for path in dependencies), "relative path in the depfile")

    broken = os.path.join(options.work, "broken.lidl")
    with open(broken, "w", encoding="utf-8") as file:
        file.write("struct s { x: nope; }\n")
    broken_out = os.path.join(options.work, "broken_out")
    result = run(options.lidlc, "--cpp", broken_out, "--deps", broken + ".d", broken)
    check(result.returncode == 1, f"a broken schema exited with {result.returncode}")
    check(not os.path.exists(broken_out), "outputs were written for a broken schema")
    check(not os.path.exists(broken + ".d"), "a depfile was written for a broken schema")

    for arguments in (["--bogus", schema], [], [schema, schema], ["--cpp"]):
        result = run(options.lidlc, *arguments)
        check(result.returncode == 2, f"lidlc {arguments} exited with {result.returncode}")
        check("lidlc: error:" in result.stderr, f"lidlc {arguments} printed {result.stderr!r}")
    result = run(options.lidlc, "--help")
    check(result.returncode == 0 and "usage: lidlc" in result.stdout, "--help")
    result = run(options.lidlc, os.path.join(options.work, "missing.lidl"))
    check(result.returncode == 1 and "cannot read" in result.stderr, "missing main file")

    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
