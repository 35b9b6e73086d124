"""The HTTP doors of a cluster (export(..., http = PORT), runtime/hosted/http_door): which to
start, with what arguments and keys, and the processes themselves.

The runner starts a node's doors once the node is healthy and stops them before the nodes. A
door listens on 127.0.0.1 and its planned port, or on a free port when that one is taken here
(another cluster, another program): the port it got is in the runner's state (`doors`) and in
its output. Its keys are the node's `<node>_door_keys.json` from the build (--door-keys); a door
without them is not started, and the runner says why.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

from ambience.backend import CONSOLE_NETWORK, CONSOLE_NODE
from ambience.cluster.output import follow_output
from ambience.cluster.plan import ClusterPlan, NodeImage

READY_TIMEOUT_S = 15.0
STOP_GRACE_S = 3.0
LISTENING = "listening on http://"


@dataclass
class DoorSpec:
    """One door to start: its node, its entry in the node's doors file, where it listens."""

    node: str
    name: str  # instance@network
    config: str  # the node's <node>_doors.json
    keys: str  # the node's <node>_door_keys.json
    port: int
    entry: str  # the node's console endpoint here
    console: str  # node 0's reply address here


@dataclass
class DoorRun:
    spec: DoorSpec
    proc: subprocess.Popen[bytes] | None = None
    ready: bool = False
    last: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    reader: threading.Thread | None = None

    def state(self) -> str:
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        if code is not None:
            return f"exited {code}"
        return "listening" if self.ready else "starting"

    def info(self) -> dict[str, Any]:
        return {"node": self.spec.node, "url": f"http://127.0.0.1:{self.spec.port}",
                "pid": self.proc.pid if self.proc else None, "state": self.state()}


def parse_door_files(specs: list[str]) -> dict[str, str]:
    """--doors NODE=PATH / --door-keys NODE=PATH -> {node: path}."""
    out = {}
    for s in specs:
        node, _, path = s.partition("=")
        if not node or not path:
            raise ValueError(f"malformed NODE=PATH '{s}'")
        out[node] = path
    return out


def free_tcp_port(preferred: int) -> int:
    """`preferred` if nobody listens on 127.0.0.1:preferred, else a free port."""
    for port in (preferred, 0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the door's server: TIME_WAIT is no owner
        try:
            s.bind(("127.0.0.1", port))
            return int(s.getsockname()[1])
        except OSError:
            continue
        finally:
            s.close()
    raise OSError("no free TCP port on 127.0.0.1")


def plan_doors(plan: ClusterPlan, images: list[NodeImage], door_files: dict[str, str],
               key_files: dict[str, str]) -> tuple[list[DoorSpec], list[str]]:
    """The doors to start and, for doors that cannot be, why (one line each)."""
    where = {m.node: f"{m.host}:{m.host_port}" for m in plan.udp_map if m.network == CONSOLE_NETWORK}
    specs, notes = [], []
    for img in images:
        config = door_files.get(img.name)
        if img.kind != "hosted" or config is None:
            continue
        try:
            with open(config, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            notes.append(f"node '{img.name}': its doors file {config} cannot be read: {e}")
            continue
        for d in doc.get("doors", []):
            name = f"{d['instance']}@{d['network']}"
            keys_path = key_files.get(img.name)
            if keys_path is None:
                notes.append(f"door {name} of node '{img.name}' not started: no door keys file for the node "
                             "(--door-keys, written by the build's keygen step)")
                continue
            specs.append(DoorSpec(img.name, name, config, keys_path, free_tcp_port(int(d["http"])),
                                  where.get(img.name, ""), where.get(CONSOLE_NODE, "")))
    return specs, notes


class Doors:
    """The door processes of one cluster."""

    def __init__(self, program: str, lidl_dir: str, lidl: list[str], out: IO[str] | None,
                 log_dir: str | None) -> None:
        self.program, self.lidl_dir, self.lidl = program, lidl_dir, lidl
        self.out, self.log_dir = out, log_dir
        self.runs: list[DoorRun] = []
        self._lock = threading.Lock()

    def argv(self, s: DoorSpec) -> list[str]:
        return [self.program, "--config", s.config, "--door", s.name, "--keys", s.keys, "--entry", s.entry,
                "--console", s.console, "--listen", f"127.0.0.1:{s.port}", "--lidl-dir", self.lidl_dir,
                *[f"--lidl={x}" for x in self.lidl]]

    def start(self, specs: list[DoorSpec]) -> str | None:
        """Starts every door and waits until each listens; None, or what went wrong."""
        for s in specs:
            run = DoorRun(s)
            try:
                run.proc = subprocess.Popen(self.argv(s), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                return f"cannot start door {s.name}: {e}"
            run.reader = threading.Thread(target=self._read, args=(run,), daemon=True)
            run.reader.start()
            self.runs.append(run)
        deadline = time.monotonic() + READY_TIMEOUT_S
        for run in self.runs:
            assert run.proc is not None
            while not run.ready:
                if run.proc.poll() is not None or time.monotonic() > deadline:
                    if run.reader is not None:
                        run.reader.join(timeout=1)
                    with self._lock:
                        tail = "\n".join(f"  | {x}" for x in run.last) or "  (no output)"
                    what = "ended" if run.proc.poll() is not None else "did not listen in time"
                    return f"door {run.spec.name} of node '{run.spec.node}' {what}; its last lines:\n{tail}"
                time.sleep(0.02)
        return None

    def _read(self, run: DoorRun) -> None:
        assert run.proc is not None and run.proc.stdout is not None

        def seen(line: str) -> None:
            run.last.append(line)
            if LISTENING in line:
                run.ready = True

        follow_output(run.proc.stdout, seen, self._lock, self.out, f"[door {run.spec.name}] ",
                      os.path.join(self.log_dir, f"door_{run.spec.name}.log") if self.log_dir else None)

    def status(self) -> dict[str, Any]:
        """Each door's state, and its counters (its GET /_status) while it listens."""
        with self._lock:
            out = {r.spec.name: r.info() for r in self.runs}
            ready = {r.spec.name: r.spec.port for r in self.runs if r.ready and r.state() == "listening"}
        for name, port in ready.items():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_status", timeout=0.5) as r:
                    doc = json.loads(r.read())
                out[name]["counters"] = {k: doc[k] for k in ("requests", "answered", "refusals", "refused")}
            except (OSError, ValueError, KeyError):
                pass  # busy or going: the next refresh tries again
        return out

    def stop(self) -> None:
        for run in self.runs:
            if run.proc is not None and run.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(run.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for run in self.runs:
            if run.proc is None:
                continue
            try:
                run.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(run.proc.pid, signal.SIGKILL)
                run.proc.wait()
            if run.reader is not None:
                run.reader.join(timeout=2)
            if run.proc.stdout is not None:
                run.proc.stdout.close()
