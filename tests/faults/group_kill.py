"""Part 1: kill -9 of a group process of a hosted node at random moments, under a steady load of
real calls (deployments/hello: the console and the greeter each in a sandboxed group process of
the node `host`, the greeter calling the console group through the supervisor's relay).

Load: `callers` threads, each an RpcClient of its own calling back to back (alternately
greeter.greet, which crosses both groups, and console.print). A killer waits a random time,
SIGKILLs one of the two group processes (seeded choice), and measures how long until the
supervisor has a new process for it and until a call to that group's instance succeeds again.
Every call's outcome is recorded; a call counts as hung if it took longer than its deadline
plus a margin (or its thread never came back).
"""
from __future__ import annotations

import math
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.faults.common import Cluster, Console, Info, Outcome, Row, group_pid, percentile, timed_call

SCRIPT = "deployments/hello/cluster.sh"
GROUPS = {"console": ("console", "print"), "greeter": ("greeter", "greet")}
HUNG_MARGIN_S = 0.5
RESTART_TARGET_MS = 1000.0  # the supervisor's longest back-off (kernel/arch/hosted_linux/README.md)


@dataclass
class Kill:
    group: str
    at: float  # monotonic time of the SIGKILL
    new_pid_s: float = float("nan")  # until the supervisor ran a new process
    restored_s: float = float("nan")  # until a call to the group's instance succeeded


@dataclass
class Run:
    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    stuck_threads: int = 0
    deadline_s: float = 0.0
    supervisor_restarts: int = -1
    fds_before: int = 0
    fds_after: int = 0
    rss_before_kib: int = 0
    rss_after_kib: int = 0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(kills: int, seed: int, callers: int = 2, gap: tuple[float, float] = (0.2, 1.0)) -> Run:
    rng = random.Random(seed)
    run = Run()
    with Cluster(SCRIPT, "hello") as cluster:
        console = Console(cluster)
        node_pid = int(cluster.state["nodes"]["host"]["pid"])
        routes = {g: (console.route("host", inst), console.interface("host", inst), proc)
                  for g, (inst, proc) in GROUPS.items()}
        run.deadline_s = max(r.policy.timeout_us for r, _, _ in routes.values()) / 1e6
        stop = threading.Event()
        lock = threading.Lock()

        def args(proc: str, i: int) -> dict[str, str]:
            return {"name": f"c{i}"} if proc == "greet" else {"line": f"p{i}"}

        def load(k: int) -> None:
            order = ["greeter", "console"] if k % 2 == 0 else ["console", "greeter"]
            with console.client() as rpc:
                i = 0
                while not stop.is_set():
                    g = order[i % 2]
                    route, cls, proc = routes[g]
                    o = timed_call(rpc, route, cls, proc, args(proc, i))
                    with lock:
                        run.outcomes.append((g, o))
                    i += 1

        threads = [threading.Thread(target=load, args=(k,), daemon=True) for k in range(callers)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        run.fds_before, run.rss_before_kib = _fds(node_pid), _rss_kib(node_pid)
        with console.client() as probe:
            for _ in range(kills):
                time.sleep(rng.uniform(*gap))
                g = rng.choice(sorted(GROUPS))
                pid = group_pid(node_pid, g)
                if pid is None:  # still being restarted from an earlier kill: wait for it
                    time.sleep(0.05)
                    pid = group_pid(node_pid, g)
                    if pid is None:
                        continue
                kill = Kill(g, time.monotonic())
                os.kill(pid, signal.SIGKILL)
                run.kills.append(kill)
                route, cls, proc = routes[g]
                limit = kill.at + 10.0
                while time.monotonic() < limit:
                    new = group_pid(node_pid, g)
                    if math.isnan(kill.new_pid_s) and new is not None and new != pid:
                        kill.new_pid_s = time.monotonic() - kill.at
                    o = timed_call(probe, route, cls, proc, args(proc, -1))
                    with lock:
                        run.outcomes.append((g, o))
                    if o.status == "ok" and o.start > kill.at:
                        kill.restored_s = time.monotonic() - kill.at
                        if math.isnan(kill.new_pid_s):
                            new = group_pid(node_pid, g)
                            kill.new_pid_s = kill.restored_s if new is not None and new != pid else float("nan")
                        break
                    time.sleep(0.002)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=run.deadline_s + 5)
        run.stuck_threads = sum(t.is_alive() for t in threads)
        time.sleep(0.3)
        run.fds_after, run.rss_after_kib = _fds(node_pid), _rss_kib(node_pid)
        run.supervisor_restarts = cluster.log("host").count("; restarting")
    return run


