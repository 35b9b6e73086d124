"""ambience_service collects lidl JSON transitively: an interface from a library that the one in
`implements` imports is known to the planner, and the node runs."""
from __future__ import annotations

import json
import subprocess
import unittest

BASE = "deployments/hello/tests/lidl_deps"


class LidlDepsTest(unittest.TestCase):
    def test_imported_interface_is_known(self):
        with open(f"{BASE}/lidl_deps.inputs.json", encoding="utf-8") as f:
            bundle = json.load(f)
        sources = sorted(x["doc"]["source"] for x in bundle["lidl"])
        self.assertIn("lidl/testdata/base.lidl", sources)
        with open(f"{BASE}/lidl_deps/host.plan.json", encoding="utf-8") as f:
            plan = json.load(f)
        self.assertEqual(plan["instances"][0]["interface"], "demo.base.Named")

    def test_node_runs(self):
        out = subprocess.run([f"{BASE}/host", "--exit-after-ms", "2000"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("[named] I am fixture", out.stdout)


if __name__ == "__main__":
    unittest.main()
