"""Subcommands of `./ambience`.

  setup               install the Debian packages and sources the project needs
  build [--preset P]  configure (once) and build a CMake preset (default: default)
  test  [--preset P]  build and run the test suite; without --preset: the default preset and
                      the Cortex-M4 preset (vector tests on QEMU mps2-an386)
  test --all          what CI (.ci/run) runs: presets default, cortex-m4, asan, clang, then
                      `bench --smoke`
  demo                build and run the main demo
  bench [NAME ...] [--smoke]
                      run benchmarks, print their tables, write bench-results/NAME.json and the
                      results tables of bench/README.md; --smoke: tiny iteration counts, checks
                      that every program succeeds and reports every target (run by CI)
  plan DIR [--json | --dot]
                      check the deployment manifest DIR/deployment.py and print its placement,
                      bindings and routes (docs/deploy.md)
  build DIR           check, plan, synthesize and build the nodes of deployment DIR, create its keys
  run DIR [--base-port N] [--seconds S] [--no-netns]
                      start every node of a built deployment on this machine, show their logs,
                      stop them all on Ctrl-C (or after S seconds)
  status [DIR]        the running deployments, their nodes and HTTP exports
  logs DIR [--node N] [--service S] [--status ok|error|N]
                      the request logs of the nodes of a run (running or stopped), merged in
                      time order; DIR is the deployment or its run directory
  token issue DIR --service EXPORT [--procedures a,b] [--expires 1h]
                      print a CAPLets token for an HTTP export of deployment DIR
"""

import argparse
import os
import subprocess
import sys
import time

from manifest import command as plan_command
from tool import bench, packages

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRESETS = ["default", "asan", "clang", "cortex-m4"]
# `./ambience test` (the README's test command) and `./ambience test --all` (what .ci/run runs).
DEFAULT_TEST_PRESETS = ["default", "cortex-m4"]
CI_PRESETS = DEFAULT_TEST_PRESETS + ["asan", "clang"]


def step(message):
    print(f"==> {message}", flush=True)


def run(command, **kwargs):
    result = subprocess.run(command, cwd=kwargs.pop("cwd", ROOT), **kwargs)
    if result.returncode != 0:
        sys.exit(f"ambience: `{' '.join(command)}` failed with status {result.returncode}")
    return result


def ensure_setup(use=None):
    """Installs the packages of `use` ("demo": what the demo and deployment builds need; None:
    every package) and the mbedTLS sources when something is missing."""
    if packages.needs_setup(ROOT, use):
        packages.setup(ROOT, use)


def configure(preset, full=False):
    """Configures `preset` when it has no build tree yet. The default preset's benchmarks need
    packages the demo does not install (packages.BENCH_CONFIGURE_PACKAGES): without them it is
    configured with AMB_BENCHMARKS=OFF; `full` (build, test, bench) turns them on again."""
    binary_dir = os.path.join(ROOT, "build", preset)
    configured = os.path.exists(os.path.join(binary_dir, "CMakeCache.txt"))
    if preset != "default":
        if not configured:
            step(f"configuring preset {preset}")
            run(["cmake", "--preset", preset], stdout=subprocess.DEVNULL)
        return binary_dir
    from synth.build import cache_value
    benchmarks = cache_value(binary_dir, "AMB_BENCHMARKS")
    if full and configured and benchmarks == "OFF":
        step("configuring preset default with the benchmarks (AMB_BENCHMARKS=ON)")
        run(["cmake", "--preset", "default", "-DAMB_BENCHMARKS=ON"], stdout=subprocess.DEVNULL)
    elif not configured:
        missing = [] if full else packages.missing_packages(packages.BENCH_CONFIGURE_PACKAGES)
        if missing:
            step("configuring preset default without the benchmarks (AMB_BENCHMARKS=OFF: "
                 f"`./ambience setup` installs {' '.join(missing)})")
            run(["cmake", "--preset", "default", "-DAMB_BENCHMARKS=OFF"],
                stdout=subprocess.DEVNULL)
        else:
            step("configuring preset default")
            run(["cmake", "--preset", "default"], stdout=subprocess.DEVNULL)
    return binary_dir


