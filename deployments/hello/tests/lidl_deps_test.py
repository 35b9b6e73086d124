"""ambience_service collects lidl JSON transitively: an interface from a library that the one in
`implements` imports is known to the planner, and the node runs."""
from __future__ import annotations

import json
import unittest

from tests.harness.node_processes import run_until_printed

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
        out, ran = run_until_printed([f"{BASE}/host"], "[named] I am fixture")
        self.assertTrue(ran, out)


if __name__ == "__main__":
    unittest.main()
