"""`ambience setup`: the Debian packages and package sources the project needs.

Installs what is missing with apt-get (idempotent, silent when nothing is missing; apt's progress
shown while it installs), every package for `setup`, `test` and `bench`, only the demo's for
`demo` (DECLARED tags each package with its uses); derives a
deb-src entry from the machine's own apt sources when there is none (same URIs and suites, type
deb-src; no host name is written into the repository), and fetches the mbedTLS source package
with `apt-get source` for the Cortex-M build.
"""

import glob
import os
import shutil
import subprocess
import sys

# Every package once, with the uses that need it: "demo" (`./ambience demo`: configure the
# default preset, build and run lidlc, the pipeline deployment's nodes, examples/secure_call,
# examples/crypto_tour, and the Cortex-M4 image under QEMU), "test" (the test suites of the
# default and Cortex-M4 presets, and the asan and clang presets), "bench" (the benchmarks and
# their anchors). `./ambience demo` installs the "demo" packages; `setup`, `test` and `bench`
# install all of them. The demo configures the default preset with AMB_BENCHMARKS=OFF when the
# benchmark packages are missing, so the bench/ find_package calls do not need them.
DECLARED = [
    # build
    ("cmake", "demo test bench"), ("ninja-build", "demo test bench"), ("g++", "demo test bench"),
    # pkg_check_modules of services/http_export and services/http_import (linked by the nodes)
    ("pkg-config", "demo test bench"),
    # find_package(GTest REQUIRED) at the top of the hosted configure (its config names gmock)
    ("libgtest-dev", "demo test bench"), ("libgmock-dev", "demo test bench"),
    # crypto backends of the hosted port (find_package(OpenSSL), find_library(mbedcrypto))
    ("libssl-dev", "demo test bench"), ("libmbedtls-dev", "demo test bench"),
    # caplets, hosted/remote, lidl tests: find_package(nlohmann_json REQUIRED)
    ("nlohmann-json3-dev", "demo test bench"),
    # runtime/net on the hosted port: CRC-32 from zlib
    ("zlib1g-dev", "demo test bench"),
    # HTTP export (services/http_export): libmicrohttpd; curl for its tests
    ("libmicrohttpd-dev", "demo test bench"), ("curl", "test"),
    # HTTP imports (services/http_import): libcurl's multi interface
    ("libcurl4-openssl-dev", "demo test bench"),
    # Google Benchmark (bench/CMakeLists.txt)
    ("libbenchmark-dev", "bench test"),
    # bench lidl anchors: Cap'n Proto and FlatBuffers, libraries and schema compilers
    ("libcapnp-dev", "bench test"), ("capnproto", "bench test"),
    ("libflatbuffers-dev", "bench test"), ("flatbuffers-compiler", "bench test"),
    # bench capvm anchors: Lua 5.4 (eBPF and Wasm come from clang-16, llvm-size-16 with it)
    ("liblua5.4-dev", "bench test"),
    # bench caplets anchor: classic macaroons, and libsodium (the HMAC it uses) for its floor
    ("libmacaroons-dev", "bench test"), ("libsodium-dev", "bench test"),
    # bench deploy: HTTP load generator for the REST export
    ("wrk", "bench test"),
    # Cortex-M4 cross build and emulation
    ("gcc-arm-none-eabi", "demo test"), ("picolibc-arm-none-eabi", "demo test"),
    ("libstdc++-arm-none-eabi-picolibc", "demo test"), ("qemu-system-arm", "demo test"),
    # clang preset (fuzzing, sanitizers); the capvm anchors' clang-16 and llvm-size-16
    ("clang-16", "test bench"), ("libclang-rt-16-dev", "test"), ("llvm-16", "test bench"),
    # apt-get source mbedtls (the Cortex-M4 build compiles its sources)
    ("dpkg-dev", "demo test"),
    # bench plots
    ("python3-matplotlib", "bench"),
    # deployment planner: the network graph and its routes (deploy/manifest/)
    ("python3-networkx", "demo test bench"),
    # `ambience run --netns` and its end-to-end test (deploy.e2e.netns): `ip netns`, veths
    ("iproute2", "test"),
]
USES = ("demo", "test", "bench")

