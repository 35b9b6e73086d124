"""The runner with stand-in hosted nodes (small Python scripts given real node plans): prefixed
output, health, restarts seen in the output, exit statuses, bytes between two nodes' ptys
through the emulator, bad arguments, and the `ambience cluster` subcommand."""
from __future__ import annotations

import contextlib
import json
import os
import random
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator

from ambience import cli
from ambience.cluster import runner
from ambience.cluster.plan import ClusterPlan, UdpMapping, cluster_plan
from ambience.plan_json import plan_documents
from ambience.testlib import ManifestBuilder, camera_trap_services, plan_of

NODE = """#!{python}
import os, sys, time
args = sys.argv[1:]
name = os.path.basename(sys.argv[0])
print("args", " ".join(args), flush=True)
{body}
"""

STARTED = "print(f\"ambience: node '{name}' of 'pair': 0 instances started\", flush=True)"


def deployment(tmp_path):
    """Two hosted nodes on a serial line and a UDP network; their plans written as the build would."""
    b = ManifestBuilder(name="pair")
    camera_trap_services(b)
    b.network("uart", kind="serial")
    b.network("lan", kind="udp")
    b.node("a", networks={"uart": "1", "lan": "10.0.0.1"})
    b.node("b", networks={"uart": "2", "lan": "10.0.0.2"})
    paths = {}
    for node, text in plan_documents(plan_of(b)).items():
        p = tmp_path / f"{node}.plan.json"
        p.write_text(text)
        paths[node] = str(p)
    return paths


def node(tmp_path, name, body):
    p = tmp_path / name
    p.write_text(NODE.format(python=sys.executable, body=body))
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return str(p)


def run(tmp_path, capsys, a_body, b_body, *extra):
    plans = deployment(tmp_path)
    a, b = node(tmp_path, "a", a_body), node(tmp_path, "b", b_body)
    os.environ["TMPDIR"] = str(tmp_path / "t")
    os.makedirs(os.environ["TMPDIR"], exist_ok=True)
    try:
        code = runner.main(["--hosted", f"a={a}={plans['a']}", "--hosted", f"b={b}={plans['b']}", *extra])
    finally:
        del os.environ["TMPDIR"]
    cap = capsys.readouterr()
    assert os.listdir(tmp_path / "t") == []  # no socket directory left
    return code, cap.out.splitlines(), cap.err


def test_nodes_get_map_and_pty_and_bytes_cross_the_line(tmp_path, capsys):
    send = STARTED + """
pty = args[args.index("--serial") + 1].split("=", 1)[1]
fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
time.sleep(0.2)
os.write(fd, b"\\x00\\x03hi\\x00" * 4)
time.sleep(0.5)
"""
    receive = STARTED + """
pty = args[args.index("--serial") + 1].split("=", 1)[1]
fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
got = b""
while len(got) < 20:
    got += os.read(fd, 100)
print("received", got.hex(), flush=True)
"""
    code, out, err = run(tmp_path, capsys, send, receive, "--link", "uart=baud:9600,latency:5ms")
    assert code == 0, err
    # the console network's ports are free ones, found by the runner
    assert re.search(r"\[a\] args --udp-map 127.0.0.1:7700=127.0.0.1:\d+,127.0.0.1:7701=127.0.0.1:\d+,"
                     r"127.0.0.1:7702=127.0.0.1:\d+,"
                     r"10.0.0.1:4800=127(\.\d+){2}.1:4800,10.0.0.2:4800=127(\.\d+){2}.2:4800 "
                     r"--serial uart=/dev/pts/", "\n".join(out))
    assert "cluster: all 2 nodes healthy" in out
    assert "[b] received " + (b"\x00\x03hi\x00" * 4).hex() in out
    assert "cluster: link uart a > b: frames_in 4, frames_out 4, bytes_in 20, bytes_out 20, dropped 0, " \
           "duplicated 0, reordered 0, corrupted 0, overruns 0" in out


def test_a_failing_node_and_a_node_that_never_starts(tmp_path, capsys):
    code, out, err = run(tmp_path, capsys, STARTED, STARTED + "\nsys.exit(3)", "--duration", "0.3")
    assert code == 1 and "cluster: node 'b' ended with status 3" in err
    code, out, err = run(tmp_path, capsys, STARTED + "\ntime.sleep(5)", "print('booting', flush=True)",
                         "--health-timeout", "3")
    assert code == 1
    assert "cluster: error: node 'b' ended with status 0 before it reported healthy; its last lines:\n" \
           "  | args --udp-map" in err and "  | booting" in err


