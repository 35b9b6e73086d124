"""A route through a forwarder: the plan puts a relay on the gateway, the generated code of every
node carries its part (client route, next hops, served object), and all three images build."""
from __future__ import annotations

import json
import os
import unittest

BASE = "deployments/hello/tests/relay"


def plan(node: str) -> dict:
    with open(f"{BASE}/relay/{node}.plan.json", encoding="utf-8") as f:
        return json.load(f)


def main_cc(node: str) -> str:
    with open(f"{BASE}/relay/{node}_main.cc", encoding="utf-8") as f:
        return f.read()


class RelayTest(unittest.TestCase):
    def test_route_goes_through_the_gateway(self):
        greeter = plan("sensor")["instances"][0]
        dep = greeter["dependencies"][0]
        self.assertEqual(dep["path"], "rpc")
        self.assertEqual([(h["from"], h["network"], h["to"]) for h in dep["route"]],
                         [("sensor", "radio", "gateway"), ("gateway", "lan", "host")])
        self.assertEqual(dep["cost"], 11)
        self.assertIn('constexpr rt::Route d_greeter__out_route{"radio", "serial", "1", 1, "host", 1, 1, 0x0ull};',
                      main_cc("sensor"))

    def test_gateway_relays_both_ways(self):
        gw = plan("gateway")
        self.assertEqual([(f["from_network"], f["to_network"], f["destinations"]) for f in gw["forwarders"]],
                         [("lan", "radio", ["sensor"]), ("radio", "lan", ["host"])])
        cc = main_cc("gateway")
        self.assertIn('    {"host", {"lan", "udp", "10.0.0.1", 4800, "host", 0}},', cc)
        self.assertIn('    {"sensor", {"radio", "serial", "7", 1, "sensor", 0}},', cc)

    def test_host_serves_the_console_to_the_greeter_only(self):
        cc = main_cc("host")
        self.assertIn('    {"greeter@sensor", rt::Grant{0x1ull}},  // hello.Console', cc)
        self.assertIn('    {"external:lan", rt::Grant{0x1ull}},  // hello.Console', cc)
        self.assertEqual(plan("host")["exports"], [{"instance": "console", "network": "lan", "node": "host",
                                                    "object_id": 1, "port": 5000, "route": []}])
        self.assertIn('{1, "console", &serve_console, console_grants},', cc)

    def test_import_is_reached_directly_on_its_network(self):
        host = plan("host")
        g2 = next(i for i in host["instances"] if i["name"] == "greeter2")
        dep = g2["dependencies"][0]
        self.assertEqual((dep["path"], dep["target_kind"]), ("rpc", "import"))
        self.assertEqual(dep["route"], [{"address": "10.0.0.99", "from": "host", "network": "lan", "port": 6000,
                                         "to": "import:remote_console"}])
        self.assertIn('constexpr rt::Route d_greeter2__out_route{"lan", "udp", "10.0.0.99", 6000, "", 0, 2, 0x0ull};',
                      main_cc("host"))

    def test_images_exist(self):
        for f in ("sensor.elf", "gateway.elf", "host"):
            self.assertTrue(os.path.exists(f"{BASE}/{f}"), f)


if __name__ == "__main__":
    unittest.main()
