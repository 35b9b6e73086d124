"""The paper's Figure 6: overhead ratio of camera -> detection with mock detection.

overhead ratio = (total - work) / work per request, where total is the caller's elapsed time per
request (monotonic clock; `perf stat` cycles are not available on this machine) over a run of R
requests with K in flight, and work is the time the mock detection's work (camera_trap::mock_work)
took where it ran, reported by the worker in every reply. Beside it, a cycles-like figure that
the machine's other processes do not inflate: cpu ratio = (CPU time per request - work) / work,
the CPU time (user + system) of every process of the implementation (node supervisor and group
processes, clients, workers, the broker) for 1.75 R requests (a run of 2R minus one of R/4), the
work being the mock alone in a quiet process. Three regimes (the frame is a span of
bytes; 230,400 B is the trap's 320x240 RGB8 frame):
  compute      increasing work, 16 requests in flight, 230,400 B frames
  io           increasing frame size, 1 request in flight, 0.25 ms of work
  concurrency  increasing requests in flight, 0.25 ms of work, 230,400 B frames
Implementations, all measured in this run, interleaved point by point (medians of the repetitions):
  ambience_same_group   driver and worker in one group of a hosted node: a direct call
  ambience_cross_group  driver and worker in two groups (sandboxed processes): zero-copy IPC,
                        the frame read in place in the driver's arena
  pipes                 the frame written through a pipe to a forked worker, the reply on another
  lidl_uds              the generated FrameHandler client and dispatch over an AF_UNIX socketpair
  mqtt                  QoS 0 publish through a local mosquitto broker (loopback port), reply topic
Writes results.json and overhead.png under $BUILD_WORKSPACE_DIRECTORY/out/benchmarks/overhead
(`--out DIR` to change).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TARGET = 0.3
FRAME = 230400
IMPLS = ["ambience_same_group", "ambience_cross_group", "pipes", "lidl_uds", "mqtt"]
BINARIES = {
    "same_group": "same_group_host",
    "cross_group": "cross_group_host",
    "baselines": "baselines_opt",
    "mqtt": "mqtt_baseline_opt",
}
LINE = re.compile(
    r"\[overhead_\w+\] requests=(\d+) in_flight=(\d+) frame_bytes=(\d+) failed=(\d+) elapsed_us=(\d+) work_us=(\d+)"
)


@dataclass(frozen=True)
class Point:
    regime: str
    x: float  # work ms, frame bytes or requests in flight
    work_ms: float
    frame_bytes: int
    in_flight: int


@dataclass
class Row:
    regime: str
    x: float
    impl: str
    total_us: float  # per request, median over repetitions
    work_us: float
    ratio: float
    work_alone_us: float  # the mock alone in a quiet process
    cpu_us: float  # CPU time of all the implementation's processes per request
    cpu_ratio: float


@dataclass
class Run:
    out: str
    cpu_s: float  # user + system time of the process and every descendant


def become_subreaper() -> None:
    """Orphans of our children (a node's group processes, which die with their supervisor) are
    re-parented to this process, so their CPU time can be collected with wait4."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise RuntimeError(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")


def descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def reap(pid: int) -> tuple[int, float]:
    _, status, ru = os.wait4(pid, 0)
    return status, ru.ru_utime + ru.ru_stime


