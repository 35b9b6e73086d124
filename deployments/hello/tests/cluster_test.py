"""`bazel run //deployments/<name>:cluster`: every node at once, hosted ones as processes and MCU
ones in QEMU, output prefixed per node, all stopped at the end of --duration; an RPC call
across the cluster's UDP networks (over_udp: front -> middle's forwarder -> back); detached
(`--detach`, what `ambience cluster up` runs), `status` and `down`, after which no process,
socket or file of the cluster is left."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from ambience.cluster import runner
from tests.harness.node_processes import Watched

SCRIPT = "deployments/hello/on_board/cluster.sh"
OVER_UDP = "deployments/hello/tests/over_udp/cluster.sh"
FRAME = b"\x00\x05hello\x00"  # one 0x00-delimited frame, as a UART would carry it


def env():
    return dict(os.environ, RUNFILES_DIR=os.environ.get("TEST_SRCDIR", os.getcwd() + "/.."))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def holders(path):
    """Pids of this user's processes that have `path` open."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            out += [int(pid) for fd in fds if os.readlink(f"/proc/{pid}/fd/{fd}") == path]
        except OSError:
            continue
    return out


class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hc-", dir="/tmp")  # short: unix socket paths stay < 108 bytes
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def cluster(self, script: str, *args: str, until: tuple[str, ...]) -> list[str]:
        """Runs a cluster in the foreground until every line of `until` was printed (30 s at
        most), then stops it as Ctrl-C would; its output, the link counters at its end included."""
        run = Watched([script, *args], env=dict(env(), TMPDIR=self.tmp))
        seen = all(run.wait_for(line) for line in ("nodes healthy", *until))
        out = run.terminate()
        self.assertTrue(seen, out)
        return out.splitlines()

    def test_on_board_cluster_runs_both_nodes(self):
        lines = self.cluster(SCRIPT, until=('[board] [greeter] greet("world") -> "hello, world!"',
                                            "[host ] [console] hello, world!"))
        # in start order: the console's node first, then the board that calls it
        self.assertIn("cluster: 2 node(s) running: host (process), board (QEMU mps2-an386)", lines)
        self.assertIn("cluster: line uart: board (UART1 socket), host (pty); 115200 baud, latency 0 ms, seed 1", lines)
        self.assertIn("[host ] ambience: node 'host' of 'hello': 1 instance, 1 group process started", lines)
        # the call crossed the emulated serial line and came back
        self.assertIn('[board] [greeter] greet("world") -> "hello, world!"', lines)
        self.assertIn("[host ] [console] hello, world!", lines)
        self.assertIn("cluster: all 2 nodes healthy", lines)
        self.assertEqual(os.listdir(self.tmp), [])  # the sockets' directory is gone

    def test_a_call_crosses_two_udp_networks_of_the_cluster(self):
        lines = self.cluster(OVER_UDP, until=('[front ] [greeter] greet("world") -> "hello, world!"',
                                              "[back  ] [console] hello, world!"))
        text = "\n".join(lines)
        # Each endpoint on a loopback address of its own, in the cluster's subnet (127.0.1 unless
        # another cluster holds it).
        for want in [r"cluster: udp lan_a: front 10\.1\.0\.1:4800 -> 127(\.\d+){2}\.1:4800",
                     r"cluster: udp lan_a: middle 10\.1\.0\.2:4800 -> 127(\.\d+){2}\.2:4800",
                     r"cluster: udp lan_b: back 10\.2\.0\.3:4800 -> 127(\.\d+){2}\.3:4800",
                     r"cluster: udp lan_b: middle 10\.2\.0\.2:4800 -> 127(\.\d+){2}\.4:4800"]:
            self.assertRegex(text, want)
        self.assertIn("cluster: all 3 nodes healthy", lines, text)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_an_emulated_udp_network_relays_both_ways_with_its_faults(self):
        # Every datagram twice on lan_a, 20 ms on lan_b: the greet still runs once, end to end.
        lines = self.cluster(OVER_UDP, "--link=lan_a=duplicate:1,seed:3", "--link=lan_b=latency:20ms",
                             until=('[front ] [greeter] greet("world")', "[back  ] [console] hello, world!"))
        text = "\n".join(lines)
        self.assertRegex(text, r"cluster: udp lan_a: front relayed at 127(\.\d+){2}\.1:4800 -> "
                               r"127(\.\d+){2}\.1:4800; latency 0 ms, duplicate 1, seed 3")
        self.assertIn('[front ] [greeter] greet("world") -> "hello, world!"', lines, text)
        self.assertEqual(lines.count("[back  ] [console] hello, world!"), 1, text)
        for way in ("front > middle", "middle > front"):  # the request and its answer, each duplicated
            [counted] = [x for x in lines if x.startswith(f"cluster: link lan_a {way}: ")]
            self.assertRegex(counted, r"frames_in [1-9]\d*, frames_out \d+, .*duplicated [1-9]")
        # Nothing crosses lan_b: the greeter's nested call fails within its deadline, nothing runs.
        lines = self.cluster(OVER_UDP, "--link=lan_b=drop:1", until=('[front ] [greeter] greet("world")',))
        self.assertIn('[front ] [greeter] greet("world") -> "(console unavailable)"', lines, "\n".join(lines))
        self.assertNotIn("[back  ] [console] hello, world!", lines)
        self.assertRegex("\n".join(lines), r"cluster: link lan_b middle > back: frames_in [1-9]\d*, frames_out 0, "
                                           r".*dropped [1-9]")
        self.assertEqual(os.listdir(self.tmp), [])

    def test_health_timeout_names_the_node_and_cleans_up(self):
        out = subprocess.run([SCRIPT, "--health-timeout", "0"], env=dict(env(), TMPDIR=self.tmp),
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertRegex(out.stderr, r"cluster: error: node '(board|host)' did not report healthy within 0 s; "
                                     r"its last lines:")
        self.assertEqual(os.listdir(self.tmp), [])

    def test_up_status_down_leaves_nothing_behind(self):
        root = os.path.join(self.tmp, "run")
        t0 = time.monotonic()
        up = subprocess.run([SCRIPT, "--detach", "--runtime-dir", root, "--link", "uart=baud:57600,latency:1ms"],
                            env=env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(up.returncode, 0, up.stdout + up.stderr)
        self.assertIn("cluster: all 2 nodes healthy; 'hello' is up", up.stdout)
        cdir = os.path.join(root, "hello")
        with open(os.path.join(cdir, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        pids = [state["runner_pid"]] + [n["pid"] for n in state["nodes"].values()]
        pty, sock = state["ptys"]["uart.host"], state["ptys"]["uart.board"]
        self.assertTrue(alive(state["runner_pid"]) and alive(state["nodes"]["host"]["pid"]))
        self.assertIn("--serial", state["nodes"]["host"]["argv"])
        self.assertEqual(state["sockets"], [sock])

        # The board greets the host's console over the emulated line (a request one way, the
        # reply the other), then serves (the operator's console may call it) until `down`.
        deadline = time.monotonic() + 20
        while True:
            with open(os.path.join(cdir, "logs", "board.log"), encoding="utf-8", errors="replace") as f:
                if '[greeter] greet("world") -> "hello, world!"' in f.read():
                    break
            self.assertLess(time.monotonic(), deadline, "the board did not greet")
            time.sleep(0.05)
        self.assertTrue(alive(state["nodes"]["board"]["pid"]))
        self.assertRegex(state["console"]["bind"], r"^127\.0\.0\.1:\d+$")  # where `ambience call` binds
        self.assertEqual(state["console"]["nodes"]["board"]["entry"], "host")

        time.sleep(2 * runner.STATUS_PERIOD_S)
        lines, docs = runner.status_report(root)
        text = "\n".join(lines)
        self.assertIn("cluster hello: runner", text)
        self.assertRegex(text, r"node host +hosted pid \d+ +healthy")
        self.assertRegex(text, r"node board +mcu +pid \d+ +healthy")
        self.assertIn("link uart: 57600 baud, latency 1 ms", text)
        for direction in ("board > host", "host > board"):  # the request, and the reply
            counters = docs[0]["status"]["links"]["uart"]["directions"][direction]
            self.assertGreaterEqual(counters["frames_out"], 1, direction)
            self.assertEqual(counters["frames_in"], counters["frames_out"], direction)  # no faults configured

        self.assertEqual(runner.down(root), ["cluster hello: down"])
        self.assertEqual(runner.down(root), [])  # idempotent
        for pid in pids:
            self.assertFalse(alive(pid), f"process {pid} survived `down`")
        self.assertFalse(os.path.exists(sock))
        self.assertFalse(os.path.exists(root))
        self.assertEqual(holders(pty), [])
        self.assertEqual(os.listdir(self.tmp), [])
        self.assertLess(time.monotonic() - t0, 30)


if __name__ == "__main__":
    unittest.main()
