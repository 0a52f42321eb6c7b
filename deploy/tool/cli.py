"""Subcommands of `./ambience`.

  setup               install the Debian packages and sources the project needs
  build [--preset P]  configure (once) and build a CMake preset (default: default)
  test  [--preset P]  build and run the test suite; without --preset: the default preset and
                      the Cortex-M4 preset (vector tests on QEMU mps2-an386)
  demo                build and run the main demo
  bench [NAME ...]    run benchmarks, print their tables, write bench-results/NAME.json
  plan DIR [--json | --dot]
                      check the deployment manifest DIR/deployment.py and print its placement,
                      bindings and routes (docs/deploy.md)
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


def step(message):
    print(f"==> {message}", flush=True)


def run(command, **kwargs):
    result = subprocess.run(command, cwd=kwargs.pop("cwd", ROOT), **kwargs)
    if result.returncode != 0:
        sys.exit(f"ambience: `{' '.join(command)}` failed with status {result.returncode}")
    return result


def ensure_setup():
    if packages.needs_setup(ROOT):
        packages.setup(ROOT)


def build(preset):
    ensure_setup()
    if preset == "cortex-m4":
        # Cross builds run host tools (lidlc) from the default tree.
        build_targets("default", ["lidlc"])
    binary_dir = os.path.join(ROOT, "build", preset)
    if not os.path.exists(os.path.join(binary_dir, "CMakeCache.txt")):
        step(f"configuring preset {preset}")
        run(["cmake", "--preset", preset], stdout=subprocess.DEVNULL)
    step(f"building preset {preset}")
    run(["cmake", "--build", "--preset", preset])
    return binary_dir


def build_targets(preset, targets):
    binary_dir = os.path.join(ROOT, "build", preset)
    if not os.path.exists(os.path.join(binary_dir, "CMakeCache.txt")):
        step(f"configuring preset {preset}")
        run(["cmake", "--preset", preset], stdout=subprocess.DEVNULL)
    step(f"building {', '.join(targets)} in preset {preset}")
    run(["cmake", "--build", "--preset", preset, "--target"] + targets)


def test(presets):
    for preset in presets:
        build(preset)
        step(f"testing preset {preset}")
        started = time.monotonic()
        run(["ctest", "--preset", preset, "--progress", "-j", str(os.cpu_count() or 2)])
        step(f"preset {preset}: all tests passed in {time.monotonic() - started:.1f} s")


def demo():
    host = build("default")
    target = build("cortex-m4")
    step("demo 1/3: a thermostat service called over UDP, every call authorised by CAPLets")
    run([os.path.join(host, "examples", "secure_call", "secure_call")])
    step("demo 2/3: the crypto layer on this machine (OpenSSL backend)")
    run([os.path.join(host, "examples", "crypto_tour", "crypto_tour")])
    step("demo 3/3: CAPLets on an emulated Cortex-M4 (mbedTLS backend, QEMU mps2-an386)")
    image = os.path.join(target, "ports", "cortex-m", "smoke", "caplets_m4.elf")
    run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
         "-serial", "stdio", "-semihosting-config", "enable=on,target=native", "-kernel", image])
    print("\nWhat happened: a home node minted CAPLets tokens for an owner and a guest; each call\n"
          "to its thermostat service (a lidl interface) travelled over UDP as a lidl call message\n"
          "inside a CAPLets request token, which the node verified before the service ran; the\n"
          "guest's write, a replayed request, a tampered request and a revoked token were refused\n"
          "with their reasons. Then the crypto layer agreed keys, sealed messages and checked a\n"
          "tag chain on this machine, and a Cortex-M4 image under QEMU minted, derived and\n"
          "verified tokens itself, refusing an expired, a widened and a tampered one.")


def build_lidlc():
    """Builds lidlc for `plan` (progress on standard error: standard output holds the plan)."""
    if not os.path.exists(os.path.join(ROOT, "build", "default", "CMakeCache.txt")):
        run(["cmake", "--preset", "default"], stdout=subprocess.DEVNULL)
    print("==> building lidlc in preset default", file=sys.stderr, flush=True)
    run(["cmake", "--build", "--preset", "default", "--target", "lidlc"], stdout=sys.stderr)


def main(argv):
    parser = argparse.ArgumentParser(prog="ambience", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="install needed Debian packages and sources")
    p_build = sub.add_parser("build", help="build a preset")
    p_build.add_argument("--preset", choices=PRESETS, default="default")
    p_test = sub.add_parser("test", help="build and run tests")
    p_test.add_argument("--preset", choices=PRESETS, action="append")
    sub.add_parser("demo", help="run the main demo")
    p_bench = sub.add_parser("bench", help="run benchmarks")
    p_bench.add_argument("names", nargs="*", help=f"benchmarks ({', '.join(bench.names(ROOT))})")
    p_plan = sub.add_parser("plan", help="check a deployment and print its plan")
    plan_command.add_arguments(p_plan)
    args = parser.parse_args(argv)

    if args.command == "setup":
        packages.setup(ROOT)
    elif args.command == "build":
        build(args.preset)
    elif args.command == "test":
        test(args.preset or ["default", "cortex-m4"])
    elif args.command == "demo":
        demo()
    elif args.command == "bench":
        binary_dir = build("default")
        return bench.run(ROOT, binary_dir, args.names or bench.names(ROOT))
    elif args.command == "plan":
        return plan_command.run(args, build_lidlc)
    return 0
