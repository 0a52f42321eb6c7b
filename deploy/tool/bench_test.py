"""The benchmark runner's checks: an errored benchmark is not a 0 ns success, a missing target
is not met, and only `<=` and `>=` are ops."""
import math
import unittest

from tool import bench


def entry(name, real_time, **extra):
    return dict({"name": name, "run_name": name, "run_type": "iteration",
                 "real_time": real_time, "time_unit": "ns"}, **extra)


class runner_checks(unittest.TestCase):
    def test_errored_runs_are_not_timed_and_are_named(self):
        report = {"benchmarks": [
            entry("good", 100.0), entry("good", 300.0), entry("good", 200.0),
            entry("broken", 0.0, error_occurred=True, error_message="wrong answer"),
        ]}
        self.assertEqual(bench.medians(report), {"good": 200.0})
        self.assertEqual(bench.errors(report), {"broken": "wrong answer"})

    def test_ops_are_checked_as_written(self):
        self.assertTrue(bench.check({"name": "a", "value": 1.0, "op": "<=", "target": 1.0}))
        self.assertFalse(bench.check({"name": "a", "value": 1.1, "op": "<=", "target": 1.0}))
        self.assertTrue(bench.check({"name": "a", "value": 3.0, "op": ">=", "target": 3.0}))
        self.assertFalse(bench.check({"name": "a", "value": 2.9, "op": ">=", "target": 3.0}))
        for op in (">", "<", "==", None):
            with self.assertRaises(ValueError):
                bench.check({"name": "a", "value": 1.0, "op": op, "target": 1.0})

    def test_a_missing_value_is_never_met(self):
        for value in (None, math.nan):
            target = {"name": "a", "value": value, "op": "<=", "target": 1.0}
            self.assertTrue(bench.missing(target))
            self.assertFalse(bench.check(target))
            self.assertFalse(bench.check(dict(target, op=">=")))


if __name__ == "__main__":
    unittest.main()
