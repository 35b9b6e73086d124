"""Node-provided services: a dependency bound to a provided name gets the instance on the
caller's own node, running in that node's kernel group."""
from __future__ import annotations

import json
import subprocess
import unittest

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
        out = subprocess.run([f"{BASE}/host", "--exit-after-ms", "2000"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn('[greeter] greet("world") -> "hello, world!"', out.stdout)


if __name__ == "__main__":
    unittest.main()
