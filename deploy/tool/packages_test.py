"""Tests of the package declaration and the deb-src derivation used by `ambience setup`."""

import unittest

from tool import packages

DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


class derive_deb_src_test(unittest.TestCase):
    def test_deb822_sources_get_deb_src_twins(self):
        text = packages.derive_deb_src([], [DEB822])
        stanzas = packages.parse_deb822_sources(text)
        self.assertEqual(
            [(s["Types"], s["URIs"], s["Suites"], s["Components"]) for s in stanzas],
            [("deb-src", "http://deb.debian.org/debian", "bookworm", "main"),
             ("deb-src", "http://deb.debian.org/debian", "bookworm-updates", "main"),
             ("deb-src", "http://deb.debian.org/debian-security", "bookworm-security",
              "main contrib")])
        self.assertTrue(all(s["Signed-By"].endswith("debian-archive-keyring.gpg")
                            for s in stanzas))

    def test_one_line_sources_with_options(self):
        text = packages.derive_deb_src(
            ["deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
             "# deb-src http://mirror.example/debian bookworm main\n"], [])
        (stanza,) = packages.parse_deb822_sources(text)
        self.assertEqual(stanza["URIs"], "http://mirror.example/debian")
        self.assertEqual(stanza["Signed-By"], "/k.gpg")

    def test_nothing_to_do_when_deb_src_exists(self):
        self.assertIsNone(packages.derive_deb_src(
            ["deb http://m/debian bookworm main\ndeb-src http://m/debian/ bookworm main\n"], []))
        self.assertIsNone(packages.derive_deb_src(
            [], [DEB822.replace("Types: deb\n", "Types: deb deb-src\n")]))

    def test_disabled_stanzas_are_ignored(self):
        self.assertIsNone(packages.derive_deb_src([], ["Enabled: no\n" + DEB822.split("\n\n")[0]]))

    def test_missing_packages_reports_unknown_names(self):
        self.assertEqual(packages.missing_packages(["no-such-package-ambience"]),
                         ["no-such-package-ambience"])


# Every package the project needed before the demo's packages were split from the rest: none may
# be lost from the full set.
BEFORE_SPLIT = """cmake ninja-build g++ pkg-config libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
libmbedtls-dev nlohmann-json3-dev zlib1g-dev libmicrohttpd-dev curl libcurl4-openssl-dev
libcapnp-dev capnproto libflatbuffers-dev flatbuffers-compiler liblua5.4-dev libmacaroons-dev
libsodium-dev wrk gcc-arm-none-eabi picolibc-arm-none-eabi libstdc++-arm-none-eabi-picolibc
qemu-system-arm clang-16 libclang-rt-16-dev llvm-16 dpkg-dev python3-matplotlib
python3-networkx iproute2""".split()


class declaration_test(unittest.TestCase):
    def test_every_package_has_a_known_use(self):
        for name, uses in packages.DECLARED:
            self.assertTrue(uses.split(), name)
            self.assertTrue(set(uses.split()) <= set(packages.USES), (name, uses))

    def test_each_package_declared_once(self):
        self.assertEqual(len(packages.PACKAGES), len(set(packages.PACKAGES)))

    def test_full_set_is_every_declared_package_and_loses_none(self):
        self.assertEqual(set(packages.PACKAGES), {name for name, _ in packages.DECLARED})
        self.assertEqual(sorted(set(BEFORE_SPLIT) - set(packages.PACKAGES)), [])

    def test_demo_set_is_a_strict_subset(self):
        demo = set(packages.DEMO_PACKAGES)
        self.assertTrue(demo < set(packages.PACKAGES))
        self.assertEqual(packages.DEMO_PACKAGES, packages.packages_for("demo"))

    def test_demo_set_has_what_the_demo_runs(self):
        # the build, the hosted configure's REQUIRED finds, the nodes' libraries, the planner,
        # the Cortex-M4 cross build and QEMU, apt-get source for mbedTLS
        for name in ("cmake", "ninja-build", "g++", "pkg-config", "libgtest-dev", "libssl-dev",
                     "libmbedtls-dev", "nlohmann-json3-dev", "zlib1g-dev", "libmicrohttpd-dev",
                     "libcurl4-openssl-dev", "python3-networkx", "gcc-arm-none-eabi",
                     "picolibc-arm-none-eabi", "libstdc++-arm-none-eabi-picolibc",
                     "qemu-system-arm", "dpkg-dev"):
            self.assertIn(name, packages.DEMO_PACKAGES)

    def test_benchmark_only_packages_stay_out_of_the_demo(self):
        for name in ("libbenchmark-dev", "libcapnp-dev", "libmacaroons-dev", "clang-16", "wrk",
                     "python3-matplotlib"):
            self.assertNotIn(name, packages.DEMO_PACKAGES)
        self.assertIn("libbenchmark-dev", packages.BENCH_CONFIGURE_PACKAGES)
        self.assertFalse(set(packages.BENCH_CONFIGURE_PACKAGES) & set(packages.DEMO_PACKAGES))

    def test_tests_and_benchmarks_get_everything_they_build_against(self):
        # `./ambience test` builds the benchmarks too (AMB_BENCHMARKS is ON in its presets)
        self.assertTrue(set(packages.BENCH_CONFIGURE_PACKAGES) <= set(packages.packages_for("test")))


if __name__ == "__main__":
    unittest.main()
