"""Part 1, its MCU half: an MPU-isolated group of a Cortex-M board made to fault at random
moments under a steady load of calls (deployments/hello/tests/group_fault: `faulty` on the
board, reached by the operator's console through the host over the serial network).

The console's endpoint of an MCU node takes one client, so the load is one caller calling
`read()` back to back; at a random moment it calls `fault()` instead, which touches the System
Control Space from unprivileged code: a BusFault, which the board's supervisor answers by
restarting the group and failing the calls it was serving with `peer_restarted`. Measured: how
that call was answered, how long until a `read()` succeeds again, whether the group really
started afresh (its count of reads begins at 1 again), and whether the supervisor logged each
fault and restart. A call counts as hung if it took longer than its deadline plus a margin.
"""
from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from kernel.net import net
from tests.faults.common import Cluster, Console, Info, Outcome, Row, percentile, timed_call

SCRIPT = "deployments/hello/tests/group_fault/cluster.sh"
CALL_TIMEOUT_S = net.default_policy("serial").timeout_us / 1e6  # the board answers a faulted call at once
HUNG_MARGIN_S = 0.5
RESTORE_TARGET_MS = 1000.0
RESTORE_LIMIT_S = 10.0


@dataclass
class Fault:
    at: float  # monotonic time the fault() call started
    answer: str = ""  # how the fault() call ended
    count_before: int = 0  # the last read's count before the fault
    restored_s: float = float("nan")  # until a read succeeded again
    count_after: int = 0  # that read's count (1 or 2: a fresh group)


@dataclass
class Run:
    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    faulted_logged: int = 0
    restarts_logged: int = 0
    deadline_s: float = CALL_TIMEOUT_S


def measure(faults: int, seed: int, gap: tuple[float, float] = (0.5, 1.5)) -> Run:
    rng = random.Random(seed)
    run = Run()
    with Cluster(SCRIPT, "group_fault") as cluster:
        console = Console(cluster)
        route, cls = console.route("board", "faulty", CALL_TIMEOUT_S), console.interface("board", "faulty")
        with console.client(console_port=True) as rpc:
            last = 0

            def read() -> Outcome:
                nonlocal last
                o = timed_call(rpc, route, cls, "read", {})
                run.outcomes.append(("read", o))
                if o.status == "ok":
                    last = int(o.result)
                return o

            for _ in range(faults):
                until = time.monotonic() + rng.uniform(*gap)
                while time.monotonic() < until:
                    read()
                f = Fault(time.monotonic(), count_before=last)
                o = timed_call(rpc, route, cls, "fault", {})
                run.outcomes.append(("fault", o))
                f.answer = o.status
                run.faults.append(f)
                while time.monotonic() < f.at + RESTORE_LIMIT_S:
                    if read().status == "ok":
                        f.restored_s, f.count_after = time.monotonic() - f.at, last
                        break
                    time.sleep(0.005)
            for _ in range(5):  # the group serves on after the last restart
                read()
        time.sleep(0.3)
        log = cluster.log("board")
        run.faulted_logged = log.count("*** group 'faulty' faulted")
        run.restarts_logged = log.count("*** group 'faulty' restarting")
    return run


def rows(run: Run) -> tuple[list[Row], list[Info]]:
    part = "1"
    hung = sum(o.took > run.deadline_s + HUNG_MARGIN_S for _, o in run.outcomes)
    answers = Counter(f.answer for f in run.faults)
    restored = [f.restored_s * 1000 for f in run.faults if not math.isnan(f.restored_s)]
    not_restored = sum(math.isnan(f.restored_s) for f in run.faults)
    # A fresh group counts from 1 (2 if a re-sent read ran twice); the old one would go on.
    not_fresh = sum(not math.isnan(f.restored_s) and f.count_after > 2 for f in run.faults)
    reads = Counter(o.status for name, o in run.outcomes if name == "read")
    r = [
        Row(part, "mcu_group_faults", len(run.faults), "count", ">=", 1, "BusFaults of an MPU-isolated board group"),
        Row(part, "mcu_group_hung_calls", hung, "count", "==", 0,
            f"calls without an answer within deadline {run.deadline_s:g} s + {HUNG_MARGIN_S} s"),
        Row(part, "mcu_group_fault_call_wrong_status", len(run.faults) - answers.get("peer_restarted", 0), "count",
            "==", 0, "the faulting call answered other than peer_restarted: "
            + ", ".join(f"{s} {n}" for s, n in sorted(answers.items()))),
        Row(part, "mcu_group_not_restored", not_restored, "count", "==", 0,
            f"faults after which no read succeeded in {RESTORE_LIMIT_S:g} s"),
        Row(part, "mcu_group_not_fresh", not_fresh, "count", "==", 0,
            "restores whose group did not start afresh (its read count went on): counts before -> after "
            + ", ".join(f"{f.count_before}->{f.count_after}" for f in run.faults)),
        Row(part, "mcu_group_restore_max_ms", max(restored, default=float("nan")), "ms", "<=", RESTORE_TARGET_MS,
            "fault() call -> first ok read"),
        Row(part, "mcu_group_restarts_missing", 2 * len(run.faults) - run.faulted_logged - run.restarts_logged,
            "count", "<=", 0, f"faults {len(run.faults)}; logged by the board's supervisor: faulted "
            f"{run.faulted_logged}, restarting {run.restarts_logged}"),
    ]
    i = [
        Info(part, "mcu_group_restore_p50_ms", percentile(restored, 50), "ms"),
        Info(part, "mcu_group_reads", sum(reads.values()), "count",
             ", ".join(f"{s} {n}" for s, n in sorted(reads.items()))),
    ]
    return r, i
