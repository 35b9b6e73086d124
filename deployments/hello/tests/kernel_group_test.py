"""Hosted nodes with a kernel group: calls between the supervisor (kernel group) and a group
process work both ways — a group calling a kernelized instance (relayed and served in the
supervisor) and a kernelized instance calling into a group process."""
from __future__ import annotations

import json
import unittest

from tests.harness.node_processes import run_until_printed


class KernelGroupTest(unittest.TestCase):
    def run_host(self, variant: str) -> str:
        out, ran = run_until_printed([f"deployments/hello/tests/{variant}/host"], 'greet("world") -> ')
        self.assertTrue(ran, out)
        return out

    def test_group_process_calls_kernelized_console(self):
        plan = json.loads(open("deployments/hello/tests/kernel_console/hello/host.plan.json").read())
        self.assertEqual([(g["name"], g["kernel"], g["instances"]) for g in plan["groups"]],
                         [("k", True, ["console"]), ("greeter", False, ["greeter"])])
        out = self.run_host("kernel_console")
        self.assertIn('[greeter] greet("world") -> "hello, world!"', out)
        self.assertIn("2 instances, 1 group process started", out)

    def test_kernelized_greeter_calls_group_process(self):
        out = self.run_host("kernel_greeter")
        self.assertIn("[console] hello, world!", out)
        self.assertIn('[greeter] greet("world") -> "hello, world!"', out)


if __name__ == "__main__":
    unittest.main()
