"""Runs a deployment's cluster: the node processes, the link emulator, health and shutdown.

    bazel run //deployments/hello/on_board:cluster -- --duration 3 [--link uart=baud:9600,drop:0.1]
    ambience cluster up //deployments/hello/on_board     (detached; then `status`, `down`)

Foreground: every node's lines on stdout, prefixed with its name; exit status 0 if every node
became healthy and every node that ended on its own ended with status 0 (hosted nodes end at
the end of --duration, given as --exit-after-ms; whatever still runs a few seconds later is
stopped). Ctrl-C or SIGTERM stops every node; the exit status is then 1.
Detached (--detach): a runner process in its own session keeps the cluster up,
writes `state.json` (pids, sockets, address map) and `status.json` (health, restarts, link
counters, refreshed twice a second) in the cluster's runtime directory and one log per node;
SIGTERM (`ambience cluster down`) stops everything and removes the directory.
The HTTP doors of exports (`export(..., http = PORT)`, doors.py) start once every node is healthy
and stop before the nodes, in both modes.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ambience.backend import CONSOLE_NETWORK, CONSOLE_NODE
from ambience.cluster.doors import Doors, parse_door_files, plan_doors
from ambience.cluster.link import LinkModel, LinkSpecError, parse_link_spec, spec_keys
from ambience.cluster.output import follow_output
from ambience.cluster.plan import (
    LOOPBACK_SUBNETS,
    ClusterPlan,
    ClusterPlanError,
    NodeImage,
    ProcessPlan,
    bound_addresses,
    cluster_plan,
    console_endpoints,
    udp_networks,
)
from ambience.cluster.udp_relays import UdpRelays
from ambience.cluster.wires import Wires
from ambience.plan_json import NodeDocument, load_node_plan_text

HEALTH_TIMEOUT_S = 30.0
START_WAIT_S = 30.0  # how long a node's start waits for the nodes it calls to be healthy
STOP_GRACE_S = 5.0
STATUS_PERIOD_S = 0.5
LAST_LINES = 10
STARTED = re.compile(r"ambience: node '([^']+)' of '([^']+)': .*started")
GROUP_RESTARTS = re.compile(r"ambience: group (\S+) faults \d+ restarts (\d+)")  # an MCU supervisor's summary
HOSTED_RESTART = re.compile(r"ambience node: group '([^']+)' \(pid \d+, generation \d+\): .*; restarting$")
# A node's RPC layer reports its refusals (requests it dropped or refused before dispatch) as the
# counts change: "ambience: rpc refusals auth_failures=0 replays=2 ...".
REFUSALS = re.compile(r"ambience: rpc refusals ((?:\w+=\d+ ?)+)")
# And its coroutine frames when their high-water mark moves: "ambience: memory frames_peak=B ...".
MEMORY = re.compile(r"ambience: memory ((?:\w+=\d+ ?)+)")
REFUSAL_KINDS = ("auth_failures", "replays", "resyncs", "denied", "unauthenticated")


def runtime_root() -> str:
    """Where detached clusters keep their state: one directory per deployment."""
    if os.environ.get("AMBIENCE_CLUSTER_DIR"):
        return os.environ["AMBIENCE_CLUSTER_DIR"]
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return os.path.join(base, f"ambience-cluster-{os.getuid()}")


@dataclass
class NodeRun:
    plan: ProcessPlan
    proc: subprocess.Popen[bytes] | None = None
    healthy: bool = False
    status: int | None = None
    restarts: dict[str, int] = field(default_factory=dict)  # per group, as the node's supervisor reports them
    refusals: dict[str, int] = field(default_factory=dict)  # the node's RPC refusal counters, last reported
    memory: dict[str, int] = field(default_factory=dict)  # its coroutine frames, last reported
    last: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_LINES))
    reader: threading.Thread | None = None
    stopped: bool = False  # still running when the runner stopped it

    @property
    def name(self) -> str:
        return self.plan.node

    def state(self) -> str:
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        if code is not None:
            return f"exited {code}"
        return "healthy" if self.healthy else "starting"


class ClusterStartError(Exception):
    pass


class Cluster:
    """The processes and wires of one cluster plan, started and stopped together."""

    def __init__(self, plan: ClusterPlan, models: dict[str, LinkModel], out: IO[str] | None = None,
                 log_dir: str | None = None) -> None:
        self.plan = plan
        self.wires = Wires(list(plan.lines), models)
        self.relays = UdpRelays(list(plan.relays), models)
        self.nodes = [NodeRun(p) for p in plan.processes]
        self.out = out
        self.log_dir = log_dir
        self.paths: dict[str, str] = {}
        self.doors: Doors | None = None  # the HTTP doors, started once the nodes are healthy
        self.door_notes: list[str] = []
        self._lock = threading.Lock()
        self._width = max(len(n.name) for n in self.nodes)

    def start(self, exit_after_ms: int | None = None) -> None:
        """Opens the wires, then starts every node; `stop()` undoes what was done, even after an error."""
        try:
            self.paths = self.wires.open()
        except OSError as e:
            raise ClusterStartError(f"cannot open the serial lines: {e}") from None
        self.wires.start()
        try:
            self.relays.open()
        except OSError as e:
            raise ClusterStartError(str(e)) from None
        self.relays.start()
        for n in self.nodes:  # in the plan's start order: callees first
            if n.plan.storage_dir:
                os.makedirs(n.plan.storage_dir, mode=0o700, exist_ok=True)
            err = self._wait_for(n.plan.after, START_WAIT_S)
            if err is not None:
                raise ClusterStartError(err)
            argv = n.plan.argv(self.paths, exit_after_ms)
            # A session of its own: the node's whole process tree is one process group to stop.
            try:
                n.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                raise ClusterStartError(f"cannot start node '{n.name}': {e}") from None
            n.reader = threading.Thread(target=self._read, args=(n,), daemon=True)
            n.reader.start()

    def _read(self, n: NodeRun) -> None:
        assert n.proc is not None and n.proc.stdout is not None

        def seen(line: str) -> None:
            n.last.append(line)
            m = STARTED.search(line)
            if m and m.group(1) == n.name:
                n.healthy = True
            r = GROUP_RESTARTS.search(line)
            if r:
                n.restarts[r.group(1)] = int(r.group(2))
            h = HOSTED_RESTART.search(line)
            if h:
                n.restarts[h.group(1)] = n.restarts.get(h.group(1), 0) + 1
            f = REFUSALS.search(line)
            if f:
                n.refusals.update({k: int(v) for k, v in (kv.split("=") for kv in f.group(1).split())})
            m = MEMORY.search(line)
            if m:
                n.memory.update({k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())})

        follow_output(n.proc.stdout, seen, self._lock, self.out, f"[{n.name.ljust(self._width)}] ",
                      os.path.join(self.log_dir, f"{n.name}.log") if self.log_dir else None)

    def say(self, text: str) -> None:
        with self._lock:
            if self.out is not None:
                self.out.write(text + "\n")
                self.out.flush()

    def _wait_for(self, names: tuple[str, ...], timeout_s: float) -> str | None:
        """Waits until the started nodes in `names` are healthy (or ended); None, or why not."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                waiting = [n for n in self.nodes if n.name in names and n.proc is not None and not n.healthy
                           and n.proc.poll() is None]
            if not waiting:
                return None
            if time.monotonic() > deadline:
                return self._unhealthy(waiting[0], f"did not report healthy within {timeout_s:g} s")
            time.sleep(0.02)

    def wait_healthy(self, timeout_s: float) -> str | None:
        """None once every node printed its start line; otherwise what went wrong, naming the node."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                waiting = [n for n in self.nodes if not n.healthy]
            if not waiting:
                return None
            for n in waiting:
                assert n.proc is not None
                if n.proc.poll() is not None:
                    if n.reader is not None:
                        n.reader.join(timeout=2)
                    if n.healthy:
                        continue
                    return self._unhealthy(n, f"ended with status {n.proc.returncode} before it reported healthy")
            if time.monotonic() > deadline:
                return self._unhealthy(waiting[0], f"did not report healthy within {timeout_s:g} s")
            time.sleep(0.02)

    def _unhealthy(self, n: NodeRun, what: str) -> str:
        with self._lock:
            last = list(n.last)
        tail = "\n".join(f"  | {x}" for x in last) if last else "  (no output)"
        return f"node '{n.name}' {what}; its last lines:\n{tail}"

    def running(self) -> bool:
        return any(n.proc is not None and n.proc.poll() is None for n in self.nodes)

    def stop(self) -> None:
        if self.doors is not None:  # the doors call the nodes: they go first
            self.doors.stop()
        live = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        for n in live:
            assert n.proc is not None
            n.stopped = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(n.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for n in self.nodes:
            if n.proc is None:
                continue
            try:
                n.status = n.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                n.status = None
            # The group leader may be gone while children it started live on: kill what is left.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(n.proc.pid, signal.SIGKILL)
            if n.status is None:
                n.status = n.proc.wait()
        for n in self.nodes:
            if n.reader is not None:
                n.reader.join(timeout=2)
            if n.proc is not None and n.proc.stdout is not None:
                n.proc.stdout.close()
        self.wires.close()
        self.relays.close()

    @staticmethod
    def _restarts(n: NodeRun) -> int | None:
        """A hosted supervisor reports each restart as it happens (none reported: 0); an MCU
        supervisor only in its summary at the end (None until then: not visible)."""
        if n.restarts or n.plan.kind == "hosted":
            return sum(n.restarts.values())
        return None

    def status(self) -> dict[str, Any]:
        with self._lock:
            nodes = {n.name: {"state": n.state(), "healthy": n.healthy, "kind": n.plan.kind,
                              "pid": n.proc.pid if n.proc else None,
                              "restarts": self._restarts(n),
                              "refusals": {k: n.refusals.get(k, 0) for k in REFUSAL_KINDS},
                              "memory": dict(n.memory),
                              "last": list(n.last)[-3:]} for n in self.nodes}
        return {"deployment": self.plan.deployment, "time": time.time(), "nodes": nodes,
                "links": self.links(), "doors": self.doors.status() if self.doors else {}}

    def links(self) -> dict[str, dict[str, object]]:
        """Every emulated link (serial lines and emulated UDP networks): model and counters."""
        return {**self.wires.counters(), **self.relays.counters()}

    def start_doors(self, images: list[NodeImage], args: argparse.Namespace) -> str | None:
        """Starts the HTTP doors of the healthy nodes (--doors); None, or what went wrong."""
        if not args.doors:
            return None
        try:
            door_files, key_files = parse_door_files(args.doors), parse_door_files(args.door_keys)
        except ValueError as e:
            return f"--doors/--door-keys: {e}"
        specs, self.door_notes = plan_doors(self.plan, images, door_files, key_files)
        for note in self.door_notes:
            self.say(f"cluster: note: {note}")
        if not specs:
            return None
        if not args.door_program:
            return "the cluster has HTTP doors but no --door-program to run them"
        lidl = [os.path.relpath(p, args.lidl_root) if args.lidl_root else p for p in args.lidl]
        self.doors = Doors(args.door_program, args.lidl_root or "/", lidl, self.out, self.log_dir)
        err = self.doors.start(specs)
        for d in specs:
            self.say(f"cluster: door {d.name} of node '{d.node}': http://127.0.0.1:{d.port}/"
                     f"{d.name.split('@')[0]}/<procedure>")
        return err


# ----------------------------------------------------------------------------- arguments


def _spec(text: str, parts: int) -> list[str]:
    fields = text.split("=", parts - 1)
    if len(fields) != parts or not all(fields):
        raise ClusterPlanError(f"malformed node spec '{text}'")
    return fields


def _load(path: str, name: str) -> NodeDocument:
    try:
        with open(path, encoding="utf-8") as f:
            return load_node_plan_text(f.read())
    except (OSError, ValueError, KeyError) as e:
        raise ClusterPlanError(f"node '{name}': cannot read its plan {path}: {e}") from None


def node_images(hosted: list[str], mcu: list[str]) -> list[NodeImage]:
    out = []
    for h in hosted:
        name, exe, plan = _spec(h, 3)
        out.append(NodeImage(name, "hosted", exe, _load(plan, name)))
    for m in mcu:
        name, elf, machine, plan = _spec(m, 4)
        out.append(NodeImage(name, "mcu", elf, _load(plan, name), machine))
    for n in out:
        if not os.path.exists(n.image):
            raise ClusterPlanError(f"image of node '{n.name}' not found: {n.image}")
    return out


def preloads(specs: list[str], images: list[NodeImage]) -> dict[str, tuple[tuple[str, int], ...]]:
    """--preload NODE=FILE=ADDRESS (node(preload = ...)) by node, each file checked to exist."""
    mcu = {n.name for n in images if n.kind == "mcu"}
    out: dict[str, list[tuple[str, int]]] = {}
    for s in specs:
        node, path, address = _spec(s, 3)
        if node not in mcu:
            raise ClusterPlanError(f"--preload {s}: '{node}' is not an MCU node of this cluster")
        if not os.path.isfile(path):
            raise ClusterPlanError(f"node '{node}': the file it preloads is missing: {path}")
        out.setdefault(node, []).append((path, int(address, 0)))
    return {k: tuple(v) for k, v in out.items()}


def link_models(specs: list[str], serial: set[str], udp: set[str] | None = None) -> dict[str, LinkModel]:
    """--link NET=... by network; `serial` and `udp`: the networks of each kind that can be emulated."""
    udp = udp or set()
    models: dict[str, LinkModel] = {}
    for s in specs:
        net, model = parse_link_spec(s, models.get(s.partition("=")[0]))
        if net not in serial | udp:
            raise LinkSpecError(f"--link {s}: no network '{net}' to emulate (serial: "
                                f"{', '.join(sorted(serial)) or 'none'}; UDP: {', '.join(sorted(udp)) or 'none'})")
        if net in udp and "baud" in spec_keys(s):
            raise LinkSpecError(f"--link {s}: '{net}' is a UDP network: it has no line rate (baud)")
        models[net] = model
    return models


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=None,
                    help="seconds to run, then stop every node (default: until Ctrl-C or all exit)")
    ap.add_argument("--link", action="append", default=[], metavar="NETWORK=KEY:VALUE,...",
                    help="model of a serial line or UDP network: baud (serial only), latency (2ms), drop, "
                         "duplicate, reorder, corrupt (probabilities per frame or datagram), seed; "
                         "e.g. uart=baud:9600,latency:5ms,drop:0.05 or lan=drop:0.1,seed:3")
    ap.add_argument("--health-timeout", type=float, default=HEALTH_TIMEOUT_S,
                    help="seconds to wait for every node's start line")
    ap.add_argument("--detach", action="store_true", help="keep the cluster running in the background")
    ap.add_argument("--runtime-dir", default=None, help="state of detached clusters (default: %(default)s)")
    ap.add_argument("--print-plan", action="store_true", help="print the cluster plan (argv, lines, map) and exit")
    ap.add_argument("--hosted", action="append", default=[], metavar="NAME=EXECUTABLE=PLAN", help="(set by the build)")
    ap.add_argument("--mcu", action="append", default=[], metavar="NAME=ELF=MACHINE=PLAN", help="(set by the build)")
    ap.add_argument("--storage", default=None, metavar="DIR",
                    help="keep the hosted nodes' storage in DIR/<node> (default: in the cluster's directory, "
                         "removed when it stops)")
    ap.add_argument("--preload", action="append", default=[], metavar="NODE=FILE=ADDRESS",
                    help="(set by the build) a file QEMU loads into an MCU node's memory before it boots")
    ap.add_argument("--lidl-root", default="", help="(set by the build) the directory the --lidl paths are in")
    ap.add_argument("--lidl", action="append", default=[], metavar="PATH",
                    help="(set by the build) lidl sources of the deployment's interfaces, for `ambience call`")
    ap.add_argument("--doors", action="append", default=[], metavar="NODE=PATH",
                    help="(set by the build) a hosted node's <node>_doors.json: its HTTP doors")
    ap.add_argument("--door-keys", action="append", default=[], metavar="NODE=PATH",
                    help="(set by the build) a hosted node's <node>_door_keys.json: its doors' secrets")
    ap.add_argument("--door-program", default="", help="(set by the build) the HTTP door program")
    return ap


def describe(plan: ClusterPlan, models: dict[str, LinkModel]) -> list[str]:
    out = []
    for p in plan.processes:
        out.append(f"node {p.node} ({p.kind}): " + " ".join(p.argv({e.id: f"<pty {e.id}>" for e in p.serial})))
    for line in plan.lines:
        ends = ", ".join(f"{e.node} ({'pty' if e.kind == 'pty' else f'UART{e.uart} socket'})" for e in line.ends)
        out.append(f"line {line.network}: {ends}; {models.get(line.network, LinkModel()).describe()}")
    for m in plan.udp_map:
        out.append(f"udp {m.network}: {m.node} {m.address}:{m.port} -> {m.host}:{m.host_port}")
    for r in plan.relays:
        at, to = ":".join(map(str, r.public)), ":".join(map(str, r.private))
        out.append(f"udp {r.network}: {r.node} relayed at {at} -> {to}; "
                   f"{models.get(r.network, LinkModel()).describe('udp')}")
    out += [f"note: {x}" for x in plan.notes]
    return out


# ----------------------------------------------------------------------------- foreground


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _foreground_state_dir(root: str, deployment: str) -> str | None:
    """Where a foreground run records its state for `ambience call` (None: that deployment is
    already up there, detached, and keeps its own)."""
    cdir = os.path.join(root, deployment)
    state = _read(os.path.join(cdir, "state.json"))
    if state and _alive(int(state.get("runner_pid") or 0)):
        return None
    shutil.rmtree(cdir, ignore_errors=True)
    os.makedirs(cdir, mode=0o700)
    return cdir


def run_foreground(plan: ClusterPlan, images: list[NodeImage], models: dict[str, LinkModel],
                   args: argparse.Namespace, socket_dir: str, root: str) -> int:
    # Nodes run in sessions of their own (the terminal's Ctrl-C does not reach them), so however
    # the runner is asked to end, it stops them itself.
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _interrupt)
    cluster = Cluster(plan, models, out=sys.stdout)
    exit_after = int(args.duration * 1000) if args.duration is not None else None
    interrupted = False
    state_dir: str | None = None
    try:
        try:
            cluster.start(exit_after)
        except ClusterStartError as e:
            sys.stderr.write(f"cluster: error: {e}\n")
            return 1
        # Recorded like a detached cluster's, so that `ambience call` finds this one too.
        state_dir = _foreground_state_dir(root, plan.deployment)
        if state_dir is not None:
            _write_state(state_dir, plan, images, cluster, args)
        kinds = ", ".join(f"{p.node} ({'QEMU ' + p.base_argv[2] if p.kind == 'mcu' else 'process'})"
                          for p in plan.processes)
        cluster.say(f"cluster: {len(plan.processes)} node(s) running: {kinds}")
        for line in describe(plan, models):
            if line.startswith(("line ", "udp ", "note: ")):
                cluster.say(f"cluster: {line}")
        err = cluster.wait_healthy(args.health_timeout) or cluster.start_doors(images, args)
        if err is not None:
            cluster.stop()
            sys.stderr.write(f"cluster: error: {err}\n")
            return 1
        if state_dir is not None and cluster.doors is not None:
            _write_state(state_dir, plan, images, cluster, args)
        cluster.say(f"cluster: all {len(plan.processes)} nodes healthy")
        deadline = None if args.duration is None else time.monotonic() + args.duration + STOP_GRACE_S
        while cluster.running() and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.05)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        cluster.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
        if state_dir is not None:
            shutil.rmtree(state_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(root)  # only if no other cluster is left in it
    for name, link in cluster.links().items():
        for d, c in link["directions"].items():  # type: ignore[attr-defined]
            cluster.say(f"cluster: link {name} {d}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    # A node still running at the end of --duration (an MCU image that serves for ever) was
    # stopped as asked; one that ended on its own must have ended well.
    bad = [n for n in cluster.nodes if n.status != 0 and not (n.stopped and args.duration is not None)]
    for n in bad:
        sys.stderr.write(f"cluster: node '{n.name}' ended with status {n.status}\n")
    return 1 if bad or interrupted else 0


# ----------------------------------------------------------------------------- detached


def _write_json(path: str, doc: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def free_udp_ports(n: int) -> list[int]:
    """n loopback UDP ports free right now (bound, read, released): the console network's."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _all_free(addresses: list[tuple[str, int]]) -> bool:
    socks = []
    try:
        for a in addresses:
            socks.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            socks[-1].bind(a)
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


