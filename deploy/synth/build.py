"""`ambience build DIR`: check, plan, synthesize and build a deployment's nodes, then create its
keys (docs/deploy.md, "Building").

The nodes are targets of the main CMake build (preset `default`), so Ambience's libraries are
built once and reused: a directory already in the build (examples/pipeline, the deployments of
deploy/synth/tests/) is built as it is; any other is added to the cache variable
AMB_DEPLOYMENTS and the build is configured again.
"""

import os
import subprocess
import sys

from manifest import analyse, interfaces
from synth import generate, keys


class build_error(Exception):
    pass


def tool_path(binary_dir, *parts):
    return os.path.join(binary_dir, *parts)


def cache_value(binary_dir, variable):
    """The value of `variable` in the CMake cache of `binary_dir` ("" when unset or unconfigured)."""
    try:
        with open(os.path.join(binary_dir, "CMakeCache.txt"), encoding="utf-8") as cache:
            for line in cache:
                if line.startswith(variable + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def _in_build(binary_dir, name, directory):
    try:
        with open(os.path.join(binary_dir, "deploy", name, "source"), encoding="utf-8") as f:
            return os.path.realpath(f.read().strip()) == os.path.realpath(directory)
    except OSError:
        return False


def build(root, directory, binary_dir, run, step, build_lidlc):
    """Builds deployment `directory`. `run(command)` runs a command or exits; `step(text)`
    prints progress; `build_lidlc()` builds lidlc. Returns the deployment description."""
    directory = os.path.abspath(directory)
    if not os.path.isfile(os.path.join(directory, "deployment.py")):
        raise build_error(f"{os.path.relpath(directory)}: no deployment.py in this directory")
    lidlc = interfaces.find_lidlc()
    if lidlc is None:
        build_lidlc()
        lidlc = interfaces.find_lidlc()
    step(f"checking and planning {os.path.relpath(directory)}")
    result = analyse(directory, lidlc)
    for item in result.diagnostics:
        print(item.format(), file=sys.stderr)
    if result.plan is None:
        raise build_error("the manifest has errors (above)")
    description = generate.describe(result.plan)  # raises synthesis_error for unsupported parts
    name = description["name"]
    if not _in_build(binary_dir, name, directory):
        listed = [d for d in cache_value(binary_dir, "AMB_DEPLOYMENTS").split(";") if d]
        if directory not in listed:
            listed.append(directory)
        step(f"adding {name} to the build (AMB_DEPLOYMENTS)")
        run(["cmake", "--preset", "default", f"-DAMB_DEPLOYMENTS={';'.join(listed)}"],
            stdout=subprocess.DEVNULL)
    step(f"synthesizing and building the nodes of {name}")
    run(["cmake", "--build", binary_dir, "--target", f"deploy_{name}"])
    step(f"keys of {name} in {os.path.relpath(keys.key_directory(root, name))}")
    keys.ensure(root, description,
                tool_path(binary_dir, "hosted", "remote", "amb-remote-keys"))
    for node in description["nodes"]:
        print(f"    node {node}: "
              f"{os.path.relpath(os.path.join(binary_dir, 'deploy', name, 'bin', node))}")
    return description
