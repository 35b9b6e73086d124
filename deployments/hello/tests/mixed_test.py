"""One call across two link kinds: the greeter on the Cortex-M4 board (QEMU) calls the console
on `cloud`; the request leaves the board on its UART1, `edge` forwards it from the serial line to
UDP, and the reply comes back the same way."""
from __future__ import annotations

import os
import tempfile
import unittest

from tests.harness.node_processes import Watched, boot_board, free_udp_ports

PKG = "deployments/hello/tests/mixed"


class MixedTest(unittest.TestCase):
    def test_a_call_crosses_a_serial_line_and_udp_through_a_forwarder(self) -> None:
        a, b, cloud_console, edge_console = free_udp_ports(4)
        udp_map = (f"10.4.0.1:4800=127.0.0.1:{a},10.4.0.2:4800=127.0.0.1:{b},"  # the consoles off their fixed ports
                   f"127.0.0.1:7702=127.0.0.1:{cloud_console},127.0.0.1:7703=127.0.0.1:{edge_console}")
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "uart1.sock")
            board = boot_board(f"{PKG}/board.elf", sock)  # waits on its UART1 until the edge connects
            cloud = Watched([f"{PKG}/cloud", "--udp-map", udp_map])
            edge = Watched([f"{PKG}/edge", "--udp-map", udp_map, "--serial", f"uart={sock}"])
            try:
                served = (board.wait_for('[greeter] greet("world") -> "hello, world!"')
                          and cloud.wait_for("[console] hello, world!"))
                edge_running = edge.proc.poll() is None
            finally:
                outs = {"edge": edge.stop(), "cloud": cloud.stop(), "board": board.stop()}
        report = "\n".join(f"{name}:\n{out}" for name, out in outs.items())
        self.assertTrue(served, report)
        self.assertTrue(edge_running, report)


if __name__ == "__main__":
    unittest.main()
