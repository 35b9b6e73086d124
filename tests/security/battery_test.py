"""The attacker's battery (battery.py) against a real camera trap cluster: fails on any attack
accepted (by a reply or by its effect on the database), any refusal a node's counter did not
count as expected, any crash or restart, and any failed legitimate call."""
from __future__ import annotations

import sys
import unittest

from ambience import keys
from tests.security.battery import Battery, camera_trap_cluster

SCENES = "services/camera_trap/scenes/scenes.json"


class SecurityBatteryTest(unittest.TestCase):
    def test_battery(self) -> None:
        with camera_trap_cluster() as cluster:
            b = Battery(cluster.cdir, keys.default_store(), SCENES, lambda s: print(s, file=sys.stderr, flush=True))
            try:
                b.run()
            finally:
                b.close()
            print("\n".join(b.table()), file=sys.stderr)
        for c in b.cases:
            with self.subTest(case=f"{c.group}/{c.name}"):
                self.assertEqual(c.accepted, 0, c.problems)
                self.assertEqual(c.problems, [])
        self.assertEqual(b.legit_failed, [])
        self.assertEqual(b.crash_list, [])
        self.assertGreater(b.legit_ok, 100)  # the legitimate traffic really ran


if __name__ == "__main__":
    unittest.main()
