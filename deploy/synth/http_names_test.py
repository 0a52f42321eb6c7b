"""The deployment tools read the HTTP export name rule from services/http_export/export_names.json."""

import unittest

from synth import http_names


class http_names_test(unittest.TestCase):
    def test_names(self):
        self.assertTrue(http_names.valid("aggregator"))
        self.assertTrue(http_names.valid("a_b-c9"))
        self.assertTrue(http_names.valid("a" * http_names.MAX_LENGTH))
        self.assertFalse(http_names.valid("a" * (http_names.MAX_LENGTH + 1)))
        self.assertFalse(http_names.valid(""))
        self.assertFalse(http_names.valid("a/b"))
        self.assertFalse(http_names.valid("caf\u00e9"))
        self.assertFalse(http_names.valid("a\n"))

    def test_paths(self):
        self.assertEqual(http_names.procedure_path("aggregator", "average"), "/aggregator/average")
        self.assertEqual(http_names.export_path("aggregator"), "/aggregator")


if __name__ == "__main__":
    unittest.main()
