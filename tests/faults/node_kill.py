"""Part 2: kill -9 of the camera trap's cloud node (the supervisor and its database group, the
whole process group) in the middle of a stream of appends, then the node started again on the
same storage directory, as the runner had started it.

"Acknowledged" is what services/database promises: `append` answers the id only after the
commit's WAL was synced (`synchronous=FULL`), and `event_id` is UNIQUE so an @idempotent retry
stores an event once. The writers append events 1, 2, ... back to back (the console re-sends
an unanswered append with the same call id; after a restart the same event again); every
`{"id": N}` answer is an acknowledgement. After the last kill the log is read back whole
(`range`): an acknowledged event missing or under another id is lost, an event stored twice is
a duplicate. Recovery: from the restart to the first acknowledged append.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.faults.common import Cluster, Console, Info, Outcome, Row, kill_tree, percentile, timed_call
from tests.faults.soak import OUTCOME_TIMEOUT_S, MotionEvents

SCRIPT = "deployments/camera_trap/cluster.sh"
BUSY_WAIT_S = 600.0  # the camera trap binds fixed ports: another run on this machine holds them
START_TIMEOUT_S = 30.0
RECOVER_TARGET_S = 5.0


@dataclass
class Restart:
    killed_at: float
    started_at: float = float("nan")  # the new node process launched
    healthy_at: float = float("nan")  # it printed its start line
    first_ack_at: float = float("nan")  # an append started after the restart was acknowledged


@dataclass
class Run:
    acked: dict[int, int] = field(default_factory=dict)  # event id -> id answered
    refused: Counter[str] = field(default_factory=Counter)  # append outcomes other than an id
    outcomes: list[Outcome] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    stored: list[tuple[int, int]] = field(default_factory=list)  # (id, event id) read back
    count: int = -1
    problems: list[str] = field(default_factory=list)


def _sighting(event: int) -> dict[str, Any]:
    return {"event_id": event, "species": "cat", "confidence": 0.75, "taken_at_ms": event * 10}


def _start_node(cluster: Cluster, n: int, extra: list[str], node: str = "cloud") -> subprocess.Popen[bytes]:
    """The node's process again, as the runner started it (its argv), logging to
    <node>.restart<n>.log."""
    argv = cluster.state["nodes"][node]["argv"] + extra
    log = open(os.path.join(cluster.cdir, "logs", f"{node}.restart{n}.log"), "wb")  # noqa: SIM115 - the child owns it
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()


def _wait_started(cluster: Cluster, n: int, timeout_s: float, node: str = "cloud") -> bool:
    path = os.path.join(cluster.cdir, "logs", f"{node}.restart{n}.log")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(path, encoding="utf-8", errors="replace") as f:
            if "started" in f.read():
                return True
        time.sleep(0.005)
    return False


def _read_back(console: Console, problems: list[str]) -> tuple[list[tuple[int, int]], int]:
    """The whole sighting log, (id, event id) in order, and count() (-1 if it failed)."""
    route, cls = console.route("cloud", "database"), console.interface("cloud", "database")
    stored: list[tuple[int, int]] = []
    with console.client() as rpc:
        first = 1
        while True:
            o = timed_call(rpc, route, cls, "range", {"first": first, "count": 1000})
            if o.status != "ok":
                problems.append(f"reading the log back: {o.status}")
                break
            page = o.result or []
            stored += [(int(s["id"]), int(s["sighting"]["event_id"])) for s in page]
            if not page:
                break
            first = stored[-1][0] + 1
        c = timed_call(rpc, route, cls, "count", {})
    return stored, int(c.result) if c.status == "ok" else -1


def measure(kills: int, seed: int, writers: int = 2, stream_s: tuple[float, float] = (0.5, 1.5),
            down_s: tuple[float, float] = (0.0, 0.3), extra: list[list[str]] | None = None,
            while_down: Callable[[int, str], None] | None = None) -> Run:
    """`extra[n]`: more arguments for the n-th restart (a `--storage-fault`, part 4);
    `while_down(n, storage_dir)`: run while the cloud is down, before its n-th restart."""
    rng = random.Random(seed)
    run = Run()
    procs: list[subprocess.Popen[bytes]] = []
    with Cluster(SCRIPT, "camera_trap", busy_wait_s=BUSY_WAIT_S) as cluster:
        console = Console(cluster)
        route = console.route("cloud", "database")
        cls = console.interface("cloud", "database")
        stop = threading.Event()
        lock = threading.Lock()
        next_event = iter(range(1, 1 << 40))

        def write() -> None:
            with console.client() as rpc:
                while not stop.is_set():
                    with lock:
                        event = next(next_event)
                    while not stop.is_set():  # the same event until it is answered (as a recogniser would)
                        o = timed_call(rpc, route, cls, "append", {"sighting": _sighting(event)})
                        with lock:
                            run.outcomes.append(o)
                            if o.status == "ok" and isinstance(o.result, dict) and "id" in o.result:
                                run.acked[event] = int(o.result["id"])
                                for r in run.restarts:
                                    if o.start > r.started_at and r.first_ack_at != r.first_ack_at:
                                        r.first_ack_at = o.start + o.took
                                break
                            run.refused[o.status if o.status != "ok" else f"error {o.result}"] += 1
                        if o.status == "ok" or o.status.startswith(("error:", "remote:")):
                            break  # a StoreError, or a call that cannot succeed: not acknowledged, next event

        threads = [threading.Thread(target=write, daemon=True) for _ in range(writers)]
        for t in threads:
            t.start()
        try:
            for n in range(kills):
                time.sleep(rng.uniform(*stream_s))
                pid = int(cluster.state["nodes"]["cloud"]["pid"]) if n == 0 else procs[-1].pid
                r = Restart(time.monotonic())
                kill_tree(pid)
                with lock:
                    run.restarts.append(r)
                if procs:
                    procs[-1].wait()
                time.sleep(rng.uniform(*down_s))
                if while_down is not None:
                    argv = cluster.state["nodes"]["cloud"]["argv"]
                    while_down(n, argv[argv.index("--storage-dir") + 1])
                procs.append(_start_node(cluster, n, (extra or [])[n] if n < len(extra or []) else []))
                r.started_at = time.monotonic()
                if not _wait_started(cluster, n, START_TIMEOUT_S):
                    run.problems.append(f"restart {n}: the cloud did not report started in {START_TIMEOUT_S:g} s")
                    break
                r.healthy_at = time.monotonic()
                limit = time.monotonic() + (0 if n < len(extra or []) and extra and extra[n] else 15)
                while r.first_ack_at != r.first_ack_at and time.monotonic() < limit:
                    time.sleep(0.01)
            time.sleep(rng.uniform(*stream_s))
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
        run.stored, run.count = _read_back(console, run.problems)
        for p in procs:
            kill_tree(p.pid)
            p.wait()
    return run


def rows(run: Run) -> tuple[list[Row], list[Info]]:
    part = "2"
    by_event: dict[int, list[int]] = {}
    for rid, event in run.stored:
        by_event.setdefault(event, []).append(rid)
    lost = sum(by_event.get(e) != [i] for e, i in run.acked.items())
    dups = sum(len(ids) - 1 for ids in by_event.values())
    recover = [r.first_ack_at - r.started_at for r in run.restarts]
    outage = [r.first_ack_at - r.killed_at for r in run.restarts]
    boot = [r.healthy_at - r.started_at for r in run.restarts]
    not_recovered = sum(x != x for x in recover)
    r = [
        Row(part, "node_kills", len(run.restarts), "count", ">=", 1, "SIGKILL of the cloud's process group"),
        Row(part, "node_acked", len(run.acked), "count", ">=", 10, "appends acknowledged (the stream ran)"),
        Row(part, "node_acked_lost", lost, "count", "==", 0,
            f"of {len(run.acked)} acknowledged appends, missing or under another id"),
        Row(part, "node_duplicates", dups, "count", "==", 0, f"events stored more than once ({len(run.stored)} rows)"),
        Row(part, "node_count_mismatch", abs(run.count - len(run.stored)), "count", "==", 0,
            f"count() {run.count} vs rows read back"),
        Row(part, "node_not_recovered", not_recovered + len(run.problems), "count", "==", 0,
            "; ".join(run.problems) or "restarts without an acknowledged append after them"),
        Row(part, "node_recover_max_s", max((x for x in recover if x == x), default=float("nan")), "s", "<=",
            RECOVER_TARGET_S, "restart -> first acknowledged append"),
    ]
    i = [
        Info(part, "node_boot_p50_s", percentile([x for x in boot if x == x], 50), "s", "restart -> start line"),
        Info(part, "node_outage_max_s", max((x for x in outage if x == x), default=float("nan")), "s",
             "kill -> first acknowledged append"),
        Info(part, "node_unacked_stored", len(set(by_event) - set(run.acked)), "count",
             "events stored whose append was never answered (allowed)"),
        Info(part, "node_append_failures", sum(run.refused.values()), "count",
             ", ".join(f"{s} {n}" for s, n in sorted(run.refused.items())) or "none"),
        Info(part, "node_append_p99_ms", percentile([o.took * 1000 for o in run.outcomes if o.status == "ok"], 99),
             "ms", "acknowledged appends"),
    ]
    return r, i


STORAGE_FAULTS = {
    "disk_full": ["--storage-fault", "no-space-after:200000"],
    "fsync_fails": ["--storage-fault", "sync-error-after:40"],
}


def measure_storage(fault: str, seed: int, seconds: float) -> Run:
    """Part 4: the cloud restarted with a storage fault (services/storage: `--storage-fault`), the
    stream kept up for `seconds`, then killed and restarted without it: what was acknowledged
    under the fault must be there, refusals must be StoreErrors, the log must serve again."""
    return measure(2, seed, stream_s=(seconds, seconds), extra=[STORAGE_FAULTS[fault], []])


TMPFS_HEADROOM = 48 * 1024  # bytes of a real file system left to the restarted cloud beyond its files
# The stream before and on the tmpfs, in every run: a longer stream before grows the WAL file
# (copied along at that size), and SQLite writes into its old frames again after a checkpoint,
# so an 8 s stream (the full run's storage_seconds) then never needs a new byte of the tmpfs.
TMPFS_STREAM_S = 3.0


def _tmpfs_over(path: str) -> str | None:
    """Puts `path` (the cloud's storage directory, its files kept) on a tmpfs with little room
    left: a real ENOSPC. None, or why it cannot be done here (mounting needs root)."""
    keep = path + ".before-tmpfs"
    shutil.copytree(path, keep)
    used = sum(os.path.getsize(os.path.join(keep, f)) for f in os.listdir(keep))
    size = (used + TMPFS_HEADROOM + 4095) // 4096 * 4096
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        shutil.rmtree(keep)
        return mounted.stderr.strip() or f"mount exited {mounted.returncode}"
    for f in os.listdir(keep):
        shutil.copy2(os.path.join(keep, f), os.path.join(path, f))
    shutil.rmtree(keep)
    return None


def _tmpfs_off(path: str) -> None:
    """The files back on the disk underneath, the tmpfs gone."""
    keep = path + ".on-tmpfs"
    shutil.copytree(path, keep)
    subprocess.run(["umount", path], check=True)
    for f in os.listdir(keep):
        shutil.copy2(os.path.join(keep, f), os.path.join(path, f))
    shutil.rmtree(keep)


def measure_tmpfs_full(seed: int, seconds: float) -> tuple[Run | None, str]:
    """Part 4 on a real file system: the cloud restarted on a tmpfs with 48 KiB free (ENOSPC
    from the kernel, no fault injection), the stream kept up until it is full, then killed,
    moved back to the disk and restarted. (None, why) where tmpfs cannot be mounted."""
    why = ""
    mounted: list[str] = []

    def while_down(n: int, storage: str) -> None:
        nonlocal why
        if n == 0:
            why = _tmpfs_over(storage) or ""
            if not why:
                mounted.append(storage)
        elif mounted:
            _tmpfs_off(mounted.pop())

    try:
        run = measure(2, seed, stream_s=(seconds, seconds), while_down=while_down)
    finally:
        for m in mounted:
            subprocess.run(["umount", m], capture_output=True)
    return (None, why) if why else (run, "")


def storage_rows(fault: str, run: Run) -> tuple[list[Row], list[Info]]:
    part = "4"
    base, infos = rows(run)
    keep = {"node_acked_lost", "node_duplicates", "node_count_mismatch", "node_not_recovered"}
    out = [Row(part, f"storage_{fault}_{r.name[len('node_'):]}", r.value, r.unit, r.op, r.target, r.note)
           for r in base if r.name in keep]
    errors = sum(n for s, n in run.refused.items() if s.startswith("error {"))
    others = sum(n for s, n in run.refused.items() if not s.startswith("error {"))
    expect = "storage_full" if fault in ("disk_full", "tmpfs_full") else "storage_failed"
    out.append(Row(part, f"storage_{fault}_refusals", errors, "count", ">=", 1,
                   f"appends answered with a StoreError ({expect} expected): "
                   + (", ".join(f"{s} {n}" for s, n in sorted(run.refused.items())) or "none")))
    out.append(Row(part, f"storage_{fault}_recovered", 0 if run.restarts and run.restarts[-1].first_ack_at
                   == run.restarts[-1].first_ack_at else 1, "count", "==", 0,
                   "an append acknowledged after the restart without the fault (0 = yes)"))
    unacked = next(i.value for i in infos if i.name == "node_unacked_stored")
    infos = [Info(part, f"storage_{fault}_acked", len(run.acked), "count"),
             Info(part, f"storage_{fault}_unacked_stored", unacked, "count",
                  "refused appends found stored after the restart (allowed: never acknowledged)"),
             Info(part, f"storage_{fault}_call_failures", others, "count", "transport failures (the kills)")]
    return out, infos


@dataclass
class EdgeRun:
    """Part 2, the edge: motion events through the whole trap while the edge node (detection and
    recognition, between the boards and the cloud) is killed and restarted."""

    kills: list[Restart] = field(default_factory=list)  # first_ack_at: the first ok event after
    events: Counter[str] = field(default_factory=Counter)  # ok / failed / lost
    hung: int = 0  # events without an outcome line (the camera's calls must all end)
    stored: list[tuple[int, int]] = field(default_factory=list)
    count: int = -1
    problems: list[str] = field(default_factory=list)


EDGE_RECOVER_LIMIT_S = 30.0


def measure_edge(kills: int, seed: int, stream_s: tuple[float, float] = (1.0, 2.5),
                 down_s: tuple[float, float] = (0.0, 0.5), node: str = "edge") -> EdgeRun:
    rng = random.Random(seed)
    run = EdgeRun()
    procs: list[subprocess.Popen[bytes]] = []
    with Cluster(SCRIPT, "camera_trap", busy_wait_s=BUSY_WAIT_S) as cluster:
        events = MotionEvents(cluster, rng)

        def event() -> str:
            how, _ = events.event()
            run.events[how] += 1
            run.hung += how == "lost"
            return how

        try:
            for n in range(kills):
                until = time.monotonic() + rng.uniform(*stream_s)
                while time.monotonic() < until:
                    event()
                pid = int(cluster.state["nodes"][node]["pid"]) if n == 0 else procs[-1].pid
                r = Restart(time.monotonic())
                kill_tree(pid)
                run.kills.append(r)
                if procs:
                    procs[-1].wait()
                event()  # one event while the edge is down: it must end (failed), not hang
                time.sleep(rng.uniform(*down_s))
                procs.append(_start_node(cluster, n, [], node))
                r.started_at = time.monotonic()
                if not _wait_started(cluster, n, START_TIMEOUT_S, node):
                    run.problems.append(f"restart {n}: {node} did not report started in {START_TIMEOUT_S:g} s")
                    break
                r.healthy_at = time.monotonic()
                while time.monotonic() < r.killed_at + EDGE_RECOVER_LIMIT_S:
                    if event() == "ok":
                        r.first_ack_at = time.monotonic()
                        break
            for _ in range(5):
                event()
        finally:
            events.close()
        run.stored, run.count = _read_back(Console(cluster), run.problems)
        for p in procs:
            kill_tree(p.pid)
            p.wait()
    return run


def edge_rows(run: EdgeRun, node: str = "edge") -> tuple[list[Row], list[Info]]:
    """`node`: the edge (a hosted process) or the camera (its QEMU board: a whole MCU killed)."""
    part = "2"
    events: Counter[int] = Counter(e for _, e in run.stored)
    dups = sum(n - 1 for n in events.values())
    recover = [r.first_ack_at - r.killed_at for r in run.kills]
    after_boot = [r.first_ack_at - r.healthy_at for r in run.kills]
    not_recovered = sum(x != x for x in recover)
    what = "SIGKILL of the edge's process group" if node == "edge" else f"SIGKILL of {node}'s QEMU (the whole board)"
    r = [
        Row(part, f"{node}_kills", len(run.kills), "count", ">=", 1, what),
        Row(part, f"{node}_hung_events", run.hung, "count", "==", 0,
            f"motion events without an outcome within {OUTCOME_TIMEOUT_S:g} s (every call on the way must end)"),
        Row(part, f"{node}_not_recovered", not_recovered + len(run.problems), "count", "==", 0,
            "; ".join(run.problems) or f"kills after which no event succeeded in {EDGE_RECOVER_LIMIT_S:g} s"),
        Row(part, f"{node}_duplicates", dups, "count", "==", 0,
            f"events stored more than once ({len(run.stored)} rows)"),
        Row(part, f"{node}_count_mismatch", abs(run.count - len(run.stored)), "count", "==", 0,
            f"count() {run.count} vs rows read back"),
    ]
    i = [
        Info(part, f"{node}_events", sum(run.events.values()), "count",
             ", ".join(f"{s} {n}" for s, n in sorted(run.events.items()))),
        Info(part, f"{node}_boot_p50_s", percentile([k.healthy_at - k.started_at for k in run.kills
                                                     if k.healthy_at == k.healthy_at], 50), "s",
             "restart -> start line"),
    ]
    recovered = (f"{node}_recover_max_s", max((x for x in recover if x == x), default=float("nan")), "s",
                 "kill -> first event that went through (the restart included)")
    booted = (f"{node}_recover_after_boot_max_s", max((x for x in after_boot if x == x), default=float("nan")), "s",
              "the restarted node's start line -> first event that went through")
    if node == "edge":
        r.insert(3, Row(part, *recovered[:3], "<=", RECOVER_TARGET_S, recovered[3]))
        i.append(Info(part, *booted))
    else:
        # The event in flight at the kill waits out the motion board's deadline for its serial call
        # to the camera (5 s): the target is on what follows the restart.
        r.insert(3, Row(part, *booted[:3], "<=", RECOVER_TARGET_S, booted[3]))
        i.append(Info(part, *recovered))
    return r, i
