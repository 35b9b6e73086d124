"""Generated hosted nodes call between groups zero-copy: a span that lies in the caller's arena
reaches the callee's implementation at the same arena offset, supervisor -> group, group ->
supervisor and group -> group (a copy anywhere on the way — serializing client, relay, staging —
shows a different offset or all ones)."""
from __future__ import annotations

import re
import unittest

from tests.harness.node_processes import run_until_printed


class SharingTest(unittest.TestCase):
    def test_span_crosses_in_place(self):  # between every pair of group kinds
        with open("deployments/hello/tests/sharing/sharing/host_main.cc", encoding="utf-8") as f:
            main = f.read()
        self.assertIn("rt::SupervisorSharing<::sharetest::Sink>", main)
        self.assertIn("rt::GroupSharing<::sharetest::Sink>", main)
        self.assertIn("hosted::SharingServer<::sharetest::Sink>", main)
        self.assertIn("set_allow(&rt::allow_sharing", main)
        # the supervisor's probe allocates in the arena of group 0: that must be the sink's
        self.assertIn('node.add_group(rt::hosted_group_options("sink"));  // 0', main)
        ways = ("supervisor -> group", "group gprobe", "group tprobe")
        text, ran = run_until_printed(["deployments/hello/tests/sharing/host"], *(f"[probe {w}]" for w in ways))
        self.assertTrue(ran, text)
        self.assertIn("rt::SharingRelay s_tsink_0{", main)
        self.assertRegex(main, r'node.add_group\(rt::hosted_group_options\("tsink", \{\d+\}\)\);')
        for way in ways:
            m = re.search(r"\[probe " + way + r"\] span sent at arena offset (\d+), read by the callee at offset (\d+)",
                          text)
            self.assertIsNotNone(m, f"{way}:\n{text}")
            self.assertEqual(m.group(1), m.group(2), f"{way}: the span was copied:\n{text}")

if __name__ == "__main__":
    unittest.main()