def build(preset):
    ensure_setup()
    if preset == "cortex-m4":
        # Cross builds run host tools (lidlc) from the default tree.
        build_targets("default", ["lidlc"], full=True)
    binary_dir = configure(preset, full=True)
    step(f"building preset {preset}")
    run(["cmake", "--build", "--preset", preset])
    return binary_dir


def build_targets(preset, targets, full=False):
    binary_dir = configure(preset, full)
    step(f"building {', '.join(targets)} in preset {preset}")
    run(["cmake", "--build", "--preset", preset, "--target"] + targets)
    return binary_dir


def test(presets):
    for preset in presets:
        build(preset)
        step(f"testing preset {preset}")
        started = time.monotonic()
        run(["ctest", "--preset", preset, "--progress", "-j", str(os.cpu_count() or 2)])
        step(f"preset {preset}: all tests passed in {time.monotonic() - started:.1f} s")


def demo():
    """Installs only the demo's packages, builds only the targets each step runs just before
    it runs, and stamps each step with the time elapsed since the command started."""
    started = time.monotonic()

    def timed(message):
        elapsed = int(time.monotonic() - started)
        text = message[4:] if message.startswith("==> ") else message
        print(f"==> [{elapsed // 60}:{elapsed % 60:02d}] {text}", flush=True)

    packages.install(packages.DEMO_PACKAGES, "demo")
    timed("demo 1/4: a deployment of three nodes over a serial line and UDP (examples/pipeline)")
    # lidlc (plan, synthesis) and the deployment's nodes in one build; `ambience build` in the
    # step below then finds them up to date.
    build_targets("default", ["lidlc", "deploy_pipeline"])
    status = pipeline_demo(timed)
    if status != 0:
        sys.exit(f"ambience: the deployment demo failed with status {status}")
    timed("demo 2/4: a thermostat called from two other nodes, every call authorised by CAPLets")
    host = build_targets("default", ["secure_call", "crypto_tour"])
    run([os.path.join(host, "examples", "secure_call", "secure_call")])
    timed("demo 3/4: the crypto layer on this machine (OpenSSL backend)")
    run([os.path.join(host, "examples", "crypto_tour", "crypto_tour")])
    timed("demo 4/4: CAPLets on an emulated Cortex-M4 (mbedTLS backend, QEMU mps2-an386)")
    packages.ensure_mbedtls_source(ROOT)
    target = build_targets("cortex-m4", ["caplets_m4"])
    image = os.path.join(target, "tests", "cortex-m4", "caplets_m4.elf")
    run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
         "-serial", "stdio", "-semihosting-config", "enable=on,target=native", "-kernel", image])
    print("\nWhat happened: a manifest of three nodes was checked, planned and built into one\n"
          "program per node; the nodes ran as processes (one per group), a REST call to the\n"
          "aggregator travelled through a group channel, then as a CAPLets request token over\n"
          "UDP and a serial line (two hops) to the sensor, and forged, expired and misdirected\n"
          "tokens were refused. Then a home node minted CAPLets tokens for an owner and a guest; each call\n"
          "to its thermostat service (a lidl interface) travelled over UDP as a lidl call message\n"
          "inside a CAPLets request token, which the node verified before the service ran; the\n"
          "guest's write, a replayed request, a tampered request and a revoked token were refused\n"
          "with their reasons. Then the crypto layer agreed keys, sealed messages and checked a\n"
          "tag chain on this machine, and a Cortex-M4 image under QEMU minted, derived and\n"
          "verified tokens itself, refusing an expired, a widened and a tampered one.")


def build_lidlc():
    """Builds lidlc for `plan` (progress on standard error: standard output holds the plan)."""
    configure("default")
    print("==> building lidlc in preset default", file=sys.stderr, flush=True)
    run(["cmake", "--build", "--preset", "default", "--target", "lidlc"], stdout=sys.stderr)


