"""A serial line of the cluster runner between a QEMU UART and a hosted node's pty, both ways:
a stand-in board image (uart1_frames.cc) writes frames on CMSDK UART1, a stand-in hosted node
reads them from its pty and answers with a frame, which the image reads back on UART1."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import unittest

HOST = """#!{python}
import os, sys
args = sys.argv[1:]
print("ambience: node 'host' of 'hello': stand-in started", flush=True)
fd = os.open(args[args.index("--serial") + 1].split("=", 1)[1], os.O_RDWR | os.O_NOCTTY)
got = b""
while len(got) < 24:
    got += os.read(fd, 100)
print("host: received", got.hex(" "), flush=True)
os.write(fd, b"\\x00\\x03ok\\x00")
"""


def runfile(path):
    return os.path.join(os.environ["TEST_SRCDIR"], "ambience", path)


class QemuLineTest(unittest.TestCase):
    def test_frames_cross_between_qemu_uart1_and_a_pty(self):
        tmp = tempfile.mkdtemp(prefix="ql-", dir="/tmp")
        host = os.path.join(tmp, "host")
        with open(host, "w", encoding="utf-8") as f:
            f.write(HOST.format(python=sys.executable))
        os.chmod(host, stat.S_IRWXU)
        plans = "deployments/hello/on_board/hello/"
        argv = [sys.executable, "-m", "ambience.cluster",
                "--mcu", f"board={runfile('tests/cluster/uart1_frames.elf')}=mps2-an386="
                         f"{runfile(plans + 'board.plan.json')}",
                "--hosted", f"host={host}={runfile(plans + 'host.plan.json')}",
                "--link", "uart=baud:115200,latency:1ms"]
        out = subprocess.run(argv, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), TMPDIR=tmp),
                             capture_output=True, text=True, timeout=120)
        lines = out.stdout.splitlines()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("cluster: all 2 nodes healthy", lines)
        self.assertIn("[board] uart1: sent 3 frames", lines)
        self.assertIn("[host ] host: received " + " ".join(["00 06 68 65 6c 6c 6f 00"] * 3), lines)
        self.assertIn("[board] uart1: received 00 03 6f 6b 00", lines)
        self.assertIn("cluster: link uart board > host: frames_in 3, frames_out 3, bytes_in 24, bytes_out 24, "
                      "dropped 0, duplicated 0, reordered 0, corrupted 0, overruns 0", lines)
        self.assertIn("cluster: link uart host > board: frames_in 1, frames_out 1, bytes_in 5, bytes_out 5, "
                      "dropped 0, duplicated 0, reordered 0, corrupted 0, overruns 0", lines)
        os.unlink(host)
        self.assertEqual(os.listdir(tmp), [])  # the runner's socket directory is gone
        os.rmdir(tmp)


if __name__ == "__main__":
    unittest.main()
