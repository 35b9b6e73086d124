"""Runs the C++ IPC benchmark (ipc_bench) and plots its results as PNGs.

The C++ binary prints the method, the tables and the RESULT lines itself; this wrapper passes
them through, then draws plots from the JSON it wrote. Output directory: --out (default
$BUILD_WORKSPACE_DIRECTORY/out/benchmarks/ipc when run with `bazel run`, else ./out).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    section: str
    strategy: str
    payload: str
    placement: str
    value: float
    unit: str


def find_binary() -> Path | None:
    here = Path(os.path.abspath(__file__)).parent  # the runfiles copy, not the source file
    runfiles = Path(os.environ.get("RUNFILES_DIR", os.path.abspath(sys.argv[0]) + ".runfiles"))
    for candidate in (here / "ipc_bench_opt", runfiles / "ambience/benchmarks/ipc/ipc_bench_opt"):
        if candidate.is_file():
            return candidate
    return None


def load_rows(path: Path) -> list[Row]:
    return [Row(**r) for r in json.loads(path.read_text())]


def plot(rows: list[Row], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    # 1. argument passing strategies
    args = [r for r in rows if r.section == "args"]
    payloads = list(dict.fromkeys(r.payload for r in args))
    strategies = ["static", "dynamic", "user", "linux"]
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.2
    for k, s in enumerate(strategies):
        ys = [next((r.value for r in args if r.payload == p and r.strategy == s), 0.0) for p in payloads]
        ax.bar([i + k * width for i in range(len(payloads))], ys, width, label=s)
    ax.set_xticks([i + 1.5 * width for i in range(len(payloads))])
    ax.set_xticklabels(payloads, rotation=60, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("round trip, us (log)")
    ax.set_title("Argument passing: 1 request in flight, cross-group, unpinned")
    ax.legend()
    fig.tight_layout()
    written.append(out / "ipc_args.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)
    # 2. throughput vs in flight
    tp = [r for r in rows if r.section == "throughput"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for placement in ["unpinned", "same", "split"]:
        for strategy, style in [("ring", "-"), ("pipes", "--")]:
            pts = [(int(r.payload), r.value) for r in tp if r.placement == placement and r.strategy == strategy]
            if pts:
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] / 1e3 for p in pts], style, marker="o", label=f"{strategy} {placement}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("requests in flight")
    ax.set_ylabel("k calls/s (log)")
    ax.set_title("Echo throughput: shared-memory ring vs batched pipes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(out / "ipc_throughput.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="directory for results.json and the PNG plots")
    parser.add_argument("--quick", action="store_true", help="shorter measurement windows, 1 repetition")
    ns = parser.parse_args(argv)
    out = ns.out or Path(os.environ.get("BUILD_WORKSPACE_DIRECTORY", ".")) / "out" / "benchmarks" / "ipc"
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    binary = find_binary()
    if binary is None:
        print("error: ipc_bench_opt not found in the runfiles (run with `bazel run //benchmarks/ipc`)", file=sys.stderr)
        return 2
    cmd = [str(binary), "--json", str(results)] + (["--quick"] if ns.quick else [])
    rc = subprocess.call(cmd)
    if rc != 0:
        print(f"ipc_bench failed with exit status {rc}", file=sys.stderr)
        return 2
    for path in plot(load_rows(results), out):
        print(f"plot: {path}")
    print(f"results: {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
