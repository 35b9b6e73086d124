"""Long fuzzing runs: every fuzz target for N minutes each.

The libFuzzer targets of tests/fuzz (C++ decoders) and the Python fuzzers listed in
tests/fuzz/python_fuzzers.tsv (lidl, the manifest loader, the HTTP door; `py_` in the table).

    bazel run //tests/fuzz:campaign -- --minutes N [--jobs 2] [--only net,ip] [--corpus DIR]

Each target runs on a corpus kept between campaigns (`--corpus`, default
$XDG_CACHE_HOME/ambience/fuzz-corpus/<target>, seeded from tests/fuzz/seeds/<target>), so long
campaigns accumulate coverage. A crash (or leak, sanitizer report, timeout, out-of-memory) is
counted, its reproducer kept under <corpus>/../crashes/<target>/, and the target restarts for the
rest of its time. Prints a table (executions, executions/s, coverage edges, corpus size,
crashes) and RESULT lines; exits 1 if anything crashed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).absolute().parent  # not resolved: runfiles are symlinks
STATUS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
FINAL_EXECS = re.compile(r"^stat::number_of_executed_units: (\d+)", re.M)
PY_SUMMARY = re.compile(r"^fuzz-summary target=\S+ execs=(\d+) failures=(\d+)", re.M)


@dataclass
class Target:
    name: str
    binary: Path
    seeds: Path | None  # libFuzzer targets; the Python fuzzers carry their own seeds
    dict: Path | None
    python: bool = False


@dataclass
class Outcome:
    name: str
    seconds: float = 0.0
    execs: int = 0
    coverage: int = 0
    features: int = 0
    corpus: int = 0
    crashes: int = 0
    reproducers: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.execs / self.seconds if self.seconds else 0.0


def runfiles_root() -> Path:
    """The workspace in this program's runfiles (where the fuzz targets are)."""
    if os.environ.get("RUNFILES_DIR"):
        return Path(os.environ["RUNFILES_DIR"]) / "ambience"
    return HERE.parent.parent


def discover(root: Path) -> list[Target]:
    out = []
    for binary in sorted((root / "tests/fuzz").glob("*_fuzz_libfuzzer")):
        name = binary.name.removesuffix("_fuzz_libfuzzer")
        d = root / f"tests/fuzz/dicts/{name}.dict"
        out.append(Target(name, binary, root / f"tests/fuzz/seeds/{name}", d if d.exists() else None))
    registry = root / "tests/fuzz/python_fuzzers.tsv"
    for line in registry.read_text().splitlines() if registry.exists() else []:
        if line.startswith("#") or not line.strip():
            continue
        name, label = line.split("\t")[:2]
        binary = root / label.lstrip("/").replace(":", "/")
        out.append(Target("py_" + name, binary, None, None, python=True))
    return out


def parse_run(log: str, outcome: Outcome) -> None:
    """Adds one libFuzzer run's executions to `outcome` and takes its last coverage figures."""
    m = FINAL_EXECS.findall(log)
    statuses = STATUS.findall(log)
    if m:
        outcome.execs += int(m[-1])
    elif statuses:  # a crash ends the run before the final statistics
        outcome.execs += int(statuses[-1][0])
    if statuses:
        _, cov, ft, corp = statuses[-1]
        outcome.coverage = max(outcome.coverage, int(cov))
        outcome.features = max(outcome.features, int(ft))
        outcome.corpus = max(outcome.corpus, int(corp))


def target_dirs(target: Target, corpus_root: Path) -> tuple[Path, Path]:
    """The target's corpus (kept between campaigns) and where its failing inputs go."""
    corpus = corpus_root / target.name
    crashes = corpus_root.parent / "crashes" / target.name
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    return corpus, crashes