def thread_cpu_s(pid: int) -> float:
    """CPU time of a running process (all threads), from the scheduler's ns counters."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{t}/schedstat").read_text().split()[0])
        except OSError:
            continue
    return total / 1e9


def sweep(quick: bool) -> list[Point]:
    if quick:
        return [
            Point("compute", 0.1, 0.1, FRAME, 16),
            Point("io", 65536, 0.25, 65536, 1),
            Point("concurrency", 4, 0.25, FRAME, 4),
        ]
    pts = [Point("compute", w, w, FRAME, 16) for w in (0.1, 0.25, 0.5, 1.0, 2.0)]
    pts += [Point("io", b, 0.25, b, 1) for b in (16384, 65536, FRAME, 1 << 20, 4 << 20)]
    pts += [Point("concurrency", k, 0.25, FRAME, k) for k in (1, 2, 4, 16, 64)]
    return pts


def requests_for(p: Point, quick: bool) -> int:
    budget_ms = 15.0 if quick else 40.0  # of work; the long run has twice that
    return max(4 * p.in_flight, 32 if not quick else 8, round(budget_ms / p.work_ms))


def find_binaries() -> dict[str, Path] | None:
    here = Path(os.path.abspath(__file__)).parent  # the runfiles copy, not the source file
    runfiles = Path(os.environ.get("RUNFILES_DIR", os.path.abspath(sys.argv[0]) + ".runfiles"))
    found: dict[str, Path] = {}
    for key, name in BINARIES.items():
        for candidate in (here / name, runfiles / "ambience/benchmarks/overhead" / name):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def parse(out: str, what: str) -> tuple[int, float, float]:
    m = LINE.search(out)
    if m is None:
        raise RuntimeError(f"{what}: no result line in its output:\n{out[-2000:]}")
    requests, _, _, failed, elapsed, work = (int(g) for g in m.groups())
    if failed:
        raise RuntimeError(f"{what}: {failed} of {requests} requests failed")
    if work <= 0:
        raise RuntimeError(f"{what}: the worker reported no work")
    return requests, elapsed / requests, work / requests


def run_node(binary: Path, iterations: int, p: Point, requests: int, timeout_s: float) -> Run:
    env = dict(
        os.environ,
        OVERHEAD_ITERATIONS=str(iterations),
        OVERHEAD_FRAME_BYTES=str(p.frame_bytes),
        OVERHEAD_IN_FLIGHT=str(p.in_flight),
        OVERHEAD_REQUESTS=str(requests),
    )
    # The node runs until told to stop; the driver's line ends the measurement.
    proc = subprocess.Popen(
        [str(binary), "--exit-after-ms", str(int(timeout_s * 1000))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=binary.parent,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    groups: list[int] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[overhead_driver]"):
                break
    finally:
        groups = descendants(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)  # its group processes die with it (and come to us)
        _, cpu = reap(proc.pid)
        proc.returncode = 0
        for g in groups:
            try:
                cpu += reap(g)[1]
            except ChildProcessError:  # not ours: it exited before its supervisor
                pass
    return Run("".join(lines), cpu)


def run_tool(cmd: list[str], timeout_s: float) -> Run:
    with tempfile.TemporaryFile("w+") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout_s
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise RuntimeError(f"{' '.join(cmd)} took longer than {timeout_s:.0f} s")
            time.sleep(0.002)
        proc.returncode = os.waitstatus_to_exitcode(status)
        f.seek(0)
        out = f.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{out[-2000:]}")
    return Run(out, ru.ru_utime + ru.ru_stime)


class Broker:
    """A mosquitto broker of our own on a free loopback port, for the MQTT baseline."""

    def __init__(self, exe: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.TemporaryDirectory(prefix="overhead-mqtt-")
        conf = Path(self.dir.name) / "mosquitto.conf"
        # `user root`: started as root (CI, a build sandbox) mosquitto would switch to its own
        # user, which a sandbox does not permit; as any other user the line has no effect.
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
            "user root\n"
        )
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{self.port} within 5 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.access(p, os.X_OK)), None
    )


def measure(bins: dict[str, Path], quick: bool, reps: int, broker: Broker | None) -> tuple[list[Row], float]:
    cal = run_tool([str(bins["baselines"]), "calibrate", "--target-ns", "1000000", "--frame-bytes", str(FRAME)], 60).out
    m = re.search(r"iterations=(\d+) ns_per_iteration=([0-9.]+)", cal)
    if m is None:
        raise RuntimeError(f"calibration printed no result: {cal}")
    per_ms = int(m.group(1))  # rounds of the mock for 1 ms of work
    impls = [i for i in IMPLS if i != "mqtt" or broker is not None]
    rows: list[Row] = []
    for p in sweep(quick):
        iterations = max(1, round(per_ms * p.work_ms))
        requests = requests_for(p, quick)
        timeout = 60.0 + requests * p.work_ms / 1000 * 20
        flags = ["--iterations", str(iterations), "--frame-bytes", str(p.frame_bytes)]
        alone = run_tool([str(bins["baselines"]), "work", *flags, "--requests", "31"], 60).out
        am = re.search(r"work_ns=([0-9.]+)", alone)
        if am is None:
            raise RuntimeError(f"work measurement printed no result: {alone}")
        work_alone_us = float(am.group(1)) / 1000
        runs: dict[str, list[tuple[float, float]]] = {i: [] for i in impls}
        cpu: dict[str, list[float]] = {i: [] for i in impls}
        short = max(4 * p.in_flight, requests // 4)
        for _ in range(reps):
            for impl in impls:
                # A short run and a long one: the difference of their CPU times is (long - short)
                # requests' worth (start-up and warm-up cancel); the long run gives the wall figure.
                pair = []
                for n_req in (short, 2 * requests):
                    run_flags = [*flags, "--in-flight", str(p.in_flight), "--requests", str(n_req)]
                    broker_before = thread_cpu_s(broker.proc.pid) if impl == "mqtt" and broker else 0.0
                    if impl == "ambience_same_group":
                        run = run_node(bins["same_group"], iterations, p, n_req, timeout)
                    elif impl == "ambience_cross_group":
                        run = run_node(bins["cross_group"], iterations, p, n_req, timeout)
                    elif impl == "mqtt":
                        assert broker is not None
                        run = run_tool([str(bins["mqtt"]), "--port", str(broker.port), *run_flags], timeout)
                        run.cpu_s += thread_cpu_s(broker.proc.pid) - broker_before
                    else:
                        run = run_tool([str(bins["baselines"]), impl, *run_flags], timeout)
                    n, total, work = parse(run.out, f"{impl} at {p.regime} {p.x:g}")
                    if n != n_req:
                        raise RuntimeError(f"{impl}: {n} of {n_req} requests answered")
                    pair.append(run.cpu_s)
                runs[impl].append((total, work))
                cpu[impl].append((pair[1] - pair[0]) * 1e6 / (2 * requests - short))
        for impl in impls:
            total = statistics.median(t for t, _ in runs[impl])
            work = statistics.median(w for _, w in runs[impl])
            ratio = statistics.median(t / w - 1 for t, w in runs[impl])
            cpu_us = statistics.median(cpu[impl])
            rows.append(Row(p.regime, p.x, impl, total, work, ratio, work_alone_us, cpu_us, cpu_us / work_alone_us - 1))
    return rows, per_ms


def fmt_x(regime: str, x: float) -> str:
    if regime == "compute":
        return f"{x:g} ms"
    if regime == "io":
        return f"{x / 1024:g} KiB"
    return f"{x:g}"


def plot(rows: list[Row], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {
        "compute": ("work per request, ms (16 in flight, 225 KiB)", "log"),
        "io": ("frame size, KiB (1 in flight, 0.25 ms)", "log"),
        "concurrency": ("requests in flight (0.25 ms, 225 KiB)", "log"),
    }
    fig, grid = plt.subplots(2, 3, figsize=(15, 9), sharey=True)
    for axes, field, what in [(grid[0], "ratio", "wall clock"), (grid[1], "cpu_ratio", "CPU time")]:
        for ax, (regime, (xlabel, scale)) in zip(axes, titles.items(), strict=True):
            for impl in dict.fromkeys(r.impl for r in rows):
                pts = sorted((r.x, getattr(r, field)) for r in rows if r.regime == regime and r.impl == impl)
                if not pts:
                    continue
                xs = [x / 1024 if regime == "io" else x for x, _ in pts]
                style = "-" if impl.startswith("ambience") else "--"
                ax.plot(xs, [max(y, 1e-4) for _, y in pts], style, marker="o", label=impl)
            ax.axhline(TARGET, color="grey", linewidth=0.8, linestyle=":")
            ax.set_xscale(scale)
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_title(f"{regime} ({what})")
        axes[0].set_ylabel(f"overhead ratio, {what} (log; <= 1e-4 drawn at 1e-4)")
    grid[0][0].legend(fontsize=8)
    fig.suptitle("camera -> detection (mock): (total - work) / work; dotted: target 0.3")
    fig.tight_layout()
    path = out / "overhead.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def top(rows: list[Row], field: str, impl: str, regime: str | None = None) -> float | None:
    """The maximum of `field` over the points of `impl` (a prefix: "ambience" is both variants)."""
    vals = [float(getattr(r, field)) for r in rows if r.impl.startswith(impl) and regime in (None, r.regime)]
    return max(vals) if vals else None


def report(rows: list[Row], per_ms: float, mqtt_note: str | None) -> list[str]:
    """Prints the tables and returns the RESULT lines."""
    impls = list(dict.fromkeys(r.impl for r in rows))
    regimes = list(dict.fromkeys(r.regime for r in rows))
    print(f"\ncalibration: {per_ms:.0f} rounds of the mock per ms of work (median of 41 short calls)")
    if mqtt_note:
        print(mqtt_note)
    for regime in regimes:
        print(f"\n== {regime}: overhead ratio, wall (total us / work us per request) | cpu ratio ==")
        xs = list(dict.fromkeys(r.x for r in rows if r.regime == regime))
        print(f"{'point':>10} {'alone':>7} " + " ".join(f"{i:>28}" for i in impls))
        for x in xs:
            cells = []
            alone = 0.0
            for impl in impls:
                r = next((r for r in rows if r.regime == regime and r.x == x and r.impl == impl), None)
                if r is None:
                    cells.append(f"{'-':>28}")
                    continue
                alone = r.work_alone_us
                cells.append(f"{r.ratio:>6.3f} ({r.total_us:>5.0f}/{r.work_us:>5.0f}) | {r.cpu_ratio:>6.3f}")
            print(f"{fmt_x(regime, x):>10} {alone:>5.0f}us " + " ".join(cells))

    def line(rid: str, value: float, baseline: float | None) -> str:
        s = f"RESULT {rid} value={value:.4g} unit=ratio"
        if baseline is not None and baseline > 0:
            s += f" baseline={baseline:.4g} ratio={value / baseline:.4g}"
        return s

    results: list[str] = []
    verdicts: list[str] = []
    for prefix, field, what in [("overhead", "ratio", "wall clock"), ("overhead_cpu", "cpu_ratio", "CPU time")]:
        for regime in regimes:
            base = top(rows, field, "pipes", regime)
            for impl in impls:
                v = top(rows, field, impl, regime)
                assert v is not None
                results.append(line(f"{prefix}_{regime}_max_ratio_{impl}", v, base if impl != "pipes" else None))
        pipes_max = top(rows, field, "pipes")
        for impl in impls:
            v = top(rows, field, impl)
            assert v is not None
            results.append(line(f"{prefix}_max_ratio_{impl}", v, pipes_max if impl != "pipes" else None))
        amb = top(rows, field, "ambience")
        assert amb is not None
        results.append(line(f"{prefix}_max_ratio_ambience", amb, pipes_max))
        verdict = "met" if amb <= TARGET else "NOT met"
        verdicts.append(f"Ambience maximum overhead ratio across all three regimes, {what}: {amb:.3f} "
                        f"(target <= {TARGET}): {verdict}")
    print("\n== target (baseline in RESULT lines: Linux pipes, same regime; paper: 0.59) ==")
    for verdict_line in verdicts:
        print(verdict_line)
    print()
    for result in results:
        print(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="directory for results.json and overhead.png")
    parser.add_argument("--quick", action="store_true", help="one point per regime, 1 repetition (smoke test)")
    parser.add_argument("--reps", type=int, help="pairs of runs (short, long) per point (default 2, --quick 1)")
    ns = parser.parse_args(argv)
    reps = ns.reps or (1 if ns.quick else 2)
    if reps < 1:
        print("error: --reps must be >= 1", file=sys.stderr)
        return 2
    out = ns.out or Path(os.environ.get("BUILD_WORKSPACE_DIRECTORY", ".")) / "out" / "benchmarks" / "overhead"
    bins = find_binaries()
    if bins is None:
        print("error: the benchmark's binaries are not in the runfiles (run `bazel run //benchmarks/overhead`)",
              file=sys.stderr)
        return 2
    print(__doc__.strip())
    load = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{reps} pair(s) of runs (R/4 and 2R requests) per point")
    mosquitto = find_mosquitto()
    broker: Broker | None = None
    mqtt_note = None
    if mosquitto is None:
        mqtt_note = ("MQTT baseline SKIPPED: no mosquitto broker installed (Debian package mosquitto; "
                     "tools/setup.sh installs it)")
        print(mqtt_note)
    try:
        if mosquitto is not None:
            broker = Broker(mosquitto)
            print(f"MQTT broker: {mosquitto} on 127.0.0.1:{broker.port}")
        t0 = time.monotonic()
        become_subreaper()
        rows, per_ms = measure(bins, ns.quick, reps, broker)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if broker is not None:
            broker.stop()
    print(f"measured in {time.monotonic() - t0:.1f} s")
    report(rows, per_ms, mqtt_note)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(f"plot: {plot(rows, out)}")
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
