"""Part 5: a soak of the camera trap. Its local cluster (both boards in QEMU, the edge and the cloud
as processes) takes motion events back to back through the motion board's PIR input for a
bounded time, each event waited for (the motion sensor's outcome line) before the next.

Sampled after a warm-up, at half time and at the end: the resident set (VmRSS) and open fds of
every process of the cluster (the runner, each node's process and its group processes) and,
for each board, the high-water mark of its coroutine frames and their allocation failures (the
line its RPC layer logs when they move, runtime/rpc/rpc_node.hpp). "Flat" is measured from half
time to the end: by then the caches that fill with use (the database's page cache, the
allocators' arenas) have had half the run to fill, and a leak of any size per event keeps
growing. QEMU's own resident set (its translation cache) is context, not a target.
"""
from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from deployments.camera_trap.demo.demo import connect, parse_outcome
from tests.faults.common import Cluster, Info, Row, children, percentile

SCRIPT = "deployments/camera_trap/cluster.sh"
SCENES = "services/camera_trap/scenes/scenes.json"
BUSY_WAIT_S = 600.0  # the camera trap binds fixed ports: another run on this machine holds them
WARMUP_EVENTS = 6
OUTCOME_TIMEOUT_S = 30.0
RSS_GROWTH_TARGET_KIB = 512  # per process, half time -> end
MEMORY_LINE = re.compile(r"ambience: memory ((?:\w+=\d+ ?)+)")


@dataclass
class Sample:
    at_s: float  # since the soak began
    events: int  # events injected so far
    rss_kib: dict[str, int] = field(default_factory=dict)  # process label -> VmRSS
    fds: dict[str, int] = field(default_factory=dict)
    frames: dict[str, dict[str, int]] = field(default_factory=dict)  # board -> its last memory line


@dataclass
class Run:
    seconds: float
    events: int = 0
    ok: int = 0
    failed: int = 0  # an outcome with ok=0
    lost: int = 0  # no outcome line within OUTCOME_TIMEOUT_S
    latencies_ms: list[float] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    hosted: set[str] = field(default_factory=set)  # labels of processes that are ours (not QEMU)
    boards: list[str] = field(default_factory=list)