def test_a_node_running_past_the_duration_is_stopped_and_not_a_failure(tmp_path, capsys):
    honours = STARTED + "\ntime.sleep(int(args[args.index('--exit-after-ms') + 1]) / 1000)"
    t0 = time.monotonic()
    code, out, err = run(tmp_path, capsys, honours, STARTED + "\ntime.sleep(60)", "--duration", "0.2")
    assert code == 0, err
    assert time.monotonic() - t0 < 0.2 + runner.STOP_GRACE_S + 20  # not the node's 60 s: it was stopped


@contextlib.contextmanager
def one_node(tmp_path, body: str) -> Iterator[runner.Cluster]:
    """A cluster of the one node `a` running `body`, healthy, stopped at the end."""
    plans = deployment(tmp_path)
    a = node(tmp_path, "a", body)
    images = runner.node_images([f"a={a}={plans['a']}"], [])
    sock_dir = str(tmp_path / "s")
    os.makedirs(sock_dir)
    c = runner.Cluster(cluster_plan(images, sock_dir), {})
    c.start()
    try:
        assert c.wait_healthy(5) is None
        yield c
    finally:
        c.stop()


def test_restarts_are_read_from_the_supervisor(tmp_path, capsys):
    with one_node(tmp_path, STARTED + "\nprint(\"ambience node: group 'g' (pid 7, generation 1): fault; restarting\","
                  " flush=True)\ntime.sleep(5)") as c:
        for _ in range(100):
            if c.status()["nodes"]["a"]["restarts"] == 1:
                break
            time.sleep(0.02)
        assert c.status()["nodes"]["a"]["restarts"] == 1
    assert c.nodes[0].proc is not None and c.nodes[0].proc.poll() is not None


def test_refusals_and_memory_are_read_from_the_node(tmp_path, capsys):
    lines = ["ambience: rpc refusals auth_failures=2 replays=1 resyncs=0 denied=0 unauthenticated=0",
             "ambience: memory frames_peak=900 frames_live=100 frames_arena=4096 frame_failures=0",
             "ambience: memory frames_peak=1200 frames_live=64 frames_arena=4096 frame_failures=1"]
    body = STARTED + "".join(f"\nprint({line!r}, flush=True)" for line in lines) + "\ntime.sleep(5)"
    with one_node(tmp_path, body) as c:
        for _ in range(100):
            if c.status()["nodes"]["a"]["memory"].get("frames_peak") == 1200:
                break
            time.sleep(0.02)
        s = c.status()["nodes"]["a"]
        assert s["memory"] == {"frames_peak": 1200, "frames_live": 64, "frames_arena": 4096, "frame_failures": 1}
        assert s["refusals"]["auth_failures"] == 2 and s["refusals"]["replays"] == 1


def test_bad_arguments(tmp_path, capsys):
    plans = deployment(tmp_path)
    ok = node(tmp_path, "a", STARTED)
    assert runner.main(["--hosted", "justaname"]) == 1
    assert runner.main([]) == 1
    assert runner.main(["--hosted", f"a={tmp_path}/missing={plans['a']}"]) == 1
    assert runner.main(["--hosted", f"a={ok}={tmp_path}/missing.json"]) == 1
    assert runner.main(["--hosted", f"a={ok}={plans['a']}", "--link", "radio=baud:9600"]) == 1
    assert runner.main(["--hosted", f"a={ok}={plans['b']}"]) == 1
    err = capsys.readouterr().err
    for want in ["malformed node spec", "no node images", "image of node 'a' not found", "cannot read its plan",
                 "no network 'radio' to emulate (serial: uart; UDP: ", "was given the plan of node 'b'"]:
        assert want in err


def test_cli_cluster_subcommand(tmp_path, capsys):
    root = str(tmp_path / "root")
    assert cli.main(["cluster", "status", "--runtime-dir", root]) == 0
    assert cli.main(["cluster", "down", "--runtime-dir", root]) == 0
    assert capsys.readouterr().out.splitlines() == ["no cluster is up", "no cluster is up"]
    # `up` runs the deployment's cluster script detached, with the runtime directory and link models.
    script = tmp_path / "cluster.sh"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\n")
    script.chmod(0o755)
    assert cli.main(["cluster", "up", str(script), "--runtime-dir", root, "--link", "uart=drop:0.1"]) == 0
    assert (tmp_path / "args").read_text().split() == ["--detach", "--runtime-dir", root, "--link=uart=drop:0.1",
                                                       "--health-timeout", "30.0"]
    # status of a cluster whose runner is gone says so; down removes what is left.
    os.makedirs(os.path.join(root, "pair"))
    with open(os.path.join(root, "pair", "state.json"), "w") as f:
        json.dump({"runner_pid": 2**22 + 12345, "nodes": {}, "sockets": []}, f)
    assert cli.main(["cluster", "status", "--runtime-dir", root]) == 0
    assert "cluster pair: runner 4206649 GONE, no status yet" in capsys.readouterr().out
    assert cli.main(["cluster", "down", "--runtime-dir", root]) == 0
    assert not os.path.exists(root)


