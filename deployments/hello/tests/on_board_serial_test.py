"""The greeter on the Cortex-M4 board (QEMU mps2-an386) calls the console on the hosted node over
the serial network `uart`: the board's UART1 is a unix socket QEMU serves, the hosted node is
given it as its line (`--serial uart=PATH`), as the cluster runner wires them."""
from __future__ import annotations

import os
import subprocess
import tempfile
import unittest

from node_processes import boot_board

PKG = "deployments/hello/on_board"


class OnBoardSerialTest(unittest.TestCase):
    def test_greeter_on_the_board_reaches_the_console_on_the_host(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "uart1.sock")
            board = boot_board(f"{PKG}/board.elf", sock)
            try:
                host = subprocess.run([f"{PKG}/host", "--serial", f"uart={sock}", "--exit-after-ms", "4000"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
                # The board serves the operator's console (`ambience call`): it runs until stopped.
                self.assertIsNone(board.poll(), "a serving board must keep running")
            finally:
                board.kill()
                board_out, _ = board.communicate(timeout=30)
        self.assertEqual(host.returncode, 0, host.stdout)
        self.assertIn("[console] hello, world!", host.stdout)
        self.assertIn('[greeter] greet("world") -> "hello, world!"', board_out)


if __name__ == "__main__":
    unittest.main()