def main(argv):
    parser = argparse.ArgumentParser(prog="ambience", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="install needed Debian packages and sources")
    p_build = sub.add_parser("build", help="build a preset, or the nodes of a deployment")
    p_build.add_argument("--preset", choices=PRESETS, default="default")
    p_build.add_argument("directory", nargs="?", help="a deployment directory (deployment.py)")
    p_test = sub.add_parser("test", help="build and run tests")
    p_test.add_argument("--preset", choices=PRESETS, action="append")
    p_test.add_argument("--all", action="store_true",
                        help="every preset CI runs, then the benchmark smoke run (as .ci/run)")
    sub.add_parser("demo", help="run the main demo")
    p_bench = sub.add_parser("bench", help="run benchmarks")
    p_bench.add_argument("names", nargs="*", help=f"benchmarks ({', '.join(bench.names(ROOT))})")
    p_bench.add_argument("--smoke", action="store_true",
                         help="tiny iteration counts; check success and that every target is reported")
    p_plan = sub.add_parser("plan", help="check a deployment and print its plan")
    plan_command.add_arguments(p_plan)
    add_deployment_commands(sub)
    args = parser.parse_args(argv)

    if args.command == "setup":
        packages.setup(ROOT)
    elif args.command == "build" and args.directory:
        return build_deployment(args.directory)
    elif args.command == "build":
        build(args.preset)
    elif args.command == "test":
        if args.all and args.preset:
            sys.exit("ambience test: --all runs every preset; do not name one")
        if args.all:
            test(CI_PRESETS)
            step("benchmark smoke run (every program, tiny iteration counts)")
            return bench.run(ROOT, build("default"), bench.names(ROOT), smoke=True)
        test(args.preset or DEFAULT_TEST_PRESETS)
    elif args.command == "demo":
        demo()
    elif args.command == "bench":
        binary_dir = build("default")
        return bench.run(ROOT, binary_dir, args.names or bench.names(ROOT), smoke=args.smoke)
    elif args.command == "plan":
        return plan_command.run(args, build_lidlc)
    elif args.command in ("run", "status", "token"):
        return deployment_command(args)
    elif args.command == "logs":
        return show_logs(args)
    return 0


# --- deployments: build DIR, run, status, token (deploy/synth, docs/deploy.md) -------------------

def add_deployment_commands(sub):
    p_run = sub.add_parser("run", help="run every node of a built deployment")
    p_run.add_argument("directory")
    p_run.add_argument("--base-port", type=int, default=None)
    p_run.add_argument("--seconds", type=float, default=None,
                       help="stop after this many seconds (default: at Ctrl-C)")
    p_run.add_argument("--no-netns", action="store_true",
                       help="run on loopback ports even as root (no network namespaces)")
    p_status = sub.add_parser("status", help="show the running deployments")
    p_status.add_argument("directory", nargs="?")
    p_logs = sub.add_parser("logs", help="show the request logs of a run, merged across nodes")
    p_logs.add_argument("directory", help="the deployment directory, or its run directory")
    p_logs.add_argument("--node", action="append", default=[],
                        help="only this node (repeatable)")
    p_logs.add_argument("--service", action="append", default=[],
                        help="only this instance or interface (repeatable)")
    p_logs.add_argument("--status", default=None,
                        help="ok, error (any failure) or a status number")
    p_logs.add_argument("--json", action="store_true", help="print the JSON lines themselves")
    p_token = sub.add_parser("token", help="issue a token for an HTTP export")
    token_sub = p_token.add_subparsers(dest="token_command", required=True)
    p_issue = token_sub.add_parser("issue")
    p_issue.add_argument("directory")
    p_issue.add_argument("--service", required=True, help="the export's name (its URL path)")
    p_issue.add_argument("--procedures", default="*",
                         help="comma-separated procedures (default: all)")
    p_issue.add_argument("--expires", default="1h", help="lifetime: 90s, 15m, 1h, 2d or 'never'")


def deployment_binary_dir():
    return os.path.join(ROOT, "build", "default")


def build_deployment(directory):
    from synth import build as deployment_build, generate, keys
    packages.install(packages.DEMO_PACKAGES, "build")  # nodes need what the demo's need
    binary_dir = configure("default")
    try:
        deployment_build.build(ROOT, directory, binary_dir, run, step, build_lidlc)
    except (deployment_build.build_error, generate.synthesis_error, keys.key_error) as error:
        print(f"ambience: {error}", file=sys.stderr)
        return 1
    return 0


