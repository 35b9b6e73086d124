"""The python_hello nodes: the C++ sensor calls the Python analyzer (structs, an enum, a vector, an
optional, a 4 MiB span), which calls the C++ journal back; the Python monitor calls the analyzer
through the supervisor (python_hello) or directly in one group (one_group); an exception in the
analyzer reaches its callers as an error and the node log as the exception's type and message;
kill -9 of the Python group process restarts it (its monitor starts again); the explain command
says how each edge is reached."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import unittest
from collections.abc import Callable

from tests.harness.node_processes import Watched, free_udp_ports

PKG = "deployments/python_hello"
MIB = bytes(range(256)) * 4096
MIB_DIGEST = sum(int.from_bytes(MIB[i:i + 8], "little") for i in range(0, len(MIB), 8)) % (1 << 64)
COMMON = [
    r"\[journal\] #\d sensor 1 \(kitchen\): 3 samples, total 12 \(calm\)",
    r"\[sensor\] analyze\(kitchen\) -> Kitchen count 3 total 12 calm note none entry \d",
    r"\[journal\] #\d sensor 2 \(garage\): 3 samples, total 1500 \(alarmed\)",
    r'\[sensor\] analyze\(garage\) -> Garage count 3 total 1500 alarmed note "noted: door open" entry \d',
    r"\[sensor\] digest\(4 MiB\) matches",
    r"ambience python group '\w+': analyzer.fail raised RuntimeError: sensor unplugged",
    r"\[sensor\] fail\(\) -> 0 \(the call failed: the default value\)",
    r"\[journal\] #\d sensor 9 \(attic\): 4 samples, total 10 \(busy\)",
]
# What a run waits for before it is stopped, one literal piece of each line of COMMON (the
# lines themselves are checked on the whole output afterwards).
COMMON_SEEN = [
    "sensor 1 (kitchen): 3 samples",
    "[sensor] analyze(kitchen) ->",
    "sensor 2 (garage): 3 samples",
    "[sensor] analyze(garage) ->",
    "[sensor] digest(4 MiB)",
    "analyzer.fail raised RuntimeError: sensor unplugged",
    "[sensor] fail() ->",
    "sensor 9 (attic): 4 samples",
]


def wait_for_all(node: Watched, texts: list[str], timeout_s: float = 30) -> str | None:
    """The first of `texts` that `node` did not print within `timeout_s` (each), or None."""
    for text in texts:
        if not node.wait_for(text, timeout_s):
            return text
    return None


def wait_until(node: Watched, done: Callable[[str], bool], timeout_s: float = 30) -> bool:
    """True once `done(output)`; False when the node ended without it or `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while not done(node.output):
        if node.proc.poll() is not None:
            node.wait_for("\0", timeout_s=5)  # the reader takes the last lines (never printed: until the end)
            return done(node.output)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run(variant: str, expected: list[str]) -> str:
    """Runs the node until it printed every line of COMMON and each of `expected` (a node without
    --exit-after-ms runs until it is stopped); its whole output."""
    node = Watched([f"{PKG}{variant}/host"])
    try:
        missing = wait_for_all(node, COMMON_SEEN + expected)
    finally:
        out = node.stop()
    if missing is not None:
        raise AssertionError(f"the node did not print {missing!r}:\n{out}")
    return out


def monitor_line(how: str, failed: str) -> str:
    return (f"[monitor] {how}: analyze(attic) -> Attic total 10 busy note 'noted: dusty'; digest(1 MiB) {MIB_DIGEST}; "
            f"fail() -> {failed}")


class PythonHelloTest(unittest.TestCase):
    def check_common(self, out: str) -> None:
        for pattern in COMMON:
            self.assertRegex(out, re.compile("^" + pattern + "$", re.M), out)
        self.assertNotIn("restarting", out)  # no group process died (sandbox, crash)

    def test_groups_of_each_language_call_each_other(self) -> None:
        started = "ambience: node 'host' of 'python_hello': 4 instances, 4 group processes started"
        monitor = monitor_line("through the supervisor", "RemoteError")
        raised = "ambience python group 'analyzer': analyzer.fail raised RuntimeError: monitor asked"
        out = run("", [started, monitor, raised])
        self.check_common(out)
        self.assertIn(started, out)
        # Python -> Python through the supervisor: the error crosses as a status (RemoteError)
        self.assertIn(monitor, out.splitlines())
        self.assertIn(raised, out)

    def test_python_services_in_one_group_call_each_other_directly(self) -> None:
        started = "ambience: node 'host' of 'python_hello': 4 instances, 3 group processes started"
        monitor = monitor_line("direct", "RuntimeError")
        out = run("/one_group", [started, monitor])
        self.check_common(out)
        self.assertIn(started, out)
        # the analyzer object itself: its exception reaches the monitor as raised
        self.assertIn(monitor, out.splitlines())

    def test_kill_9_of_the_python_group_process_restarts_it(self) -> None:
        node = Watched([f"{PKG}/one_group/host"])  # runs until stopped
        monitor, died = "[monitor] direct:", "ambience node: group 'python'"
        try:
            self.assertTrue(node.wait_for(monitor), "no monitor line:\n" + node.output)
            pid = python_group_pid(node.proc.pid, "python")
            self.assertIsNotNone(pid, "no process of group 'python' among the node's children")
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            self.assertTrue(node.wait_for(died), "the node did not see the group die:\n" + node.output)
            death = next(line for line in node.output.splitlines() if line.startswith(died))
            self.assertIn("killed by signal 9", death)
            self.assertIn("restarting", death)
            # the new process built the group again and started it: its monitor prints a second time
            self.assertTrue(wait_until(node, lambda out: out.count(monitor) >= 2),
                            "the restarted group's monitor did not run:\n" + node.output)
            self.assertNotEqual(python_group_pid(node.proc.pid, "python"), pid)
        finally:
            node.stop()


def python_group_pid(parent: int, group: str) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        flag = b"--ambience-group"
        if ppid == parent and flag in argv and argv[argv.index(flag) + 1] == group.encode():
            return int(entry)
    return None


class TwoNodesTest(unittest.TestCase):
    def test_rpc_reaches_the_python_group_and_leaves_it(self) -> None:
        a, b = free_udp_ports(2)
        udp_map = f"10.7.0.1:4800=127.0.0.1:{a},10.7.0.2:4800=127.0.0.1:{b}"

        def start(node: str) -> Watched:  # runs until stopped
            return Watched([f"{PKG}/two_nodes/{node}", "--udp-map", udp_map])

        back = start("back")
        front: Watched | None = None
        try:
            # the back's link and group processes are up before the front's first call
            if back.wait_for("ambience: node 'back' of 'python_hello': 2 instances, 2 group processes started"):
                front = start("front")
                missing = wait_for_all(front, [COMMON_SEEN[i] for i in (0, 1, 2, 3, 7)] + [
                    "[sensor] digest(4 MiB) failed (no answer)", "[sensor] fail() -> 0"])
                if missing is None:
                    missing = wait_for_all(back, [
                        "analyzer.fail raised RuntimeError: sensor unplugged",
                        monitor_line("through the supervisor", "RemoteError")])
            else:
                missing = "back: group processes started"
        finally:
            front_out = front.stop() if front is not None else ""
            back_out = back.stop()
        self.assertIsNone(missing, f"front:\n{front_out}\nback:\n{back_out}")
        # sensor (C++, front) -> analyzer (Python, back) over RPC -> journal (C++, front) over RPC
        for pattern in COMMON[:4] + [COMMON[7]]:
            self.assertRegex(front_out, re.compile("^" + pattern + "$", re.M), front_out)
        # a 4 MiB frame does not fit an RPC message: the call fails cleanly, nothing hangs
        self.assertIn("[sensor] digest(4 MiB) failed (no answer)", front_out)
        self.assertIn("[sensor] fail() -> 0 (the call failed: the default value)", front_out)
        self.assertIn("ambience python group 'analyzer': analyzer.fail raised RuntimeError: sensor unplugged", back_out)
        self.assertIn(monitor_line("through the supervisor", "RemoteError"), back_out.splitlines())
        self.assertNotIn("restarting", front_out + back_out)


class ExplainTest(unittest.TestCase):
    def test_explain_names_the_language_and_each_edge(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))  # the ambience package of this test's deps
        res = subprocess.run([sys.executable, "-m", "ambience", "explain", f"{PKG}/python_hello.inputs.json",
                              "analyzer"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             timeout=60, check=False)
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn("written in Python (deployments.python_hello.services.analyzer.Analyzer)", res.stdout)
        self.assertIn("Python -> C++: a zero-copy call block over the ring", res.stdout)


if __name__ == "__main__":
    unittest.main()
