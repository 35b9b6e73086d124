"""The quick form of the campaign's part 1 against real clusters: group processes of a hosted node
killed with SIGKILL under load, and an MPU-isolated group of a QEMU board made to fault; fails
when any of its targets is missed (a hung caller, a wrong status for a call in flight, a slow or
missing restart, a leaked fd, a group that did not start afresh)."""
from __future__ import annotations

import unittest

from tests.faults import group_kill, mcu_fault
from tests.faults.common import table

KILLS = 5
MCU_FAULTS = 3


class CampaignSmokeTest(unittest.TestCase):
    def test_group_kills_meet_every_target(self) -> None:
        run = group_kill.measure(KILLS, seed=7)
        rows, infos = group_kill.rows(run)
        text = "\n".join(table(rows, infos))
        print(text)
        self.assertGreaterEqual(len(run.kills), KILLS - 1, text)  # a kill is skipped only mid-restart
        self.assertGreater(len(run.outcomes), 100, text)  # the load really ran
        missed = [r.name for r in rows if not r.met]
        self.assertEqual(missed, [], text)

    def test_mcu_group_faults_meet_every_target(self) -> None:
        run = mcu_fault.measure(MCU_FAULTS, seed=7)
        rows, infos = mcu_fault.rows(run)
        text = "\n".join(table(rows, infos))
        print(text)
        self.assertEqual(len(run.faults), MCU_FAULTS, text)
        self.assertGreater(len(run.outcomes), 20, text)  # the load really ran
        missed = [r.name for r in rows if not r.met]
        self.assertEqual(missed, [], text)


if __name__ == "__main__":
    unittest.main()
