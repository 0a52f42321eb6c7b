"""Commands CMake runs (deploy/synth/deployment.cmake):

  python3 -m synth nodes DIR              the deployment's name, hosted nodes, implementation
                                          targets and manifest files (no lidlc needed)
  python3 -m synth generate DIR --out D   checks and plans DIR, writes D/NODE.cpp for every node
                                          and D/deployment.json
"""

import argparse
import json
import os
import sys

from manifest import analyse, load
from synth import generate


def nodes(directory):
    manifest, found = load(directory)
    if found.has_errors() or not manifest.complete:
        for item in found.sorted():
            print(item.format(), file=sys.stderr)
        return 1
    name = os.path.basename(os.path.normpath(os.path.abspath(directory)))
    print(f"name {name}")
    for node in manifest.nodes.values():
        print(f"node {node.name}")
    for service in manifest.services.values():
        print(f"target {service.implementation}")
    for path in manifest.files:
        print(f"file {os.path.abspath(path)}")
    return 0


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as existing:
            if existing.read() == text:
                return
    except OSError:
        pass
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def generate_command(directory, out):
    result = analyse(directory)
    for item in result.diagnostics:
        print(item.format(), file=sys.stderr)
    if result.plan is None:
        return 1
    try:
        description = generate.describe(result.plan)
        sources = generate.node_sources(result.plan, description)
    except generate.synthesis_error as error:
        print(error, file=sys.stderr)
        return 1
    os.makedirs(out, exist_ok=True)
    for node, text in sources.items():
        write_if_changed(os.path.join(out, f"{node}.cpp"), text)
    write_if_changed(os.path.join(out, "deployment.json"),
                     json.dumps(description, indent=2) + "\n")
    write_if_changed(os.path.join(out, "plan.json"), json.dumps(result.plan, indent=2) + "\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m synth")
    sub = parser.add_subparsers(dest="command", required=True)
    p_nodes = sub.add_parser("nodes")
    p_nodes.add_argument("directory")
    p_generate = sub.add_parser("generate")
    p_generate.add_argument("directory")
    p_generate.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "nodes":
        return nodes(args.directory)
    return generate_command(args.directory, args.out)


if __name__ == "__main__":
    sys.exit(main())
