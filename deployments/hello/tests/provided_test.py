"""Node-provided services: a dependency bound to a provided name gets the instance on the
caller's own node, running in that node's kernel group."""
from __future__ import annotations

import json
import unittest

from tests.harness.node_processes import run_until_printed

BASE = "deployments/hello/tests/provided"


class ProvidedTest(unittest.TestCase):
    def test_each_greeter_gets_its_own_nodes_console(self):
        for node, greeter in (("host", "greeter"), ("board", "greeter_b")):
            with open(f"{BASE}/provided/{node}.plan.json", encoding="utf-8") as f:
                plan = json.load(f)
            kernel = plan["groups"][0]
            self.assertEqual((kernel["kernel"], kernel["instances"]), (True, [f"{node}_console"]))
            inst = next(i for i in plan["instances"] if i["name"] == greeter)
            self.assertEqual([(d["target"], d["path"]) for d in inst["dependencies"]], [(f"{node}_console", "ipc")])

    def test_host_runs(self):
        out, ran = run_until_printed([f"{BASE}/host"], '[greeter] greet("world") -> "hello, world!"')
        self.assertTrue(ran, out)


if __name__ == "__main__":
    unittest.main()
