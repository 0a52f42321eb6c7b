"""Tests of the deb-src derivation used by `ambience setup`."""

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


if __name__ == "__main__":
    unittest.main()