def deployment_command(args):
    from synth import keys, run as deployment_run
    name = (os.path.basename(os.path.normpath(os.path.abspath(args.directory)))
            if getattr(args, "directory", None) else None)
    if args.command == "status":
        return deployment_run.status(ROOT, name)
    if args.command == "token":
        try:
            expires = None if args.expires == "never" else keys.parse_duration(args.expires)
            print(keys.issue_token(ROOT, name, os.path.join(deployment_binary_dir(), "caplets",
                                                            "caplets"),
                                   args.service, args.procedures.split(","), expires))
        except keys.key_error as error:
            print(f"ambience: {error}", file=sys.stderr)
            return 1
        return 0
    return run_deployment(args.directory, args.base_port, args.seconds,
                          netns=not args.no_netns)


def run_directory(directory):
    """The run directory of `directory`: itself when it holds request logs or no manifest,
    else the run directory `ambience run` keeps for that deployment."""
    from synth import run as deployment_run
    if not os.path.isfile(os.path.join(directory, "deployment.py")):
        return directory
    name = os.path.basename(os.path.normpath(os.path.abspath(directory)))
    return deployment_run.state_directory(ROOT, name)


def show_logs(args):
    """`ambience logs DIR`: every node's request log, merged in time order, filtered."""
    import json
    from synth import logs
    if args.status not in (None, "ok", "error") and not args.status.isdigit():
        print(f"ambience logs: --status must be ok, error or a number, not {args.status!r}",
              file=sys.stderr)
        return 2
    directory = run_directory(args.directory)
    if not os.path.isdir(directory):
        print(f"ambience logs: no run directory {directory} (run the deployment first: "
              f"./ambience run {args.directory})", file=sys.stderr)
        return 1
    entries, unreadable = logs.read(directory)
    for entry in logs.select(entries, args.node, args.service, args.status):
        print(json.dumps(entry) if args.json else logs.format(entry))
    if unreadable:
        print(f"ambience logs: {unreadable} unreadable line(s) skipped", file=sys.stderr)
    return 0


def run_deployment(directory, base_port=None, seconds=None, netns=True):
    """`ambience run DIR`: starts every node, streams logs, stops everything on Ctrl-C,
    SIGTERM or after `seconds`."""
    import signal
    from synth import run as deployment_run
    try:
        session = deployment_run.deployment_run(ROOT, directory, deployment_binary_dir(),
                                                base_port, netns="auto" if netns else False)
    except OSError:
        print(f"ambience: {directory} is not built (run `./ambience build {directory}`)",
              file=sys.stderr)
        return 1
    try:
        session.claim()  # refuses at once when the deployment already runs
    except deployment_run.already_running as error:
        print(f"ambience: {error}", file=sys.stderr)
        return 1
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    try:
        session.setup_netns()
        step(f"network namespaces: {session.netns_status}")
        step(f"starting {', '.join(session.nodes)}")
        session.start_all()
        for node, info in session.description["nodes"].items():
            for export in info["http_exports"]:
                step(f"{export['instance']} served by {node} at "
                     f"{session.http_url(export['name'])}")
        step("running; Ctrl-C stops every node")
        deadline = time.monotonic() + seconds if seconds is not None else None
        while not stop and (deadline is None or time.monotonic() < deadline):
            if not session.running():
                print("ambience: every node has exited", file=sys.stderr)
                break
            time.sleep(0.1)
    except RuntimeError as error:
        print(f"ambience: {error}", file=sys.stderr)
        session.stop_all()
        return 1
    finally:
        step("stopping")
        session.stop_all()
    left = [n for n, e in session.nodes.items() if e.process and e.process.poll() is None]
    step("stopped: no node left running" if not left else f"still running: {left}")
    return 0 if not left else 1


def pipeline_demo(progress=step):
    """The deployment demo (examples/pipeline/README.md), for `./ambience demo` to call: builds
    and runs three nodes over a serial line and UDP, answers a REST call end to end, refuses a
    forged and an expired token, prints the plan, stops everything. Returns an exit status."""
    from synth import demo as pipeline
    return pipeline.run(ROOT, progress)
