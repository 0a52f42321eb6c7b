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

    def test_counters_are_medians_and_cpu_falls_back_to_the_thread_time(self):
        report = {"benchmarks": [
            entry("served", 1000.0, cpu_time=10.0, cpu_ns=300.0, ops_per_iteration=4.0),
            entry("served", 1200.0, cpu_time=12.0, cpu_ns=500.0, ops_per_iteration=4.0),
            entry("served", 1100.0, cpu_time=11.0, cpu_ns=400.0, ops_per_iteration=4.0),
            entry("local", 50.0, cpu_time=48.0),
            entry("broken", 0.0, cpu_time=0.0, cpu_ns=1.0, error_occurred=True),
        ]}
        rows = bench.counters(report)
        self.assertEqual(rows["served"]["cpu_ns"], 400.0)
        self.assertEqual(rows["local"]["cpu_ns"], 48.0)
        self.assertNotIn("broken", rows)
        lines = bench.rows_table(bench.medians(report), rows)
        served = next(line for line in lines if "served" in line).split()
        self.assertEqual(served[1:], ["275.0", "400.0", "1.45"])

    def test_compute_times_take_cpu_except_manual_times(self):
        results = {"verify/5": 1500.0, "size/text/5/manual_time": 180.0, "gone": 7.0}
        counters = {"verify/5": {"cpu_ns": 1200.0}, "size/text/5/manual_time": {"cpu_ns": 3.0}}
        self.assertEqual(bench.compute_times(results, counters),
                         {"verify/5": 1200.0, "size/text/5/manual_time": 180.0, "gone": 7.0})

    def test_readme_block_is_replaced_and_nothing_else(self):
        import os
        import tempfile
        document = {"benchmark": "demo", "date": "d", "commit": "c",
                    "load_average_1min_at_end": 0.5,
                    "targets": [{"name": "fast", "value": 2.0, "op": "<=", "target": 1.0},
                                {"name": "gone", "value": None, "op": ">=", "target": 3.0}]}
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "README.md")
            with open(path, "w", encoding="utf-8") as f:
                f.write("before\n<!-- results demo -->\nold\n<!-- end results demo -->\nafter\n")
            self.assertTrue(bench.update_readme(path, document))
            with open(path, encoding="utf-8") as f:
                text = f.read()
            other = os.path.join(directory, "OTHER.md")
            with open(other, "w", encoding="utf-8") as f:
                f.write("no block here\n")
            self.assertFalse(bench.update_readme(other, document))
            with open(other, encoding="utf-8") as f:
                self.assertEqual(f.read(), "no block here\n")
        self.assertTrue(text.startswith("before\n<!-- results demo -->\n"))
        self.assertTrue(text.endswith("<!-- end results demo -->\nafter\n"))
        self.assertNotIn("old", text)
        self.assertIn("| `fast` | 2 | <= 1.0 | **missed** |", text)
        self.assertIn("| `gone` | missing | >= 3.0 | missing |", text)


if __name__ == "__main__":
    unittest.main()
