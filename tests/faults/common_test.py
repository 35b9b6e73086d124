"""The campaign's verdicts and output: a row is MET only when its value meets its target, NaN
(nothing measured) never does, and the RESULT lines follow benchmarks/README.md."""
from __future__ import annotations

import re
import unittest

from tests.faults import soak
from tests.faults.common import Info, Row, meets, percentile, result_lines, table

RESULT = re.compile(r"^RESULT faults_\w+ value=\S+ unit=\S+( target=\S+ cmp=(le|ge|eq) met=[01])?$")


class CommonTest(unittest.TestCase):
    def test_meets(self) -> None:
        self.assertTrue(meets(0, "==", 0))
        self.assertFalse(meets(1, "==", 0))
        self.assertTrue(meets(999, "<=", 1000))
        self.assertFalse(meets(1001, "<=", 1000))
        self.assertTrue(meets(3, ">=", 1))
        self.assertFalse(meets(float("nan"), "<=", 1000))  # nothing measured is never a met target
        with self.assertRaises(ValueError):
            meets(1, "<", 2)

    def test_table_and_results_show_a_missed_target(self) -> None:
        rows = [Row("1", "a_ok", 0, "count", "==", 0), Row("1", "b_slow_ms", 1500, "ms", "<=", 1000, "why")]
        infos = [Info("1", "c_calls", 12, "count")]
        text = "\n".join(table(rows, infos))
        self.assertRegex(text, r"a_ok +0 count +== 0 +MET")
        self.assertRegex(text, r"b_slow_ms +1500 ms +<= 1000 +NOT MET  \(why\)")
        lines = result_lines(rows, infos)
        self.assertTrue(all(RESULT.match(line) for line in lines), lines)
        self.assertIn("RESULT faults_b_slow_ms value=1500 unit=ms target=1000 cmp=le met=0", lines)
        self.assertEqual(lines[-1], "RESULT faults_targets_not_met value=1 unit=count")

    def test_percentile(self) -> None:
        self.assertEqual(percentile([5, 1, 3, 2, 4], 50), 3)
        self.assertEqual(percentile(list(range(1, 101)), 99), 99)
        self.assertEqual(percentile([7], 99), 7)
        self.assertNotEqual(percentile([], 99), percentile([], 99))  # NaN



class SoakRowsTest(unittest.TestCase):
    @staticmethod
    def run_of(rss_end: int, fds_end: int, peak_end: int) -> soak.Run:
        run = soak.Run(10.0, events=20, ok=20, latencies_ms=[100.0] * 20, hosted={"cloud"}, boards=["motion"])
        frames = {"frames_peak": 2000, "frames_arena": 24576, "frame_failures": 0}
        run.samples = [soak.Sample(0, 0, {"cloud": 1000, "motion": 9000}, {"cloud": 9}, {"motion": frames}),
                       soak.Sample(5, 10, {"cloud": 1200, "motion": 9000}, {"cloud": 9}, {"motion": frames}),
                       soak.Sample(10, 20, {"cloud": rss_end, "motion": 99000}, {"cloud": fds_end},
                                   {"motion": dict(frames, frames_peak=peak_end)})]
        return run

    def verdicts(self, run: soak.Run) -> dict[str, bool]:
        rows, _ = soak.rows(run)
        return {r.name: r.met for r in rows}

    def test_flat_memory_meets_every_target(self) -> None:
        self.assertTrue(all(self.verdicts(self.run_of(1300, 9, 2000)).values()))

    def test_growth_after_half_time_and_new_fds_and_frames_are_caught(self) -> None:
        v = self.verdicts(self.run_of(1200 + soak.RSS_GROWTH_TARGET_KIB + 1, 10, 2064))
        self.assertFalse(v["soak_rss_growth_kib"])
        self.assertFalse(v["soak_fd_growth"])
        self.assertFalse(v["soak_mcu_frames_peak_growth"])
        self.assertTrue(v["soak_events_failed"])  # QEMU's growth (not ours) is context only


if __name__ == "__main__":
    unittest.main()