SUBNET_TRIES = 64


def plan_on_free_subnets(make: Callable[[tuple[str, str]], ClusterPlan],
                         rng: random.Random | None = None) -> ClusterPlan:
    """The cluster plan on the default loopback subnets if what its nodes bind there is free,
    else on another pair of 127.A.B.0/24 (another cluster, of another deployment, runs here)."""
    rng = rng or random.Random()
    for i in range(SUBNET_TRIES):
        a, b = rng.randrange(1, 255), rng.randrange(0, 254, 2)
        plan = make(LOOPBACK_SUBNETS if i == 0 else (f"127.{a}.{b}", f"127.{a}.{b + 1}"))
        if _all_free(bound_addresses(plan)):
            return plan
    raise ClusterPlanError(f"no free loopback subnet for the cluster's UDP endpoints in {SUBNET_TRIES} tries")


def _copy_lidl(args: argparse.Namespace, cdir: str) -> list[str]:
    """Copies the lidl sources into the cluster's directory (a rebuild while the cluster runs
    must not change the interfaces `ambience call` speaks); their paths there, relative."""
    out = []
    for path in args.lidl:
        rel = os.path.relpath(path, args.lidl_root) if args.lidl_root else os.path.basename(path)
        dst = os.path.join(cdir, "lidl", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(path, dst)
        out.append(rel)
    return sorted(out)


def console_state(plan: ClusterPlan, images: list[NodeImage], lidl: list[str]) -> dict[str, Any]:
    """What `ambience call` needs to reach every node: where the console binds, and per node the
    hosted node it enters through (that node's console endpoint here), the node's number, the
    kinds of its networks (the call's timeout) and its instances."""
    where = {m.node: f"{m.host}:{m.host_port}" for m in plan.udp_map if m.network == CONSOLE_NETWORK}
    nodes: dict[str, Any] = {}
    for n in images:
        d = n.doc
        nodes[n.name] = {
            "kind": n.kind, "number": d.runtime.node_ids.get(n.name, 0), "entry": d.console_entry,
            "entry_endpoint": where.get(d.console_entry, ""),
            "networks": sorted({e.kind for e in d.endpoints if e.network != CONSOLE_NETWORK}),
            "instances": {i.name: {"interface": i.interface, "object_id": i.object_id} for i in d.instances}}
    # The deployment's label (one deployment per package) picks its master key in the key store.
    label = "//" + images[0].doc.package if images else ""
    return {"bind": where.get(CONSOLE_NODE, ""), "nodes": nodes, "lidl": lidl, "deployment_label": label}


def _write_state(cdir: str, plan: ClusterPlan, images: list[NodeImage], cluster: Cluster,
                 args: argparse.Namespace) -> None:
    _write_json(os.path.join(cdir, "state.json"), {
        "deployment": plan.deployment, "runner_pid": os.getpid(),
        "nodes": {n.name: {"pid": n.proc.pid if n.proc else None, "kind": n.plan.kind,
                           "argv": n.plan.argv(cluster.paths)} for n in cluster.nodes},
        "sockets": sorted(e.socket_path for line in plan.lines for e in line.ends if e.kind == "socket"),
        "ptys": cluster.paths, "udp_map": [m.arg() for m in plan.udp_map], "notes": list(plan.notes),
        "console": console_state(plan, images, _copy_lidl(args, cdir)),
        "sensors": {n.name: n.plan.sensor for n in cluster.nodes if n.plan.sensor},
        "doors": cluster.doors.status() if cluster.doors else {}, "door_notes": cluster.door_notes})


def _serve(plan: ClusterPlan, images: list[NodeImage], models: dict[str, LinkModel], args: argparse.Namespace,
           cdir: str, report: int) -> int:
    """The detached runner's body (in its own session): up until SIGTERM, then clean up. The
    verdict on start-up (healthy, or the error) goes to the `report` pipe, then it is closed."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    os.makedirs(os.path.join(cdir, "logs"), exist_ok=True)
    cluster = Cluster(plan, models, log_dir=os.path.join(cdir, "logs"))
    status_path = os.path.join(cdir, "status.json")
    err: str | None = "the runner failed while starting the cluster (see runner.log)"
    try:
        try:
            cluster.start()
        except ClusterStartError as e:
            err = str(e)
            raise
        _write_state(cdir, plan, images, cluster, args)
        err = cluster.wait_healthy(args.health_timeout) or cluster.start_doors(images, args)
        if err is None:
            _write_state(cdir, plan, images, cluster, args)
            _write_json(status_path, dict(cluster.status(), up="healthy"))
        os.write(report, (json.dumps({"error": err}) + "\n").encode())
        os.close(report)
        report = -1
        while err is None and not stop.wait(STATUS_PERIOD_S):
            _write_json(status_path, dict(cluster.status(), up="healthy"))
        return 1 if err else 0
    finally:
        if report >= 0:
            with contextlib.suppress(OSError):
                os.write(report, (json.dumps({"error": err}) + "\n").encode())
            os.close(report)
        cluster.stop()
        shutil.rmtree(cdir, ignore_errors=True)


def run_detached(plan: ClusterPlan, images: list[NodeImage], models: dict[str, LinkModel], args: argparse.Namespace,
                 cdir: str) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    verdict_r, verdict_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the runner: detach from the terminal and the caller's session
        code = 1
        try:
            os.close(verdict_r)
            os.setsid()
            fd = os.open(os.path.join(cdir, "runner.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            os.close(null)
            code = _serve(plan, images, models, args, cdir, verdict_w)
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(verdict_w)
    with os.fdopen(verdict_r, encoding="utf-8") as verdict:
        line = verdict.readline()  # the runner answers once every node is healthy, or fails
    try:
        err = json.loads(line)["error"] if line else f"the runner ended before the cluster was up (see {cdir})"
    except (json.JSONDecodeError, KeyError):
        err = f"the runner said {line!r}"
    if err is not None:
        os.waitpid(pid, 0)  # it has cleaned up by the time it ends
        sys.stderr.write(f"cluster: error: {err}\n")
        return 1
    print(f"cluster: all {len(plan.processes)} nodes healthy; '{plan.deployment}' is up "
          f"(runner pid {pid}, state in {cdir})")
    return 0


def _alive(pid: int) -> bool:
    """Running: a zombie (ended, not yet reaped by whoever adopted it) is not."""
    if pid <= 0:  # kill(0 or -N) would signal process groups
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(") ", 1)[1][:1] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass  # no /proc: ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _session(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def _clusters(root: str, name: str | None) -> Iterator[tuple[str, str]]:
    if not os.path.isdir(root):
        return
    for d in sorted(os.listdir(root)):
        if name is None or d == name:
            yield d, os.path.join(root, d)


def _read(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def status_report(root: str, name: str | None = None) -> tuple[list[str], list[Any]]:
    """Lines for people and the status documents of the clusters under `root`."""
    lines: list[str] = []
    docs = []
    for dep, cdir in _clusters(root, name):
        state = _read(os.path.join(cdir, "state.json")) or {}
        doc = _read(os.path.join(cdir, "status.json")) or {}
        runner = state.get("runner_pid")
        alive = runner is not None and _alive(int(runner))
        age = time.time() - doc["time"] if "time" in doc else None
        lines.append(f"cluster {dep}: runner {runner} {'running' if alive else 'GONE'}"
                     + (f", status {age:.1f} s old" if age is not None else ", no status yet"))
        console = state.get("console", {}).get("bind")
        if console:
            lines.append(f"  console: `ambience call` binds {console}")
        for n, s in sorted(doc.get("nodes", {}).items()):
            restarts = "?" if s.get("restarts") is None else s["restarts"]
            lines.append(f"  node {n:<12} {s['kind']:<6} pid {s['pid']}  {s['state']:<10} restarts {restarts}")
            refused = s.get("refusals", {})
            if any(refused.values()):
                lines.append("    refused: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in refused.items()))
            mem = s.get("memory", {})
            if "frames_peak" in mem:
                lines.append(f"    coroutine frames: peak {mem['frames_peak']} B of {mem.get('frames_arena', '?')} B, "
                             f"{mem.get('frame_failures', 0)} allocation failures")
        for n, d in sorted(doc.get("doors", {}).items()):
            lines.append(f"  door {n} (node {d['node']}): {d['url']} pid {d['pid']} {d['state']}")
            c = d.get("counters")
            if c:
                refused = ", ".join(f"{k} {v}" for k, v in sorted(c["refused"].items())) or "none"
                lines.append(f"    requests {c['requests']}, answered {c['answered']}, refused: {refused}")
        for note in state.get("door_notes", []):
            lines.append(f"  note: {note}")
        for net, link in sorted(doc.get("links", {}).items()):
            lines.append(f"  link {net}: {link['model']}")
            for d, c in sorted(link["directions"].items()):
                lines.append(f"    {d}: frames {c['frames_in']} in / {c['frames_out']} out, bytes {c['bytes_in']} in / "
                             f"{c['bytes_out']} out, errors: dropped {c['dropped']} duplicated {c['duplicated']} "
                             f"reordered {c['reordered']} corrupted {c['corrupted']} overruns {c['overruns']}")
        docs.append({"deployment": dep, "runner_alive": alive, "state": state, "status": doc})
    if not lines:
        lines.append("no cluster is up" + (f" for '{name}'" if name else ""))
    return lines, docs


def down(root: str, name: str | None = None) -> list[str]:
    """Stops the clusters under `root` (or the one named): the runner first, which stops its
    nodes and removes its directory; whatever survives it is killed and removed here."""
    said = []
    for dep, cdir in _clusters(root, name):
        state = _read(os.path.join(cdir, "state.json")) or {}
        runner = state.get("runner_pid")
        if runner is not None and _alive(int(runner)) and _session(int(runner)) == int(runner):
            os.kill(int(runner), signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S * 2
            while _alive(int(runner)) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(int(runner), os.WNOHANG)
                time.sleep(0.05)
            if _alive(int(runner)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(runner), signal.SIGKILL)
        for n in state.get("nodes", {}).values():
            # Only a process that still leads the session the runner gave it is that node (a pid
            # may have been reused since): it is left over if the runner could not stop it.
            pid = int(n.get("pid") or 0)
            if _alive(pid) and _session(pid) == pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        for s in state.get("sockets", []):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(s)
        shutil.rmtree(cdir, ignore_errors=True)
        said.append(f"cluster {dep}: down")
    with contextlib.suppress(OSError):
        os.rmdir(root)  # only if no other cluster is left in it
    return said


# ----------------------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        images = node_images(args.hosted, args.mcu)
        root = args.runtime_dir or runtime_root()
        if args.detach:
            deployment = images[0].doc.deployment if images else "cluster"
            cdir = os.path.join(root, deployment)
            state = _read(os.path.join(cdir, "state.json"))
            if state and _alive(int(state.get("runner_pid", 0)) or 0):
                raise ClusterPlanError(f"'{deployment}' is already up (runner pid {state['runner_pid']}); "
                                       "`ambience cluster down` first")
            shutil.rmtree(cdir, ignore_errors=True)
            os.makedirs(cdir, mode=0o700)
            socket_dir = cdir
        else:
            socket_dir = tempfile.mkdtemp(prefix="ambience-cluster-")
        try:
            storage = os.path.abspath(args.storage) if args.storage else None
            serial = {e.network for n in images for e in n.doc.endpoints if e.kind == "serial"}
            models = link_models(args.link, serial, udp_networks(images))
            console_ports = free_udp_ports(console_endpoints(images))
            plan = plan_on_free_subnets(lambda subnets: cluster_plan(
                images, socket_dir, console_ports, preloads=preloads(args.preload, images), storage_root=storage,
                emulated_udp={net for net in models if net not in serial}, subnets=subnets))
        except BaseException:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise
    except (ClusterPlanError, LinkSpecError, OSError) as e:
        sys.stderr.write(f"cluster: error: {e}\n")
        return 1
    if args.print_plan:
        shutil.rmtree(socket_dir, ignore_errors=True)
        print("\n".join(describe(plan, models)))
        return 0
    if args.detach:
        return run_detached(plan, images, models, args, socket_dir)
    return run_foreground(plan, images, models, args, socket_dir, root)


if __name__ == "__main__":
    sys.exit(main())
