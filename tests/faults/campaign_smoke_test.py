"""The quick form of the campaign's part 1 against a real hello cluster: group processes of the
hosted node killed with SIGKILL under load; fails when any of its targets is missed (a hung
caller, a wrong status for a call in flight, a slow or missing restart, a leaked fd)."""
from __future__ import annotations

import unittest

from tests.faults import group_kill
from tests.faults.common import table

KILLS = 5


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


if __name__ == "__main__":
    unittest.main()
