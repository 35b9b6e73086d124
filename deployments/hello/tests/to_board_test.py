"""The board serves: the greeter on the host calls the console on the Cortex-M4 board (QEMU)
over the serial line; the board's kernel group receives the request, the console's isolated
group runs it, and the reply goes back. A serving board runs until it is stopped."""
from __future__ import annotations

import os
import tempfile
import unittest

from tests.harness.node_processes import Watched, boot_board, free_udp_ports

PKG = "deployments/hello/tests/to_board"
GREETED = '[greeter] greet("world") -> "hello, world!"'


class ToBoardTest(unittest.TestCase):
    def test_host_calls_a_service_on_the_board(self) -> None:
        (console_port,) = free_udp_ports(1)  # the host's console endpoint, off the fixed port others use
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "uart1.sock")
            board = boot_board(f"{PKG}/board.elf", sock)
            host = Watched([f"{PKG}/host", "--serial", f"uart={sock}",
                            "--udp-map", f"127.0.0.1:7702=127.0.0.1:{console_port}"])
            try:
                served = host.wait_for(GREETED) and board.wait_for("[console] hello, world!")
                host_running, board_running = host.proc.poll() is None, board.proc.poll() is None
            finally:
                host_out, board_out = host.stop(), board.stop()
        self.assertTrue(served, f"host:\n{host_out}\nboard:\n{board_out}")
        self.assertTrue(host_running, host_out)
        self.assertTrue(board_running, "a serving board must keep running:\n" + board_out)


if __name__ == "__main__":
    unittest.main()
