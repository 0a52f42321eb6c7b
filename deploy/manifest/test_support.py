"""Helpers shared by the manifest tests: the test data and the real lidlc."""

import os
import tempfile
import textwrap
import unittest

from manifest import analyse, interfaces

TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


def lidlc():
    """The compiler the tests run: $AMBIENCE_LIDLC (set by CTest) or one found in build/."""
    found = interfaces.find_lidlc()
    if found is None:
        raise unittest.SkipTest("lidlc not found: build it (cmake --build build/default "
                                "--target lidlc) or set AMBIENCE_LIDLC")
    return found


def summary(result):
    """Diagnostics as (path relative to testdata, line, message) tuples."""
    return [(os.path.relpath(d.where.file, TESTDATA), d.where.line, d.message)
            for d in result.diagnostics]


class temporary_deployment:
    """A deployment directory with a deployment.py written from `source` (dedented); the
    shared services of testdata are reachable as SERVICES."""

    def __init__(self, source, extra_files=None):
        self.directory = tempfile.TemporaryDirectory(prefix="ambience-manifest-")
        path = self.directory.name
        services = os.path.join(TESTDATA, "services.py")
        with open(os.path.join(path, "deployment.py"), "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(source).replace("SERVICES", repr(services)))
        for name, text in (extra_files or {}).items():
            with open(os.path.join(path, name), "w", encoding="utf-8") as f:
                f.write(textwrap.dedent(text))

    def __enter__(self):
        return self.directory.name

    def __exit__(self, *exc):
        self.directory.cleanup()


def analyse_source(source, extra_files=None):
    with temporary_deployment(source, extra_files) as directory:
        return analyse(directory, lidlc())
