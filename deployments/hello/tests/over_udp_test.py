"""A call crosses two real UDP networks and a forwarder: the greeter on `front` calls the console
on `back` through `middle` (three hosted node processes, loopback sockets, the plan's addresses
mapped with --udp-map as the cluster runner does)."""
from __future__ import annotations

import subprocess
import time
import unittest

from node_processes import free_udp_ports

PKG = "deployments/hello/tests/over_udp"
PLAN_ENDPOINTS = ["10.1.0.1:4800", "10.1.0.2:4800", "10.2.0.2:4800", "10.2.0.3:4800"]


def start(node: str, udp_map: str, ms: int) -> subprocess.Popen[str]:
    return subprocess.Popen([f"{PKG}/{node}", "--udp-map", udp_map, "--exit-after-ms", str(ms)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"no {needle!r} within {timeout}s; got:\n{''.join(lines)}")


class OverUdpTest(unittest.TestCase):
    def test_greeting_crosses_a_forwarder_and_two_udp_networks(self) -> None:
        ports = free_udp_ports(len(PLAN_ENDPOINTS))
        udp_map = ",".join(f"{e}=127.0.0.1:{p}" for e, p in zip(PLAN_ENDPOINTS, ports))
        back = start("back", udp_map, 6000)
        middle = start("middle", udp_map, 6000)
        try:
            wait_line(back, "started", 10)
            wait_line(middle, "started", 10)
            front = start("front", udp_map, 3000)
            out, _ = front.communicate(timeout=30)
            self.assertEqual(front.returncode, 0, out)
            self.assertIn('[greeter] greet("world") -> "hello, world!"', out)
            back_lines = wait_line(back, "hello, world!", 10)  # the console printed it on `back`
            self.assertTrue(any("[console]" in line for line in back_lines), "".join(back_lines))
        finally:
            for p in (back, middle):
                p.kill()
                p.wait()

    def test_bad_address_map_is_a_one_line_error(self) -> None:
        out = subprocess.run([f"{PKG}/front", "--udp-map", "10.1.0.1:4800=localhost:1", "--exit-after-ms", "100"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(out.returncode, 2, out.stdout)
        self.assertIn('host "localhost" is not an IPv4 address', out.stdout)


if __name__ == "__main__":
    unittest.main()
