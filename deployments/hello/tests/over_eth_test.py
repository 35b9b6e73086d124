"""The greeter on the camera board (QEMU mps2-an500) calls the console on the hosted node `edge`
over the UDP network `lan`; the board's side of `lan` is its LAN9118 Ethernet under QEMU user
networking at the plan's addresses (the camera 10.0.0.2, QEMU's host side 10.0.0.1 = the edge).

What the board sends to 10.0.0.1:PORT, QEMU delivers from one of its own sockets to
127.0.0.1:PORT, where the edge binds its endpoint through `--udp-map`; the edge answers the
address the request came from, that socket, and QEMU hands the reply to the board. The edge's
map also names the camera's forwarded port (as the cluster runner gives it), which this call
does not need. The edge must be at 127.0.0.1 on the plan's port (QEMU maps the guest's host
address to loopback, same port), so the test runs in a network namespace of its own where
`unshare` allows it: parallel runs and other users of that port cannot collide with it. Every
wait is bounded: the edge exits on its own, then QEMU is stopped (the camera serves the
operator's console, so it runs until stopped).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

PKG = Path("deployments/hello/tests/over_eth")


def _endpoint(node: str) -> tuple[str, int]:
    doc = json.loads((PKG / "over_eth" / f"{node}.plan.json").read_text())
    (ep,) = [e for e in doc["endpoints"] if e["network"] == "lan"]
    return ep["address"], ep["port"]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OverEthernetTest(unittest.TestCase):
    def test_greeter_on_the_camera_reaches_the_console_on_the_edge(self) -> None:
        edge_addr, edge_port = _endpoint("edge")
        camera_addr, camera_port = _endpoint("camera")
        self.assertEqual((edge_addr, camera_addr), ("10.0.0.1", "10.0.0.2"))
        forward = _free_udp_port()
        edge = subprocess.Popen(
            [str(PKG / "edge"), "--udp-map",
             f"{edge_addr}:{edge_port}=127.0.0.1:{edge_port},{camera_addr}:{camera_port}=127.0.0.1:{forward}",
             "--exit-after-ms", "8000"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            camera = subprocess.Popen(
                ["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none",
                 "-semihosting-config", "enable=on,target=native", "-kernel", str(PKG / "camera.elf"),
                 "-nic", f"user,model=lan9118,net=10.0.0.0/24,host={edge_addr},dhcpstart={camera_addr},"
                 f"hostfwd=udp:127.0.0.1:{forward}-{camera_addr}:{camera_port}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
            edge_out, _ = edge.communicate(timeout=30)
            self.assertIsNone(camera.poll(), "a serving board must keep running")
        finally:
            if edge.poll() is None:
                edge.kill()
                edge.wait()
            camera.kill()
            camera_out, _ = camera.communicate(timeout=30)
        print(camera_out)
        print(edge_out)
        self.assertIn(f"network 'lan' (udp): Ethernet at {camera_addr}:{camera_port}/24", camera_out)
        self.assertIn('[greeter] greet("world") -> "hello, world!"', camera_out)
        self.assertEqual(edge.returncode, 0, edge_out)
        self.assertIn("[console] hello, world!", edge_out)

    def test_the_cluster_runner_wires_the_same_call(self) -> None:
        # The runner's own arguments (tools/ambience/cluster/plan.py): the edge at 127.0.0.1 (where
        # QEMU delivers the guest's datagrams), the camera's port forwarded from the cluster's 127.A.B.1.
        tmp = tempfile.mkdtemp(prefix="eth-", dir="/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        env = dict(os.environ, RUNFILES_DIR=os.environ.get("TEST_SRCDIR", os.getcwd() + "/.."), TMPDIR=tmp,
                   XDG_RUNTIME_DIR=tmp)
        run = subprocess.Popen([str(PKG / "cluster.sh"), "--duration", "8"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
        assert run.stdout is not None
        lines = []
        for line in run.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("cluster: all 2 nodes healthy"):
                break
        # The operator's console reaches the camera through the edge and the camera's Ethernet.
        call = subprocess.run(["tools/ambience_cli", "call", "camera/greeter.greet", '{"name": "eth"}'], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        rest, _ = run.communicate(timeout=90)
        lines += rest.splitlines()
        print("\n".join(lines))
        self.assertEqual(run.returncode, 0, "\n".join(lines))
        self.assertEqual((call.returncode, call.stdout), (0, '"hello, eth!"\n'), call.stderr)
        # The camera's port forwarded from the cluster's loopback subnet (127.0.1 unless taken).
        self.assertRegex("\n".join(lines), r"cluster: udp lan: camera 10\.0\.0\.2:4800 -> 127(\.\d+){2}\.1:4800")
        for want in [
            "cluster: udp lan: edge 10.0.0.1:4800 -> 127.0.0.1:4800",
            '[camera] [greeter] greet("world") -> "hello, world!"',
            "[edge  ] [console] hello, world!",
            "cluster: all 2 nodes healthy",
        ]:
            self.assertIn(want, lines, "\n".join(lines))


def _rerun_in_own_network_namespace() -> None:
    """Re-executes this test in a new user + network namespace with loopback up, if possible
    (otherwise it runs in the machine's namespace and needs 127.0.0.1:PORT to be free)."""
    if os.environ.get("OVER_ETH_OWN_NETNS") == "1" or not (shutil.which("unshare") and shutil.which("ip")):
        return
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        return
    env = dict(os.environ, OVER_ETH_OWN_NETNS="1")
    os.execvpe("unshare", ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                           sys.executable, *sys.argv], env)  # fmt: skip


if __name__ == "__main__":
    _rerun_in_own_network_namespace()
    unittest.main()