PACKAGES = [name for name, _ in DECLARED]


def packages_for(use):
    """The packages one use needs, in declaration order."""
    return [name for name, uses in DECLARED if use in uses.split()]


DEMO_PACKAGES = packages_for("demo")
# What the demo does not need and the benchmarks' configure step does: when any of these is
# missing the demo configures with AMB_BENCHMARKS=OFF.
BENCH_CONFIGURE_PACKAGES = [name for name in packages_for("bench")
                            if name not in DEMO_PACKAGES and name not in
                            ("wrk", "python3-matplotlib")]

SOURCE_LIST = "/etc/apt/sources.list.d/ambience-deb-src.sources"


def _as_root(command):
    if os.geteuid() == 0:
        return command
    if shutil.which("sudo"):
        return ["sudo", "-E"] + command
    sys.exit("ambience setup: must run as root (or with sudo) to install packages")


def _apt(args, quiet=True):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = _as_root(["apt-get"] + args)
    result = subprocess.run(command, env=env, capture_output=quiet, text=True)
    if result.returncode != 0:
        if quiet:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        sys.exit(f"ambience setup: `{' '.join(command)}` failed")


def missing_packages(packages=PACKAGES):
    """The packages of `packages` that dpkg does not list as installed."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n"] + packages,
        capture_output=True, text=True)
    installed = set()
    for line in result.stdout.splitlines():
        name, _, status = line.partition(" ")
        if status.strip() == "installed":
            installed.add(name.split(":")[0])
    return [p for p in packages if p not in installed]


# --- deb-src derivation ---------------------------------------------------------------------

def parse_one_line_sources(text):
    """Entries of a one-line-style sources.list as (type, options, uri, suite, components)."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        kind = words[0]
        rest = words[1:]
        options = ""
        if rest and rest[0].startswith("["):
            option_words = []
            while rest:
                word = rest.pop(0)
                option_words.append(word)
                if word.endswith("]"):
                    break
            options = " ".join(option_words)
        if kind not in ("deb", "deb-src") or len(rest) < 2:
            continue
        entries.append((kind, options, rest[0], rest[1], " ".join(rest[2:])))
    return entries


def parse_deb822_sources(text):
    """Stanzas of a deb822 .sources file as dictionaries (keys as written)."""
    stanzas = []
    current = {}
    last_key = None
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, last_key = {}, None
            continue
        if raw[0] in " \t" and last_key:
            current[last_key] += "\n" + raw.strip()
            continue
        key, _, value = raw.partition(":")
        last_key = key.strip()
        current[last_key] = value.strip()
    return stanzas