def test_detached_up_that_fails_names_the_node_and_leaves_nothing(tmp_path):
    plans = deployment(tmp_path)
    a = node(tmp_path, "a", STARTED + "\ntime.sleep(30)")
    b = node(tmp_path, "b", "print('stuck', flush=True)\ntime.sleep(30)")
    root = str(tmp_path / "root")
    argv = [sys.executable, "-m", "ambience.cluster", "--detach", "--runtime-dir", root, "--health-timeout", "1",
            "--hosted", f"a={a}={plans['a']}", "--hosted", f"b={b}={plans['b']}"]
    out = subprocess.run(argv, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "cluster: error: node 'b' did not report healthy within 1 s; its last lines:" in out.stderr
    assert "  | stuck" in out.stderr
    assert os.listdir(root) == []
    assert not any(f"{tmp_path}/a" in p or f"{tmp_path}/b" in p for p in _cmdlines())


def running(pid):
    """Alive and not a zombie (whoever adopted an orphan may reap it late)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _cmdlines():
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return out


def test_a_node_that_cannot_be_started_is_named_and_nothing_is_left(tmp_path, capsys):
    plans = deployment(tmp_path)
    ok = node(tmp_path, "a", STARTED + "\ntime.sleep(30)")
    (tmp_path / "b").write_text("not executable")
    os.environ["TMPDIR"] = str(tmp_path / "t")
    os.makedirs(os.environ["TMPDIR"])
    try:
        code = runner.main(["--hosted", f"a={ok}={plans['a']}", "--hosted", f"b={tmp_path}/b={plans['b']}"])
    finally:
        del os.environ["TMPDIR"]
    assert code == 1
    assert "cluster: error: cannot start node 'b': [Errno 13] Permission denied" in capsys.readouterr().err
    assert os.listdir(tmp_path / "t") == []
    assert not any(ok in p for p in _cmdlines())


def test_down_after_the_runner_was_killed_stops_the_nodes_it_left(tmp_path):
    plans = deployment(tmp_path)
    a = node(tmp_path, "a", STARTED + "\ntime.sleep(60)")
    b = node(tmp_path, "b", STARTED + "\ntime.sleep(60)")
    root = str(tmp_path / "root")
    argv = [sys.executable, "-m", "ambience.cluster", "--detach", "--runtime-dir", root,
            "--hosted", f"a={a}={plans['a']}", "--hosted", f"b={b}={plans['b']}"]
    up = subprocess.run(argv, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), capture_output=True,
                        text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    with open(os.path.join(root, "pair", "state.json")) as f:
        state = json.load(f)
    os.kill(state["runner_pid"], 9)
    deadline = time.monotonic() + 5
    while running(state["runner_pid"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    nodes = [n["pid"] for n in state["nodes"].values()]
    assert all(running(p) for p in nodes)  # orphans: nobody stopped them
    lines, _ = runner.status_report(root)
    assert "GONE" in lines[0]
    assert runner.down(root) == ["cluster pair: down"]
    deadline = time.monotonic() + 5
    while any(running(p) for p in nodes) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(running(p) for p in nodes)
    assert not os.path.exists(root)


def test_a_cluster_moves_to_free_subnets_when_its_addresses_are_taken():
    made = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.1.1", 0))
        port = probe.getsockname()[1]

    def make(subnets):
        made.append(subnets)
        return ClusterPlan("d", (), (), (UdpMapping("lan", "a", "10.0.0.1", 4800, f"{subnets[0]}.1", port),))

    assert runner.plan_on_free_subnets(make).udp_map[0].host == "127.0.1.1"  # the defaults, when free
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.1.1", port))
        made.clear()
        plan = runner.plan_on_free_subnets(make, random.Random(5))
        assert made[0] == ("127.0.1", "127.0.2") and len(made) == 2
        assert plan.udp_map[0].host == f"{made[1][0]}.1" != "127.0.1.1"
