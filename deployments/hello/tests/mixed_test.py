"""One call across two link kinds: the greeter on the Cortex-M4 board (QEMU) calls the console
on `cloud`; the request leaves the board on its UART1, `edge` forwards it from the serial line to
UDP, and the reply comes back the same way."""
from __future__ import annotations

import os
import subprocess
import tempfile
import unittest

from node_processes import boot_board, free_udp_ports

PKG = "deployments/hello/tests/mixed"


class MixedTest(unittest.TestCase):
    def test_a_call_crosses_a_serial_line_and_udp_through_a_forwarder(self) -> None:
        a, b = free_udp_ports(2)
        udp_map = f"10.4.0.1:4800=127.0.0.1:{a},10.4.0.2:4800=127.0.0.1:{b}"
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "uart1.sock")
            board = boot_board(f"{PKG}/board.elf", sock)  # waits on its UART1 until the edge connects
            cloud = subprocess.Popen([f"{PKG}/cloud", "--udp-map", udp_map, "--exit-after-ms", "8000"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                edge = subprocess.run([f"{PKG}/edge", "--udp-map", udp_map, "--serial", f"uart={sock}",
                                       "--exit-after-ms", "5000"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
                cloud_out, _ = cloud.communicate(timeout=60)
            finally:
                for p in (board, cloud):  # the board serves the operator's console: it runs until stopped
                    if p.poll() is None:
                        p.kill()
                board_out, _ = board.communicate(timeout=30)
                cloud.wait()
        self.assertEqual(edge.returncode, 0, edge.stdout)
        self.assertIn('[greeter] greet("world") -> "hello, world!"', board_out, board_out + edge.stdout)
        self.assertIn("[console] hello, world!", cloud_out)


if __name__ == "__main__":
    unittest.main()