def in_flight(run: Run) -> list[tuple[str, Outcome, Kill]]:
    """Calls to a killed group that were in flight at its kill (started before, ended after)."""
    out = []
    for g, o in run.outcomes:
        for k in run.kills:
            if o.start <= k.at <= o.start + o.took and _touches(g, k.group):
                out.append((g, o, k))
                break
    return out


def _touches(called: str, killed: str) -> bool:
    """greeter.greet runs in the greeter group and calls the console group: both kills hit it."""
    return called == killed or (called == "greeter" and killed == "console")


def rows(run: Run) -> tuple[list[Row], list[Info]]:
    part = "1"
    hung = sum(o.took > run.deadline_s + HUNG_MARGIN_S for _, o in run.outcomes) + run.stuck_threads
    flight = in_flight(run)
    statuses = Counter(o.status for _, o, _ in flight)
    answered_other = sum(n for s, n in statuses.items() if s not in ("ok", "peer_restarted"))
    restored = [k.restored_s * 1000 for k in run.kills]
    new_pid = [k.new_pid_s * 1000 for k in run.kills if not math.isnan(k.new_pid_s)]
    not_restored = sum(math.isnan(x) for x in restored)
    all_status = Counter(o.status for _, o in run.outcomes)
    r = [
        Row(part, "group_kills", len(run.kills), "count", ">=", 1, "SIGKILL of a group process"),
        Row(part, "group_hung_calls", hung, "count", "==", 0,
            f"calls without an answer within deadline {run.deadline_s:g} s + {HUNG_MARGIN_S} s"),
        Row(part, "group_in_flight_wrong_status", answered_other, "count", "==", 0,
            "calls in flight at a kill answered other than ok / peer_restarted: "
            + (", ".join(f"{s} {n}" for s, n in sorted(statuses.items())) or "none in flight")),
        Row(part, "group_not_restored", not_restored, "count", "==", 0, "kills after which no call succeeded in 10 s"),
        Row(part, "group_restore_max_ms", max((x for x in restored if not math.isnan(x)), default=float("nan")),
            "ms", "<=", RESTART_TARGET_MS, "kill -> first ok call to the group's instance"),
        Row(part, "group_supervisor_restarts_missing", len(run.kills) - run.supervisor_restarts, "count", "<=", 0,
            f"kills {len(run.kills)}, restarts logged by the supervisor {run.supervisor_restarts}"),
        Row(part, "group_supervisor_fd_growth", run.fds_after - run.fds_before, "fds", "<=", 0,
            f"{run.fds_before} -> {run.fds_after} after the kills"),
    ]
    i = [
        Info(part, "group_restore_p50_ms", percentile([x for x in restored if not math.isnan(x)], 50), "ms"),
        Info(part, "group_new_process_p50_ms", percentile(new_pid, 50), "ms", "kill -> new pid seen in /proc"),
        Info(part, "group_in_flight_calls", len(flight), "count", "calls in flight to a killed group"),
        Info(part, "group_in_flight_peer_restarted", statuses.get("peer_restarted", 0), "count"),
        Info(part, "group_calls", len(run.outcomes), "count",
             ", ".join(f"{s} {n}" for s, n in sorted(all_status.items()))),
        Info(part, "group_call_p99_ms", percentile([o.took * 1000 for _, o in run.outcomes], 99), "ms"),
        Info(part, "group_supervisor_rss_growth_kib", run.rss_after_kib - run.rss_before_kib, "KiB",
             f"{run.rss_before_kib} -> {run.rss_after_kib} KiB"),
    ]
    return r, i