def fuzz_python(target: Target, seconds: float, corpus_root: Path, verbose: bool) -> Outcome:
    """One run of a Python fuzzer (lidl/fuzz/driver.py), which goes on after a failure itself."""
    corpus, crashes = target_dirs(target, corpus_root)
    outcome = Outcome(target.name)
    before = set(crashes.iterdir())
    start = time.monotonic()
    run = subprocess.run([str(target.binary), "--seconds", str(int(seconds)), "--corpus", str(corpus),
                          "--crash-dir", str(crashes)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, errors="replace", check=False)
    outcome.seconds = time.monotonic() - start
    if verbose:
        sys.stdout.write(run.stdout[-4000:])
    m = PY_SUMMARY.findall(run.stdout)
    if m:
        outcome.execs, outcome.crashes = int(m[-1][0]), int(m[-1][1])
    else:  # the fuzzer itself died: count it, show why
        outcome.crashes = 1
        print(f"campaign: {target.name} ended without its summary (exit {run.returncode}):", flush=True)
        print("\n".join(run.stdout.splitlines()[-25:]), flush=True)
    if outcome.crashes:
        print("\n".join(line for line in run.stdout.splitlines() if line.startswith("fuzz-failure"))[:4000])
    outcome.reproducers = sorted(str(p) for p in set(crashes.iterdir()) - before)
    outcome.corpus = sum(1 for _ in corpus.iterdir())
    return outcome


def fuzz(target: Target, seconds: float, corpus_root: Path, verbose: bool) -> Outcome:
    if target.python:
        return fuzz_python(target, seconds, corpus_root, verbose)
    corpus, crashes = target_dirs(target, corpus_root)
    outcome = Outcome(target.name)
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    start = time.monotonic()
    while (left := seconds - (time.monotonic() - start)) >= 1:
        before = set(crashes.iterdir())
        cmd = [str(target.binary), f"-max_total_time={int(left)}", "-print_final_stats=1", "-timeout=10",
               "-rss_limit_mb=2048", f"-artifact_prefix={crashes}/", str(corpus), str(target.seeds)]
        if target.dict:
            cmd.insert(1, f"-dict={target.dict}")
        run = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             errors="replace", check=False)
        parse_run(run.stdout, outcome)
        if verbose:
            sys.stdout.write(run.stdout[-4000:])
        if run.returncode == 0:
            break
        outcome.crashes += 1
        outcome.reproducers += sorted(str(p) for p in set(crashes.iterdir()) - before)
        print(f"campaign: {target.name} failed (exit {run.returncode}); the tail of its log:", flush=True)
        print("\n".join(run.stdout.splitlines()[-25:]), flush=True)
    outcome.seconds = time.monotonic() - start
    outcome.corpus = max(outcome.corpus, sum(1 for _ in corpus.iterdir()))
    return outcome


def table(outcomes: list[Outcome]) -> str:
    rows = [f"{'target':<13} {'seconds':>8} {'executions':>13} {'execs/s':>10} {'coverage':>9} "
            f"{'features':>9} {'corpus':>7} {'crashes':>8}"]
    for o in outcomes:
        rows.append(f"{o.name:<13} {o.seconds:>8.0f} {o.execs:>13,} {o.per_second:>10,.0f} {o.coverage:>9} "
                    f"{o.features:>9} {o.corpus:>7} {o.crashes:>8}")
    for o in outcomes:
        rows.append(f"RESULT fuzz_{o.name}_execs value={o.execs}")
        if o.coverage:  # libFuzzer targets; the Python driver reports no coverage figure
            rows.append(f"RESULT fuzz_{o.name}_coverage_edges value={o.coverage}")
        rows.append(f"RESULT fuzz_{o.name}_crashes value={o.crashes}")
    rows.append(f"RESULT fuzz_crashes value={sum(o.crashes for o in outcomes)}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0, help="per target (default 1)")
    ap.add_argument("--jobs", type=int, default=2, help="targets fuzzed at once (default 2)")
    ap.add_argument("--only", default="", help="comma-separated target names")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ambience" / "fuzz-corpus"
    ap.add_argument("--corpus", type=Path, default=cache, help=f"corpus root (default {cache})")
    ap.add_argument("--verbose", action="store_true", help="print each run's libFuzzer log tail")
    args = ap.parse_args(argv)
    targets = discover(runfiles_root())
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {t.name for t in targets}
        if unknown:
            ap.error(f"unknown target(s) {', '.join(sorted(unknown))}; known: {', '.join(t.name for t in targets)}")
        targets = [t for t in targets if t.name in wanted]
    if not targets:
        print("campaign: no fuzz targets in the runfiles (run it with bazel run //tests/fuzz:campaign)")
        return 2
    print(f"campaign: {len(targets)} targets, {args.minutes:g} min each, {args.jobs} at a time, corpus {args.corpus}",
          flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda t: fuzz(t, args.minutes * 60, args.corpus, args.verbose), targets))
    print(table(outcomes))
    for o in outcomes:
        for r in o.reproducers:
            print(f"reproducer: {o.name}: {r}")
    return 1 if any(o.crashes for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
