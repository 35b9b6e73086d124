"""Generated hosted nodes call from the supervisor into a group process zero-copy: a span that lies
in the kernel's arena reaches the group's implementation at the same arena offset (a copy anywhere
on the way — serializing client, relay, staging — shows a different offset or all ones)."""
from __future__ import annotations

import re
import subprocess
import unittest


class SharingTest(unittest.TestCase):
    def test_span_crosses_in_place(self):
        with open("deployments/hello/tests/sharing/sharing/host_main.cc", encoding="utf-8") as f:
            main = f.read()
        self.assertIn("rt::SupervisorSharing<::sharetest::Sink>", main)
        self.assertIn("hosted::SharingServer<::sharetest::Sink>", main)
        out = subprocess.run(["deployments/hello/tests/sharing/host", "--exit-after-ms", "2000"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout)
        m = re.search(r"\[probe\] span sent at arena offset (\d+), read by the group at offset (\d+)", out.stdout)
        self.assertIsNotNone(m, out.stdout)
        self.assertEqual(m.group(1), m.group(2), out.stdout)


if __name__ == "__main__":
    unittest.main()