def derive_deb_src(one_line_texts, deb822_texts):
    """The deb822 text of deb-src entries mirroring the given sources, or None when deb-src
    entries already cover every binary source."""
    have_src = set()
    wanted = []  # (uri, suites, components, signed_by)
    for text in one_line_texts:
        for kind, options, uri, suite, components in parse_one_line_sources(text):
            if kind == "deb-src":
                have_src.add((uri.rstrip("/"), suite))
            else:
                signed = ""
                for part in options.strip("[]").split():
                    if part.startswith("signed-by="):
                        signed = part.split("=", 1)[1]
                wanted.append((uri, suite, components, signed))
    for text in deb822_texts:
        for stanza in parse_deb822_sources(text):
            if stanza.get("Enabled", "yes").lower() == "no":
                continue
            types = stanza.get("Types", "").split()
            uris = stanza.get("URIs", "").split()
            suites = stanza.get("Suites", "").split()
            for uri in uris:
                for suite in suites:
                    if "deb-src" in types:
                        have_src.add((uri.rstrip("/"), suite))
                    if "deb" in types:
                        wanted.append((uri, suite, stanza.get("Components", ""),
                                       stanza.get("Signed-By", "")))
    missing = [w for w in wanted if (w[0].rstrip("/"), w[1]) not in have_src]
    if not missing:
        return None
    stanzas = []
    for uri, suite, components, signed in missing:
        lines = ["Types: deb-src", f"URIs: {uri}", f"Suites: {suite}",
                 f"Components: {components}"]
        if signed:
            lines.append(f"Signed-By: {signed}")
        stanzas.append("\n".join(lines))
    return "# Written by `ambience setup`: deb-src twins of this machine's apt sources.\n" + \
        "\n\n".join(stanzas) + "\n"


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def ensure_deb_src():
    """Adds deb-src entries when needed. Returns True when apt's lists must be updated."""
    one_line = [_read("/etc/apt/sources.list")] + \
        [_read(p) for p in sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]
    deb822 = [_read(p) for p in sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
              if p != SOURCE_LIST]
    text = derive_deb_src(one_line, deb822)
    if text is None:
        return False
    if _read(SOURCE_LIST) == text:
        return False
    print("ambience setup: adding deb-src entries for apt-get source")
    tee = subprocess.run(_as_root(["tee", SOURCE_LIST]), input=text, text=True,
                         capture_output=True)
    if tee.returncode != 0:
        sys.exit(f"ambience setup: cannot write {SOURCE_LIST}: {tee.stderr.strip()}")
    return True


def _has_src_lists():
    return bool(glob.glob("/var/lib/apt/lists/*_source_Sources*"))


def mbedtls_source_dir(root):
    return os.path.join(root, ".deps", "mbedtls")


def ensure_mbedtls_source(root):
    """Fetches the mbedTLS source package into .deps/ (for the Cortex-M build)."""
    target = mbedtls_source_dir(root)
    if os.path.exists(os.path.join(target, "library", "sha256.c")):
        return
    updated = ensure_deb_src()
    if updated or not _has_src_lists():
        print("ambience setup: apt-get update (source lists)")
        _apt(["update", "-qq"])
    download = os.path.join(root, ".deps", "src")
    os.makedirs(download, exist_ok=True)
    print("ambience setup: apt-get source mbedtls")
    result = subprocess.run(["apt-get", "source", "-qq", "mbedtls"], cwd=download,
                            capture_output=True, text=True)
    trees = sorted(d for d in glob.glob(os.path.join(download, "mbedtls-*")) if os.path.isdir(d))
    if result.returncode != 0 or not trees:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        sys.exit("ambience setup: `apt-get source mbedtls` failed")
    if os.path.islink(target) or os.path.exists(target):
        os.remove(target)
    os.symlink(os.path.relpath(trees[-1], os.path.dirname(target)), target)


def install(packages, use="setup"):
    """Installs the missing ones of `packages` with apt-get, showing apt's own progress (each
    package fetched, unpacked and set up) after a line saying how many will be installed."""
    missing = missing_packages(packages)
    if not missing:
        return
    print(f"==> ambience {use}: installing {len(missing)} Debian package"
          f"{'s' if len(missing) != 1 else ''} (apt-get adds their dependencies): "
          f"{' '.join(missing)}", flush=True)
    print("==> apt-get update", flush=True)
    _apt(["update"], quiet=False)
    print(f"==> apt-get install {' '.join(missing)}", flush=True)
    _apt(["install", "-y", "-o", "Dpkg::Use-Pty=0"] + missing,
         quiet=False)
    still = missing_packages(missing)
    if still:
        sys.exit(f"ambience {use}: still missing after install: {' '.join(still)}")
    print(f"==> ambience {use}: {len(missing)} packages installed", flush=True)


def setup(root, use=None):
    """Installs the missing packages of `use` (every package when None) and fetches the mbedTLS
    sources. Quiet when nothing is missing."""
    install(PACKAGES if use is None else packages_for(use), use or "setup")
    ensure_mbedtls_source(root)


def needs_setup(root, use=None):
    return bool(missing_packages(PACKAGES if use is None else packages_for(use))) or \
        not os.path.exists(os.path.join(mbedtls_source_dir(root), "library", "sha256.c"))
