"""Tests for trace_profile.py on a synthetic QEMU trace."""
from __future__ import annotations

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trace_profile  # noqa: E402

NM = "00000100 T driver\n00000200 T callee\n00000300 T main\n00000400 t helper\n"

# Three blocks: driver (2 instructions), callee (3), main (1); helper never runs.
TRACE = """IN: driver
0x00000100:  movs r0, #1
0x00000102:  bl 0x200
Trace 0: 0x7f0000000100 [00000000/00000100/00000000/ff000000]
IN: callee
0x00000200:  movs r1, #2
0x00000202:  adds r1, #1
0x00000204:  bx lr
Trace 0: 0x7f0000000200 [00000000/00000200/00000000/ff000000]
Trace 0: 0x7f0000000100 [00000000/00000100/00000000/ff000000]
Trace 0: 0x7f0000000200 [00000000/00000200/00000000/ff000000]
IN: main
0x00000300:  b 0x300
Trace 0: 0x7f0000000300 [00000000/00000300/00000000/ff000000]
Trace 0: 0x7f0000000200 [00000000/00000200/00000000/ff000000]
"""


class ProfileTest(unittest.TestCase):
    def setUp(self) -> None:
        self.symbols = trace_profile.parse_nm(NM)

    def test_window_from_first_entry_to_stop(self) -> None:
        counts = trace_profile.profile(TRACE.splitlines(), self.symbols, "driver", "main", 1)
        self.assertEqual(counts, {"driver": 4, "callee": 6})  # the callee after main is outside

    def test_second_occurrence_starts_later(self) -> None:
        counts = trace_profile.profile(TRACE.splitlines(), self.symbols, "driver", "main", 2)
        self.assertEqual(counts, {"driver": 2, "callee": 3})

    def test_missing_start_gives_empty_profile(self) -> None:
        self.assertEqual(trace_profile.profile(TRACE.splitlines(), self.symbols, "nothere", "main", 1), {})

    def test_render_divides_by_calls(self) -> None:
        text = trace_profile.render(trace_profile.profile(TRACE.splitlines(), self.symbols, "driver", "main", 1), 2, False)
        self.assertIn("total 5.0 instructions per call", text)
        self.assertIn("3.0  callee", text)


if __name__ == "__main__":
    unittest.main()
