"""The settings keys `ambience run` writes are the declared ones (deploy/synth/node_settings.keys)."""

import unittest

from synth import node_settings


class node_settings_test(unittest.TestCase):
    def test_declared_patterns_match_names_in_upper_case_parts_only(self):
        self.assertTrue(node_settings.declared("node"))
        self.assertTrue(node_settings.declared("udp.lan.peer.gateway"))
        self.assertTrue(node_settings.declared("http_import.outdoor.timeout_ms"))
        self.assertFalse(node_settings.declared("udp.lan.peers.gateway"))
        self.assertFalse(node_settings.declared("udp..bind"))
        self.assertFalse(node_settings.declared("udp.lan.bind.extra"))
        self.assertFalse(node_settings.declared("call_timeout"))

    def test_check_names_the_first_undeclared_line(self):
        text = "# settings\nnode = a\nudp.lan.bind = 127.0.0.1:1\ncall_timeout = 5\n"
        with self.assertRaisesRegex(ValueError, "line 4: key 'call_timeout'"):
            node_settings.check(text)
        self.assertEqual(node_settings.check(text.replace("call_timeout", "call_timeout_ms")),
                         text.replace("call_timeout", "call_timeout_ms"))


if __name__ == "__main__":
    unittest.main()
