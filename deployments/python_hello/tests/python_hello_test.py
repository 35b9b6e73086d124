"""The python_hello nodes: the C++ sensor calls the Python analyzer (structs, an enum, a vector, an
optional, a 4 MiB span), which calls the C++ journal back; the Python monitor calls the analyzer
through the supervisor (python_hello) or directly in one group (one_group); an exception in the
analyzer reaches its callers as an error and the node log as the exception's type and message;
kill -9 of the Python group process restarts it (its monitor starts again); the explain command
says how each edge is reached."""
from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

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


def run(variant: str) -> str:
    return subprocess.run([f"{PKG}{variant}/host", "--exit-after-ms", "4000"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60, check=False).stdout


def monitor_line(how: str, failed: str) -> str:
    return (f"[monitor] {how}: analyze(attic) -> Attic total 10 busy note 'noted: dusty'; digest(1 MiB) {MIB_DIGEST}; "
            f"fail() -> {failed}")


class PythonHelloTest(unittest.TestCase):
    def check_common(self, out: str) -> None:
        for pattern in COMMON:
            self.assertRegex(out, re.compile("^" + pattern + "$", re.M), out)
        self.assertNotIn("restarting", out)  # no group process died (sandbox, crash)

    def test_groups_of_each_language_call_each_other(self) -> None:
        out = run("")
        self.check_common(out)
        self.assertIn("ambience: node 'host' of 'python_hello': 4 instances, 4 group processes started", out)
        # Python -> Python through the supervisor: the error crosses as a status (RemoteError)
        self.assertIn(monitor_line("through the supervisor", "RemoteError"), out.splitlines())
        self.assertIn("ambience python group 'analyzer': analyzer.fail raised RuntimeError: monitor asked", out)

    def test_python_services_in_one_group_call_each_other_directly(self) -> None:
        out = run("/one_group")
        self.check_common(out)
        self.assertIn("ambience: node 'host' of 'python_hello': 4 instances, 3 group processes started", out)
        # the analyzer object itself: its exception reaches the monitor as raised
        self.assertIn(monitor_line("direct", "RuntimeError"), out.splitlines())

    def test_kill_9_of_the_python_group_process_restarts_it(self) -> None:
        node = subprocess.Popen([f"{PKG}/one_group/host", "--exit-after-ms", "30000"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        lines: queue.Queue[str] = queue.Queue()
        out = node.stdout
        assert out is not None

        def read() -> None:
            for x in out:
                lines.put(x.rstrip("\n"))

        threading.Thread(target=read, daemon=True).start()
        seen: list[str] = []

        def wait_for(prefix: str) -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=1)
                except queue.Empty:
                    continue
                seen.append(line)
                if line.startswith(prefix):
                    return
            self.fail(f"no line starting with {prefix!r}:\n" + "\n".join(seen))

        try:
            wait_for("[monitor] direct:")
            pid = python_group_pid(node.pid, "python")
            self.assertIsNotNone(pid, "no process of group 'python' among the node's children")
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            wait_for("ambience node: group 'python'")
            self.assertIn("killed by signal 9", seen[-1])
            self.assertIn("restarting", seen[-1])
            wait_for("[monitor] direct:")  # the new process built the group again and started it
            self.assertNotEqual(python_group_pid(node.pid, "python"), pid)
        finally:
            node.kill()
            node.wait()
            out.close()


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


def free_udp_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class TwoNodesTest(unittest.TestCase):
    def test_rpc_reaches_the_python_group_and_leaves_it(self) -> None:
        a, b = free_udp_ports(2)
        udp_map = f"10.7.0.1:4800=127.0.0.1:{a},10.7.0.2:4800=127.0.0.1:{b}"

        def start(node: str, ms: int) -> subprocess.Popen[str]:
            return subprocess.Popen([f"{PKG}/two_nodes/{node}", "--udp-map", udp_map, "--exit-after-ms", str(ms)],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        back = start("back", 9000)
        time.sleep(1.0)
        front = start("front", 7000)
        front_out, _ = front.communicate(timeout=60)
        back_out, _ = back.communicate(timeout=60)
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
