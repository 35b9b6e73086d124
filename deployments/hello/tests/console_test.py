"""`ambience call` against a running cluster (hello/on_board, detached as `ambience cluster up`
leaves it): the console instance on the host, the greeter on the M4 board through the host's
forwarder and the serial line, and the errors (one line, exit status 1)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from tests.harness.node_processes import log_with

SCRIPT = "deployments/hello/on_board/cluster.sh"
AMBIENCE = "tools/ambience_cli"


def env():
    return dict(os.environ, RUNFILES_DIR=os.environ.get("TEST_SRCDIR", os.getcwd() + "/.."))


class ConsoleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hc-", dir="/tmp")  # short: unix socket paths stay < 108 bytes
        cls.root = os.path.join(cls.tmp, "run")
        up = subprocess.run([SCRIPT, "--detach", "--runtime-dir", cls.root], env=env(), capture_output=True,
                            text=True, timeout=60)
        assert up.returncode == 0, up.stdout + up.stderr
        with open(os.path.join(cls.root, "hello", "state.json"), encoding="utf-8") as f:
            cls.state = json.load(f)

    @classmethod
    def tearDownClass(cls):
        subprocess.run([AMBIENCE, "cluster", "down", "--runtime-dir", cls.root], env=env(), capture_output=True,
                       timeout=60)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def call(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AMBIENCE, "call", "--runtime-dir", self.root, *args], env=env(),
                              capture_output=True, text=True, timeout=60)

    def host_log(self) -> str:
        return os.path.join(self.root, "hello", "logs", "host.log")

    def assert_error(self, out: subprocess.CompletedProcess[str], text: str) -> None:
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertEqual(out.stdout, "")
        self.assertEqual(len(out.stderr.splitlines()), 1, out.stderr)
        self.assertIn(text, out.stderr)

    def test_1_the_greeter_on_the_board_through_the_host(self):
        out = self.call("board/greeter.greet", '{"name": "x"}')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, '"hello, x!"\n')
        # the greeter called the host's console in turn: the call really ran on the board
        self.assertIn("[console] hello, x!", log_with(self.host_log(), "[console] hello, x!"))

    def test_2_the_console_on_the_host(self):
        first = self.call("host/console.print", '{"line": "from the operator"}')
        second = self.call("host/console.print", '{"line": "again"}')
        self.assertEqual((first.returncode, second.returncode), (0, 0), first.stderr + second.stderr)
        self.assertEqual(int(second.stdout), int(first.stdout) + 1)  # a u32: lines printed so far
        log = log_with(self.host_log(), "[console] again")  # printed after the first line
        self.assertIn("[console] from the operator", log)
        self.assertIn("[console] again", log)

    def test_2b_a_request_larger_than_a_datagram(self):
        line = "".join(chr(ord("a") + i % 26) for i in range(6000))  # 5 fragments on the console network
        out = self.call("host/console.print", json.dumps({"line": line}))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(f"[console] {line}", log_with(self.host_log(), f"[console] {line}"))

    def test_3_bad_names_and_arguments(self):
        self.assert_error(self.call("board/greeter.shout", "{}"), "hello.Greeter has no procedure 'shout' (has: greet)")
        self.assert_error(self.call("board/greeter.greet", '{"name": 7}'), "name")
        self.assert_error(self.call("board/greeter.greet", '{"nom": "x"}'), "unknown field(s) nom")
        self.assert_error(self.call("board/greeter.greet", '{"name": '), "the arguments are not JSON")
        self.assert_error(self.call("board/greeter.greet", '["x"]'), "must be a JSON object")
        self.assert_error(self.call("board/nobody.greet", "{}"), "node 'board' has no instance 'nobody'")
        self.assert_error(self.call("moon/greeter.greet", "{}"), "has no node 'moon' (nodes: board, host)")
        self.assert_error(self.call("board.greet", "{}"), "is not <node>/<instance>.<procedure>")

    def test_4_an_unreachable_node_ends_in_timeout(self):
        board = self.state["nodes"]["board"]["pid"]
        os.killpg(board, signal.SIGKILL)  # QEMU in its own session: the board is gone
        t0 = time.monotonic()
        out = self.call("--timeout", "1", "board/greeter.greet", '{"name": "x"}')
        self.assert_error(out, "board/greeter.greet: no reply within 1 s (timeout)")
        self.assertLess(time.monotonic() - t0, 1 + 20)  # the deadline, plus the CLI's start-up (a loaded machine)


class ForegroundTest(unittest.TestCase):
    def test_a_foreground_cluster_is_found_too(self):
        # `bazel run //deployments/hello/on_board:cluster` records its state like `cluster up`
        tmp = tempfile.mkdtemp(prefix="hf-", dir="/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        run = subprocess.Popen([SCRIPT, "--duration", "60"], env=dict(env(), TMPDIR=tmp, XDG_RUNTIME_DIR=tmp),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert run.stdout is not None
            for line in run.stdout:
                if "cluster: all 2 nodes healthy" in line:
                    break
            out = subprocess.run([AMBIENCE, "call", "board/greeter.greet", '{"name": "fg"}'],
                                 env=dict(env(), XDG_RUNTIME_DIR=tmp), capture_output=True, text=True, timeout=60)
            self.assertEqual((out.returncode, out.stdout), (0, '"hello, fg!"\n'), out.stderr)
        finally:
            run.send_signal(signal.SIGTERM)
            run.communicate(timeout=60)
        self.assertEqual(os.listdir(tmp), [])  # its state went with it


class NoClusterTest(unittest.TestCase):
    def test_no_cluster_is_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([AMBIENCE, "call", "--runtime-dir", tmp, "host/console.print", "{}"], env=env(),
                                 capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr, "ambience call: error: no cluster is up (`ambience cluster up "
                                     "//deployments/<name>` starts one)\n")


if __name__ == "__main__":
    unittest.main()
