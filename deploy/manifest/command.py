"""`ambience plan DIR [--json | --dot [--png PATH]]`: check a deployment and print its plan.

Diagnostics go to standard error as `file:line: error: message` (paths relative to the current
directory); the plan (text, JSON or Graphviz) goes to standard output, so `--json > plan.json`
holds nothing else. Exit status: 0 planned, 1 the manifest has errors, 2 a tool is missing.
"""

import os
import shutil
import subprocess
import sys


def add_arguments(parser):
    parser.add_argument("directory", help="deployment directory (holds deployment.py)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="print the plan as JSON (the code generator's input)")
    output.add_argument("--dot", action="store_true",
                        help="print a Graphviz graph of the plan and render it to PNG when "
                             "Graphviz is installed")
    parser.add_argument("--png", metavar="PATH",
                        help="with --dot: where to write the PNG "
                             "(default: build/plan/NAME.png in the repository)")


def default_png(directory):
    from manifest.interfaces import REPOSITORY
    name = os.path.basename(os.path.normpath(os.path.abspath(directory)))
    return os.path.join(REPOSITORY, "build", "plan", f"{name}.png")


def run(args, build_lidlc=None):
    """Runs the command for parsed `args`. `build_lidlc`, when given, is called to build the
    compiler if none is found."""
    try:
        import networkx  # noqa: F401  (the planner's graph library)
    except ImportError:
        print("ambience plan: python3-networkx is not installed (run ./ambience setup)",
              file=sys.stderr)
        return 2
    from manifest import analyse, interfaces, render

    if not os.path.isdir(args.directory):
        print(f"ambience plan: {args.directory} is not a directory", file=sys.stderr)
        return 2
    lidlc = interfaces.find_lidlc()
    if lidlc is None and build_lidlc is not None:
        build_lidlc()
        lidlc = interfaces.find_lidlc()
    result = analyse(args.directory, lidlc)
    for item in result.diagnostics:
        print(item.format(os.getcwd()), file=sys.stderr)
    if result.plan is None:
        errors = sum(1 for d in result.diagnostics if d.severity == "error")
        print(f"ambience plan: {errors} error{'s' if errors != 1 else ''} in "
              f"{args.directory}; no plan", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(render.as_json(result.plan))
        return 0
    if not args.dot:
        sys.stdout.write(render.text(result.plan))
        return 0
    graph = render.dot(result.plan)
    sys.stdout.write(graph)
    png = args.png or default_png(args.directory)
    if shutil.which("dot") is None:
        print("ambience plan: Graphviz is not installed; render the graph with "
              f"`ambience plan {args.directory} --dot | dot -Tpng -o plan.png` where it is",
              file=sys.stderr)
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    rendered = subprocess.run(["dot", "-Tpng", "-o", png], input=graph, text=True,
                              capture_output=True)
    if rendered.returncode != 0:
        print(f"ambience plan: dot failed: {rendered.stderr.strip()}", file=sys.stderr)
        return 2
    print(f"ambience plan: wrote {png}", file=sys.stderr)
    return 0


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="python3 -m manifest.command", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
