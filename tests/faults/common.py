"""What every part of the fault campaign shares: rows and their verdicts, the table and RESULT
lines, a detached cluster of its own (tests/harness/detached_cluster.py), console clients for it,
and small statistics.

Rows are measured values next to a target; `met` is computed from the two, never written by hand.
"""
from __future__ import annotations

import math
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from ambience import keys
from ambience.console.call import call_json, load_clients
from ambience.console.rpc import CallError, Route, RpcClient, console_keys
from kernel.net import net
from lidl.runtime import codec
from tests.harness.detached_cluster import Cluster, runfiles_env

__all__ = ["Cluster", "runfiles_env"]  # the campaign's parts take them from here


@dataclass(frozen=True)
class Row:
    """One measured figure: `value` against `target` with the comparison `op` (<=, >=, ==)."""

    part: str
    name: str  # RESULT id (faults_<name>)
    value: float
    unit: str
    op: str
    target: float
    note: str = ""

    @property
    def met(self) -> bool:
        return meets(self.value, self.op, self.target)


@dataclass(frozen=True)
class Info:
    """A figure reported without a target (context for the rows)."""

    part: str
    name: str
    value: float
    unit: str
    note: str = ""


def meets(value: float, op: str, target: float) -> bool:
    if math.isnan(value):
        return False
    if op == "<=":
        return value <= target
    if op == ">=":
        return value >= target
    if op == "==":
        return value == target
    raise ValueError(f"unknown comparison {op!r}")


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "n/a"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}"


def table(rows: list[Row], infos: list[Info]) -> list[str]:
    """The human table: one line per row (MET / NOT MET), then the context figures."""
    head = f"{'part':<6} {'figure':<44} {'value':>10} {'unit':<6} {'target':<10} verdict"
    out = [head, "-" * len(head)]
    for r in rows:
        verdict = "MET" if r.met else "NOT MET"
        out.append(f"{r.part:<6} {r.name:<44} {_fmt(r.value):>10} {r.unit:<6} {r.op + ' ' + _fmt(r.target):<10} "
                   f"{verdict}" + (f"  ({r.note})" if r.note else ""))
    if infos:
        out.append("")
        out.append("context (no target):")
        for i in infos:
            note = f"  ({i.note})" if i.note else ""
            out.append(f"{i.part:<6} {i.name:<44} {_fmt(i.value):>10} {i.unit:<6}{note}")
    return out


_CMP = {"<=": "le", ">=": "ge", "==": "eq"}


def result_lines(rows: list[Row], infos: list[Info]) -> list[str]:
    """`RESULT <id> value=<number> unit=<unit>` (benchmarks/README.md), rows with their target and
    verdict (`target=N cmp=le|ge|eq met=0|1`), then `faults_targets_not_met`."""
    out = [f"RESULT faults_{r.name} value={_fmt(r.value)} unit={r.unit} target={_fmt(r.target)} "
           f"cmp={_CMP[r.op]} met={int(r.met)}" for r in rows]
    out += [f"RESULT faults_{i.name} value={_fmt(i.value)} unit={i.unit}" for i in infos]
    out.append(f"RESULT faults_targets_not_met value={sum(not r.met for r in rows)} unit=count")
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


# ---------------------------------------------------------------------------- clusters


def endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class Console:
    """Typed calls into a cluster as the operator's console (node 0), each caller with a client
    (and UDP port) of its own; the cluster's lidl sources give the interfaces."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        c = cluster.state["console"]
        self.label = c["deployment_label"]
        self.master = keys.load_master(keys.default_store(), self.label)
        self.nodes: dict[str, Any] = c["nodes"]
        names = {int(n["number"]): name for name, n in self.nodes.items()}
        self.keys = console_keys(self.master, self.label, names)
        self.clients = load_clients(os.path.join(cluster.cdir, "lidl"), c["lidl"])

    def client(self, console_port: bool = False) -> RpcClient:
        """A client on a port of its own, or on the console's planned endpoint: a forwarder (the
        entry of an MCU node) sends answers for node 0 there, a hosted node to the sender."""
        bind = endpoint(self.cluster.state["console"]["bind"]) if console_port else ("127.0.0.1", 0)
        return RpcClient(bind, self.keys)

    def route(self, node: str, instance: str, timeout_s: float | None = None) -> Route:
        n = self.nodes[node]
        kind = "serial" if n["entry"] != node and "serial" in n["networks"] else "udp"
        p = net.default_policy(kind)
        if timeout_s is not None:
            t = int(timeout_s * 1e6)
            p = net.CallPolicy(t, min(p.first_retry_us, t), min(p.max_retry_us, t), p.max_attempts)
        return Route(int(n["number"]), int(n["instances"][instance]["object_id"]), endpoint(n["entry_endpoint"]), p)

    def interface(self, node: str, instance: str) -> type[codec.Client]:
        return self.clients[self.nodes[node]["instances"][instance]["interface"]]


@dataclass(frozen=True)
class Outcome:
    """One call as its caller saw it: when it started (monotonic s), how long it took, how it
    ended (`ok`, a wire status name, or `error:<text>`), and its result."""

    start: float
    took: float
    status: str
    result: Any = None


def timed_call(rpc: RpcClient, route: Route, cls: type[codec.Client], procedure: str, args: dict[str, Any]) -> Outcome:
    t0 = time.monotonic()
    try:
        r = call_json(rpc, route, cls, procedure, args)
        return Outcome(t0, time.monotonic() - t0, "ok", r)
    except CallError as e:
        return Outcome(t0, time.monotonic() - t0, e.status.name.lower())
    except codec.RemoteError as e:
        return Outcome(t0, time.monotonic() - t0, f"remote:{e}")
    except Exception as e:  # noqa: BLE001 - whatever a caller sees is recorded, never raised
        return Outcome(t0, time.monotonic() - t0, f"error:{type(e).__name__}: {e}")


def children(pid: int) -> dict[int, str]:
    """pid -> command line of the direct children of `pid`."""
    out: dict[int, str] = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(") ", 1)[1].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            with open(f"/proc/{p}/cmdline", "rb") as f:
                out[int(p)] = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, IndexError, ValueError):
            continue
    return out


def group_pid(node_pid: int, group: str) -> int | None:
    for pid, cmd in children(node_pid).items():
        parts = cmd.split()
        if "--ambience-group" in parts and parts[parts.index("--ambience-group") + 1] == group:
            return pid
    return None


def kill_tree(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
