"""A call crosses two real UDP networks and a forwarder: the greeter on `front` calls the console
on `back` through `middle` (three hosted node processes, loopback sockets, the plan's addresses
mapped with --udp-map as the cluster runner does)."""
from __future__ import annotations

import subprocess
import unittest

from tests.harness.node_processes import Watched, free_udp_ports

PKG = "deployments/hello/tests/over_udp"
PLAN_ENDPOINTS = ["10.1.0.1:4800", "10.1.0.2:4800", "10.2.0.2:4800", "10.2.0.3:4800"]


class OverUdpTest(unittest.TestCase):
    def test_greeting_crosses_a_forwarder_and_two_udp_networks(self) -> None:
        ports = free_udp_ports(len(PLAN_ENDPOINTS))
        udp_map = ",".join(f"{e}=127.0.0.1:{p}" for e, p in zip(PLAN_ENDPOINTS, ports, strict=True))
        nodes = {n: Watched([f"{PKG}/{n}", "--udp-map", udp_map]) for n in ("back", "middle")}
        try:
            for n in ("back", "middle"):
                self.assertTrue(nodes[n].wait_for("started"), nodes[n].output)
            nodes["front"] = Watched([f"{PKG}/front", "--udp-map", udp_map])
            served = (nodes["front"].wait_for('[greeter] greet("world") -> "hello, world!"')
                      and nodes["back"].wait_for("[console] hello, world!"))  # printed on `back`
            running = {n: w.proc.poll() is None for n, w in nodes.items()}
        finally:
            outs = {n: w.stop() for n, w in nodes.items()}
        report = "\n".join(f"{n}:\n{out}" for n, out in outs.items())
        self.assertTrue(served, report)
        self.assertEqual(running, {"back": True, "middle": True, "front": True}, report)

    def test_bad_address_map_is_a_one_line_error(self) -> None:
        out = subprocess.run([f"{PKG}/front", "--udp-map", "10.1.0.1:4800=localhost:1", "--exit-after-ms", "100"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(out.returncode, 2, out.stdout)
        self.assertIn('host "localhost" is not an IPv4 address', out.stdout)


if __name__ == "__main__":
    unittest.main()