def _status_field(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def _descendants(pid: int, label: str) -> Iterator[tuple[str, int]]:
    yield label, pid
    for child, cmd in sorted(children(pid).items()):
        parts = cmd.split()
        name = parts[parts.index("--ambience-group") + 1] if "--ambience-group" in parts else os.path.basename(parts[0])
        yield from _descendants(child, f"{label}/{name}")


def _processes(cluster: Cluster) -> dict[str, tuple[int, bool]]:
    """label -> (pid, ours): the runner, every node and its descendants (QEMU is not ours)."""
    out: dict[str, tuple[int, bool]] = {"runner": (int(cluster.state["runner_pid"]), True)}
    for node, n in sorted(cluster.state["nodes"].items()):
        if not n.get("pid"):
            continue
        ours = n.get("kind") == "hosted"
        for label, pid in _descendants(int(n["pid"]), node):
            out[label] = (pid, ours and "qemu" not in label)
    return out


def _board_memory(cluster: Cluster, board: str) -> dict[str, int]:
    last: dict[str, int] = {}
    for m in MEMORY_LINE.finditer(cluster.log(board)):
        last = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    return last


def _sample(cluster: Cluster, run: Run, t0: float) -> Sample:
    s = Sample(time.monotonic() - t0, run.events)
    for label, (pid, ours) in _processes(cluster).items():
        try:
            s.rss_kib[label] = _status_field(pid, "VmRSS")
            s.fds[label] = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue  # gone between the listing and the read: a restart shows in the next sample
        if ours:
            run.hosted.add(label)
    for b in run.boards:
        s.frames[b] = _board_memory(cluster, b)
    return s


def _follow(path: str) -> Iterator[str | None]:
    """Lines appended to `path` from its current end; None when there is nothing new yet."""
    with open(path, encoding="utf-8", errors="replace") as f:
        f.seek(0, os.SEEK_END)
        pending = ""
        while True:
            chunk = f.readline()
            if not chunk:
                yield None
                continue
            pending += chunk
            if pending.endswith("\n"):
                yield pending
                pending = ""


class MotionEvents:
    """Motion events through the PIR input of the camera trap's first watching node, one at a
    time: `event()` writes a record (a random scene) and waits for the motion sensor's outcome
    line: "ok", "failed" (an outcome with ok=0) or "lost" (none within OUTCOME_TIMEOUT_S)."""

    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        with open(SCENES, encoding="utf-8") as f:
            self.scenes = sorted(int(k) for k in json.load(f)["scenes"])
        sensors: dict[str, str] = cluster.state.get("sensors", {})
        watching = [n for n in sorted(sensors) if "[motion] watching the PIR input" in cluster.log(n)]
        if not watching:
            raise RuntimeError(f"no node of the camera trap watches a PIR input (sensors: {sorted(sensors)})")
        self.rng, self.node = rng, watching[0]
        self.lines = _follow(os.path.join(cluster.cdir, "logs", f"{self.node}.log"))
        self.pir = connect(sensors[self.node], 10.0)
        self.base = rng.getrandbits(20) << 20
        self.sent = 0

    def event(self) -> tuple[str, float]:
        """How the next event ended, and after how long (s)."""
        self.sent += 1
        sequence = self.base + self.sent
        event_id = (1 << 48) | sequence  # sensor 1: the first PIR of the node
        t = time.monotonic()
        self.pir.sendall(f"1 {sequence} {self.rng.choice(self.scenes)}\n".encode())
        while time.monotonic() < t + OUTCOME_TIMEOUT_S:
            line = next(self.lines)
            if line is None:
                time.sleep(0.01)
                continue
            o = parse_outcome(line)
            if o is not None and o["event"] == event_id:
                return ("ok" if o.get("ok") else "failed"), time.monotonic() - t
        return "lost", time.monotonic() - t

    def close(self) -> None:
        self.pir.close()


def measure(seconds: float, seed: int) -> Run:
    run = Run(seconds)
    with Cluster(SCRIPT, "camera_trap", busy_wait_s=BUSY_WAIT_S) as cluster:
        run.boards = sorted(n for n, s in cluster.state["nodes"].items() if s.get("kind") == "mcu")
        events = MotionEvents(cluster, random.Random(seed))
        try:
            def event() -> None:
                run.events += 1
                how, took = events.event()
                if how == "ok":
                    run.ok += 1
                    run.latencies_ms.append(took * 1000)
                elif how == "failed":
                    run.failed += 1
                else:
                    run.lost += 1

            for _ in range(WARMUP_EVENTS):
                event()
            warm = (run.ok, run.failed, run.lost, run.events)
            run.ok = run.failed = run.lost = run.events = 0
            run.latencies_ms.clear()
            time.sleep(1.5)  # the boards' memory lines are at most a second behind
            t0 = time.monotonic()
            run.samples.append(_sample(cluster, run, t0))
            half = False
            while time.monotonic() - t0 < seconds:
                event()
                if not half and time.monotonic() - t0 >= seconds / 2:
                    half = True
                    run.samples.append(_sample(cluster, run, t0))
            time.sleep(1.5)
            run.samples.append(_sample(cluster, run, t0))
            if warm[1] or warm[2]:
                run.failed += warm[1]
                run.lost += warm[2]
        finally:
            events.close()
    return run


def _growth(a: dict[str, int], b: dict[str, int], labels: set[str]) -> tuple[int, str]:
    """The largest growth from `a` to `b` among `labels`, and whose ("none grew" if none did)."""
    worst, who = 0, "none grew"
    for label in sorted(labels & a.keys() & b.keys()):
        if b[label] - a[label] > worst:
            worst, who = b[label] - a[label], f"{label} {a[label]} -> {b[label]}"
    return worst, who


def rows(run: Run) -> tuple[list[Row], list[Info]]:
    part = "5"
    first, mid, last = run.samples[0], run.samples[min(1, len(run.samples) - 1)], run.samples[-1]
    ours = run.hosted
    rss, rss_who = _growth(mid.rss_kib, last.rss_kib, ours)
    rss_all, rss_all_who = _growth(first.rss_kib, last.rss_kib, ours)
    fds, fds_who = _growth(first.fds, last.fds, ours)
    qemu = set(last.rss_kib) - ours
    qemu_rss, qemu_who = _growth(first.rss_kib, last.rss_kib, qemu)
    peaks = {b: (first.frames.get(b, {}).get("frames_peak", -1), last.frames.get(b, {}).get("frames_peak", -1))
             for b in run.boards}
    peak_growth = max((b - a for a, b in peaks.values() if a >= 0 and b >= 0), default=float("nan"))
    failures = sum(last.frames.get(b, {}).get("frame_failures", 0) for b in run.boards)
    arenas = ", ".join(f"{b} {a} -> {z} B of {last.frames.get(b, {}).get('frames_arena', '?')}"
                       for b, (a, z) in peaks.items())
    sizes = ", ".join(f"{k} {last.rss_kib[k]}" for k in sorted(ours & last.rss_kib.keys()))
    r = [
        Row(part, "soak_events_ok", run.ok, "count", ">=", 1,
            f"of {run.events} motion events in {run.seconds:g} s (after {WARMUP_EVENTS} warm-up events)"),
        Row(part, "soak_events_failed", run.failed + run.lost, "count", "==", 0,
            f"failed outcomes {run.failed}, no outcome within {OUTCOME_TIMEOUT_S:g} s {run.lost}"),
        Row(part, "soak_rss_growth_kib", rss, "KiB", "<=", RSS_GROWTH_TARGET_KIB,
            f"largest VmRSS growth of our processes from half time to the end: {rss_who}"),
        Row(part, "soak_fd_growth", fds, "fds", "<=", 0, f"largest growth in open fds, warm-up to end: {fds_who}"),
        Row(part, "soak_mcu_frames_peak_growth", peak_growth, "bytes", "<=", 0,
            f"coroutine frames' high water, warm-up to end: {arenas}"),
        Row(part, "soak_mcu_frame_failures", failures, "count", "==", 0, "frame allocations the boards refused"),
    ]
    i = [
        Info(part, "soak_event_p50_ms", percentile(run.latencies_ms, 50), "ms", "PIR record -> outcome line"),
        Info(part, "soak_event_p99_ms", percentile(run.latencies_ms, 99), "ms"),
        Info(part, "soak_rss_growth_whole_kib", rss_all, "KiB", f"warm-up to end (caches filling): {rss_all_who}"),
        Info(part, "soak_rss_end_kib", max(last.rss_kib[k] for k in ours & last.rss_kib.keys()), "KiB", sizes),
        Info(part, "soak_qemu_rss_growth_kib", qemu_rss, "KiB", f"QEMU's own (translation cache): {qemu_who}"),
    ]
    return r, i
