"""Runs every image of a deployment at once on this machine: hosted nodes as processes, MCU nodes
in QEMU. Each output line is prefixed with its node's name.

    bazel run //deployments/hello/on_board:cluster -- --duration 3

Links between nodes are not wired yet: no network driver exists (kernel/net), so RPC calls fail
fast with `unavailable` and each node runs on its own. Exit status: 0 if every node ended well
(hosted nodes are stopped at the end of --duration; MCU images must exit 0), 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass


@dataclass
class NodeProcess:
    name: str
    argv: list[str]
    kind: str  # "hosted" | "mcu"
    proc: subprocess.Popen[bytes] | None = None
    status: int | None = None

    def started(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise RuntimeError(f"node {self.name} was not started")
        return self.proc

    def running(self) -> bool:
        return self.started().poll() is None


def _pump(node: NodeProcess, lock: threading.Lock, width: int) -> None:
    assert node.proc is not None and node.proc.stdout is not None
    for raw in node.proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        with lock:
            sys.stdout.write(f"[{node.name.ljust(width)}] {line}\n")
            sys.stdout.flush()


def _spec(text: str, parts: int) -> list[str]:
    fields = text.split("=", parts - 1)
    if len(fields) != parts or not all(fields):
        raise argparse.ArgumentTypeError(f"malformed node spec '{text}'")
    return fields


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=None,
                    help="seconds to run, then stop every node (default: until Ctrl-C or all exit)")
    ap.add_argument("--hosted", action="append", default=[], metavar="NAME=EXECUTABLE", help="(set by the build)")
    ap.add_argument("--mcu", action="append", default=[], metavar="NAME=ELF=MACHINE", help="(set by the build)")
    args = ap.parse_args(argv)
    nodes: list[NodeProcess] = []
    try:
        for h in args.hosted:
            name, exe = _spec(h, 2)
            extra = ["--exit-after-ms", str(int(args.duration * 1000))] if args.duration is not None else []
            nodes.append(NodeProcess(name, [exe, *extra], "hosted"))
        for m in args.mcu:
            name, elf, machine = _spec(m, 3)
            nodes.append(NodeProcess(name, ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
                                            "-semihosting-config", "enable=on,target=native", "-kernel", elf], "mcu"))
    except argparse.ArgumentTypeError as e:
        sys.stderr.write(f"cluster: error: {e}\n")
        return 1
    if not nodes:
        sys.stderr.write("cluster: error: the deployment has no node images\n")
        return 1
    for n in nodes:
        if not os.path.exists(n.argv[0] if n.kind == "hosted" else n.argv[-1]):
            sys.stderr.write(f"cluster: error: image of node '{n.name}' not found: {n.argv}\n")
            return 1

    lock = threading.Lock()
    width = max(len(n.name) for n in nodes)
    pumps = []
    for n in sorted(nodes, key=lambda n: n.name):
        n.proc = subprocess.Popen(n.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        t = threading.Thread(target=_pump, args=(n, lock, width), daemon=True)
        t.start()
        pumps.append(t)
    with lock:
        sys.stdout.write(f"cluster: {len(nodes)} node(s) running: "
                         + ", ".join(f"{n.name} ({'QEMU ' + n.argv[2] if n.kind == 'mcu' else 'process'})"
                                     for n in sorted(nodes, key=lambda n: n.name)) + "\n")
    deadline = None if args.duration is None else time.monotonic() + args.duration + 5  # grace for clean exits
    interrupted = False
    try:
        while any(n.running() for n in nodes):
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        interrupted = True
    for n in nodes:
        if n.running():
            n.started().send_signal(signal.SIGTERM)
    for n in nodes:
        try:
            n.status = n.started().wait(timeout=5)
        except subprocess.TimeoutExpired:
            n.started().kill()
            n.status = n.started().wait()
    for t in pumps:
        t.join(timeout=2)
    bad = [n for n in nodes if n.status != 0]
    for n in bad:
        sys.stderr.write(f"cluster: node '{n.name}' ended with status {n.status}\n")
    return 1 if bad or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
