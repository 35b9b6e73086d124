"""The board serves: the greeter on the host calls the console on the Cortex-M4 board (QEMU)
over the serial line; the board's kernel group receives the request, the console's isolated
group runs it, and the reply goes back. A serving board runs until it is stopped."""
from __future__ import annotations

import os
import subprocess
import tempfile
import unittest

from node_processes import boot_board

PKG = "deployments/hello/tests/to_board"


class ToBoardTest(unittest.TestCase):
    def test_host_calls_a_service_on_the_board(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "uart1.sock")
            board = boot_board(f"{PKG}/board.elf", sock)
            try:
                host = subprocess.run([f"{PKG}/host", "--serial", f"uart={sock}", "--exit-after-ms", "4000"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
                self.assertIsNone(board.poll(), "a serving board must keep running")
            finally:
                board.kill()
                board_out, _ = board.communicate(timeout=30)
        self.assertEqual(host.returncode, 0, host.stdout)
        self.assertIn('[greeter] greet("world") -> "hello, world!"', host.stdout)
        self.assertIn("[console] hello, world!", board_out)


if __name__ == "__main__":
    unittest.main()
