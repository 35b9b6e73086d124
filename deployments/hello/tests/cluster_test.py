"""`bazel run //deployments/<name>:cluster`: every node at once, hosted ones as processes and MCU
ones in QEMU, output prefixed per node, all stopped at the end of --duration."""
from __future__ import annotations

import os
import subprocess
import unittest


class ClusterTest(unittest.TestCase):
    def test_on_board_cluster_runs_both_nodes(self):
        env = dict(os.environ, RUNFILES_DIR=os.environ.get("TEST_SRCDIR", os.getcwd() + "/.."))
        out = subprocess.run(["deployments/hello/on_board/cluster.sh", "--duration", "2"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout)
        lines = out.stdout.splitlines()
        self.assertIn("cluster: 2 node(s) running: board (QEMU mps2-an386), host (process)", lines)
        self.assertIn("[host ] ambience: node 'host' of 'hello': 1 instance, 1 group process started", lines)
        self.assertIn('[board] [greeter] greet("world") -> "(console unavailable)"', lines)


if __name__ == "__main__":
    unittest.main()
