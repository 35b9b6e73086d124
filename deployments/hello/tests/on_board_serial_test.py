"""The greeter on the Cortex-M4 board (QEMU mps2-an386) calls the console on the hosted node over
the serial network `uart`: the board's UART1 is a unix socket QEMU serves, the hosted node is
given it as its line (`--serial uart=PATH`), as the cluster runner wires them."""
from __future__ import annotations

import os
import tempfile
import unittest

from tests.harness.node_processes import Watched, boot_board, free_udp_ports

PKG = "deployments/hello/on_board"


class OnBoardSerialTest(unittest.TestCase):
    def test_greeter_on_the_board_reaches_the_console_on_the_host(self) -> None:
        (console_port,) = free_udp_ports(1)  # the host's console endpoint, off the fixed port others use
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "uart1.sock")
            board = boot_board(f"{PKG}/board.elf", sock)
            host = Watched([f"{PKG}/host", "--serial", f"uart={sock}",
                            "--udp-map", f"127.0.0.1:7702=127.0.0.1:{console_port}"])
            try:
                served = (host.wait_for("[console] hello, world!")
                          and board.wait_for('[greeter] greet("world") -> "hello, world!"'))
                # The board serves the operator's console (`ambience call`): it runs until stopped.
                host_running, board_running = host.proc.poll() is None, board.proc.poll() is None
            finally:
                host_out, board_out = host.stop(), board.stop()
        self.assertTrue(served, f"host:\n{host_out}\nboard:\n{board_out}")
        self.assertTrue(host_running, host_out)
        self.assertTrue(board_running, "a serving board must keep running:\n" + board_out)


if __name__ == "__main__":
    unittest.main()
