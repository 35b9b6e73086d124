"""The paper's Figure 6: overhead ratio of camera -> detection with mock detection.

overhead ratio = (total - work) / work per request, where total is the caller's elapsed time per
request (monotonic clock; `perf stat` cycles are not available on this machine) over a run of R
requests with K in flight, and work is the time the mock detection's work (camera_trap::mock_work)
took where it ran, reported by the worker in every reply. Three regimes (the frame is a span of
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
    work_alone_us: float  # the mock alone in a quiet process, for reference


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
    budget_ms = 15.0 if quick else 50.0  # of work per measured run
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


def run_node(binary: Path, iterations: int, p: Point, requests: int, timeout_s: float) -> str:
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
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[overhead_driver]"):
                break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return "".join(lines)


def run_tool(cmd: list[str], timeout_s: float) -> str:
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout_s)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {out.returncode}:\n{out.stdout[-2000:]}")
    return out.stdout


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
    cal = run_tool([str(bins["baselines"]), "calibrate", "--target-ns", "1000000", "--frame-bytes", str(FRAME)], 60)
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
        alone = run_tool([str(bins["baselines"]), "work", *flags, "--requests", "31"], 60)
        am = re.search(r"work_ns=([0-9.]+)", alone)
        if am is None:
            raise RuntimeError(f"work measurement printed no result: {alone}")
        work_alone_us = float(am.group(1)) / 1000
        runs: dict[str, list[tuple[float, float]]] = {i: [] for i in impls}
        for _ in range(reps):
            for impl in impls:
                run_flags = [*flags, "--in-flight", str(p.in_flight), "--requests", str(requests)]
                if impl == "ambience_same_group":
                    out = run_node(bins["same_group"], iterations, p, requests, timeout)
                elif impl == "ambience_cross_group":
                    out = run_node(bins["cross_group"], iterations, p, requests, timeout)
                elif impl == "mqtt":
                    assert broker is not None
                    out = run_tool([str(bins["mqtt"]), "--port", str(broker.port), *run_flags], timeout)
                else:
                    out = run_tool([str(bins["baselines"]), impl, *run_flags], timeout)
                n, total, work = parse(out, f"{impl} at {p.regime} {p.x:g}")
                if n != requests:
                    raise RuntimeError(f"{impl}: {n} of {requests} requests answered")
                runs[impl].append((total, work))
        for impl in impls:
            ratios = [t / w - 1 for t, w in runs[impl]]
            k = sorted(range(len(ratios)), key=lambda i: ratios[i])[len(ratios) // 2]
            total, work = runs[impl][k]
            rows.append(Row(p.regime, p.x, impl, total, work, ratios[k], work_alone_us))
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
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), sharey=True)
    for ax, (regime, (xlabel, scale)) in zip(axes, titles.items()):
        for impl in dict.fromkeys(r.impl for r in rows):
            pts = sorted((r.x, r.ratio) for r in rows if r.regime == regime and r.impl == impl)
            if not pts:
                continue
            xs = [x / 1024 if regime == "io" else x for x, _ in pts]
            style = "-" if impl.startswith("ambience") else "--"
            ax.plot(xs, [max(y, 1e-4) for _, y in pts], style, marker="o", label=impl)
        ax.axhline(TARGET, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xscale(scale)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(regime)
    axes[0].set_ylabel("overhead ratio (total - work) / work, log")
    axes[0].legend(fontsize=8)
    fig.suptitle("camera -> detection (mock), overhead ratio; dotted: target 0.3")
    fig.tight_layout()
    path = out / "overhead.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report(rows: list[Row], per_ms: float, mqtt_note: str | None) -> list[str]:
    """Prints the tables and returns the RESULT lines."""
    impls = list(dict.fromkeys(r.impl for r in rows))
    regimes = list(dict.fromkeys(r.regime for r in rows))
    print(f"\ncalibration: {per_ms:.0f} rounds of the mock per ms of work (median of 41 short calls)")
    if mqtt_note:
        print(mqtt_note)
    for regime in regimes:
        print(f"\n== {regime}: overhead ratio (total us / work us per request) ==")
        xs = list(dict.fromkeys(r.x for r in rows if r.regime == regime))
        print(f"{'point':>12} {'work alone':>10} " + " ".join(f"{i:>24}" for i in impls))
        for x in xs:
            cells = []
            alone = 0.0
            for impl in impls:
                r = next((r for r in rows if r.regime == regime and r.x == x and r.impl == impl), None)
                if r is None:
                    cells.append(f"{'-':>24}")
                    continue
                alone = r.work_alone_us
                cells.append(f"{r.ratio:>8.3f} ({r.total_us:>6.0f}/{r.work_us:>6.0f})")
            print(f"{fmt_x(regime, x):>12} {alone:>8.0f}us " + " ".join(cells))
    results: list[str] = []
    pipes_max = max((r.ratio for r in rows if r.impl == "pipes"), default=None)

    def line(rid: str, value: float, baseline: float | None) -> str:
        s = f"RESULT {rid} value={value:.4g} unit=ratio"
        if baseline is not None and baseline > 0:
            s += f" baseline={baseline:.4g} ratio={value / baseline:.4g}"
        return s

    for regime in regimes:
        base = max((r.ratio for r in rows if r.impl == "pipes" and r.regime == regime), default=None)
        for impl in impls:
            v = max(r.ratio for r in rows if r.impl == impl and r.regime == regime)
            results.append(line(f"overhead_{regime}_max_ratio_{impl}", v, base if impl != "pipes" else None))
    for impl in impls:
        v = max(r.ratio for r in rows if r.impl == impl)
        results.append(line(f"overhead_max_ratio_{impl}", v, pipes_max if impl != "pipes" else None))
    amb = max(r.ratio for r in rows if r.impl.startswith("ambience"))
    results.append(line("overhead_max_ratio_ambience", amb, pipes_max))
    print("\n== target (baseline in RESULT lines: Linux pipes, same regime; paper: 0.59) ==")
    verdict = "met" if amb <= TARGET else "NOT met"
    print(f"Ambience maximum overhead ratio across all three regimes: {amb:.3f} (target <= {TARGET}): {verdict}")
    print()
    for r in results:
        print(r)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="directory for results.json and overhead.png")
    parser.add_argument("--quick", action="store_true", help="one point per regime, 1 repetition (smoke test)")
    parser.add_argument("--reps", type=int, help="repetitions per point (default 3, --quick 1)")
    ns = parser.parse_args(argv)
    reps = ns.reps or (1 if ns.quick else 3)
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
          f"{reps} repetition(s) per point")
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
