"""The Python fuzz driver shared by the lidl, deployment-loader and HTTP-door fuzzers.

A fuzzer gives a name, a target (bytes -> None; any exception is a failure), seed inputs, an
optional structure-aware mutator and the packages whose coverage guides atheris; the driver runs
it for a bounded time and ends with one line

    fuzz-summary target=<name> execs=<n> failures=<n> seconds=<s>

Engines: `atheris` (coverage-guided libFuzzer, used when the pinned package is installed; the
structure-aware mutator and libFuzzer's byte mutations take turns) or `random` (the same
mutations, no coverage, fully deterministic for a given --seed). A failure never stops the run:
each distinct one (exception type and innermost frame) is printed once with its traceback and
input, and its input is written to --crash-dir (default: Bazel's undeclared test outputs, else
the current directory). The exit status is 1 when anything failed.

Lives in lidl/ because lidl is the lowest Python layer: tools/ and the door depend on it.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

Target = Callable[[bytes], None]
Mutator = Callable[[bytes, random.Random], bytes]

MAX_LEN = 1 << 16


class Hang(Exception):
    """One input ran longer than --timeout seconds."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang("the input ran longer than the per-input timeout")


def byte_mutate(data: bytes, rng: random.Random) -> bytes:
    """Generic byte mutations: flip, insert, delete, duplicate, interesting bytes."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[pos:pos] = bytes([rng.choice([0, 0x0A, 0x0D, 0x20, 0x22, 0x7F, 0x80, 0xC3, 0xFF, rng.randrange(256)])])
        elif op == 2 and b:
            del b[pos:pos + rng.randint(1, 16)]
        elif op == 3 and b:
            start = rng.randrange(len(b))
            b[pos:pos] = b[start:start + rng.randint(1, 32)]
        elif op == 4 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        else:
            b[pos:pos] = rng.choice([b"\x00", b"\r\n", b"\xff\xfe", b"\xed\xa0\x80", b"9" * 20, b"-", b"\t"])
    return bytes(b[:MAX_LEN])


class _Run:
    def __init__(self, name: str, target: Target, crash_dir: str, timeout: float, verbose: bool) -> None:
        self.name = name
        self.target = target
        self.crash_dir = crash_dir
        self.timeout = timeout
        self.verbose = verbose
        self.execs = 0
        self.failures = 0
        self.seen: set[tuple[str, str]] = set()
        self.started = time.monotonic()

    def one(self, data: bytes) -> None:
        self.execs += 1
        if self.timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            self.target(data)
        except Exception as e:  # noqa: BLE001 - every exception the target lets out is a finding
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._failed(data, e)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _failed(self, data: bytes, e: BaseException) -> None:
        self.failures += 1
        tb = traceback.extract_tb(e.__traceback__)
        where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "?"
        key = (type(e).__name__, where)
        digest = hashlib.sha1(data).hexdigest()[:16]
        path = os.path.join(self.crash_dir, f"{self.name}-failure-{digest}")
        if key in self.seen and not self.verbose:
            return
        self.seen.add(key)
        try:
            os.makedirs(self.crash_dir, exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        except OSError:
            path = "(not saved)"
        sys.stdout.write(f"fuzz-failure target={self.name} {type(e).__name__} at {where}: {str(e)[:300]}\n"
                         f"  input ({len(data)} bytes, {path}): {data[:400]!r}\n"
                         + "".join(traceback.format_exception(e)) + "\n")
        sys.stdout.flush()

    def summary(self) -> int:
        seconds = time.monotonic() - self.started
        sys.stdout.write(f"fuzz-summary target={self.name} execs={self.execs} failures={self.failures} "
                         f"seconds={seconds:.1f}\n")
        sys.stdout.flush()
        return 1 if self.failures else 0


def _load_corpus(seeds: Sequence[bytes], dirs: Sequence[str]) -> list[bytes]:
    corpus = [s for s in seeds]
    for d in dirs:
        for entry in sorted(os.listdir(d)):
            p = os.path.join(d, entry)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    corpus.append(f.read())
    return corpus or [b""]


def _run_random(run: _Run, corpus: list[bytes], mutate: Mutator | None, seed: int, deadline: float,
                max_runs: int, max_len: int) -> None:
    rng = random.Random(seed)
    for s in corpus:  # every seed as it is first: they must pass
        run.one(s)
    while time.monotonic() < deadline and (max_runs <= 0 or run.execs < max_runs):
        data = rng.choice(corpus)
        for _ in range(rng.randint(1, 3)):
            data = mutate(data, rng) if mutate is not None and rng.random() < 0.75 else byte_mutate(data, rng)
        run.one(data[:max_len])


def _instrument(atheris: Any, prefixes: Sequence[str]) -> None:
    """Coverage instrumentation of the functions of the modules under test only (all of the
    interpreter's 8,000 would take minutes, and atheris fails on some of 3.11's)."""
    done: set[int] = set()
    count = failed = 0

    def visit(obj: Any, module: str, depth: int) -> None:
        nonlocal count, failed
        for value in list(vars(obj).values()):
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if isinstance(fn, type) and depth < 3 and fn.__module__ == module and id(fn) not in done:
                done.add(id(fn))
                visit(fn, module, depth + 1)
            elif inspect.isfunction(fn) and fn.__module__ == module and id(fn) not in done:
                done.add(id(fn))
                try:
                    atheris.instrument_func(fn)
                    count += 1
                except Exception:  # noqa: BLE001 - atheris cannot patch some code objects: left as is
                    failed += 1

    for name, mod in sorted(sys.modules.items()):
        if mod is not None and any(name == p or name.startswith(p + ".") for p in prefixes):
            if not name.startswith("lidl.fuzz"):
                visit(mod, name, 0)
    sys.stdout.write(f"fuzz: instrumented {count} functions of {', '.join(prefixes)} ({failed} left out)\n")
    sys.stdout.flush()


def _run_atheris(run: _Run, corpus: list[bytes], mutate: Mutator | None, seed: int, deadline: float,
                 max_runs: int, seconds: float, instrument: Sequence[str], max_len: int) -> NoReturn:
    atheris: Any = importlib.import_module("atheris")
    import tempfile
    seed_dir = tempfile.mkdtemp(prefix=f"fuzz-{run.name}-")
    for i, s in enumerate(corpus):
        with open(os.path.join(seed_dir, f"seed{i}"), "wb") as f:
            f.write(s)

    def test_one_input(data: bytes) -> None:
        if time.monotonic() >= deadline or (0 < max_runs <= run.execs):
            os._exit(run.summary())
        run.one(data)

    def custom_mutator(data: bytes, max_size: int, mseed: int) -> bytes:
        rng = random.Random(mseed)
        if mutate is not None and rng.random() < 0.6:
            out = mutate(data if rng.random() < 0.8 else rng.choice(corpus), rng)
        else:
            out = atheris.Mutate(data, max_size)
        return bytes(out[:max_size])

    _instrument(atheris, instrument)
    args = [sys.argv[0], f"-seed={seed}", f"-max_total_time={int(seconds) + 5}", f"-max_len={max_len}",
            "-rss_limit_mb=4096", "-timeout=0", "-print_final_stats=0", "-close_fd_mask=0", seed_dir]
    atheris.Setup(args, test_one_input, custom_mutator=custom_mutator)
    try:
        atheris.Fuzz()
    finally:
        os._exit(run.summary())


def main(name: str, target: Target, seeds: Sequence[bytes], mutate: Mutator | None = None,
         argv: Sequence[str] | None = None, setup: Callable[[], None] | None = None,
         instrument: Sequence[str] = (), max_len: int = MAX_LEN) -> int:
    ap = argparse.ArgumentParser(prog=name, description=f"Fuzz {name}; ends with a fuzz-summary line.")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to run (default 10)")
    ap.add_argument("--runs", type=int, default=0, help="stop after this many inputs (0: no limit)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto",
                    help="auto: atheris when installed, else random")
    ap.add_argument("--corpus", action="append", default=[], metavar="DIR", help="more seed inputs")
    # `bazel run` runs in the runfiles tree: paths the user gives are relative to where they ran it
    cwd = os.environ.get("BUILD_WORKING_DIRECTORY", ".")
    ap.add_argument("--crash-dir", default=os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", cwd),
                    help="where failing inputs are written (default: the current directory; in "
                         "`bazel test`, the undeclared outputs)")
    ap.add_argument("--max-len", type=int, default=max_len, help=f"longest input (default {max_len})")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-input time limit in seconds (a hang)")
    ap.add_argument("--verbose", action="store_true", help="print every failure, not each kind once")
    ap.add_argument("inputs", nargs="*", help="run only these files (reproduce a failure)")
    args = ap.parse_args(argv)
    args.crash_dir = os.path.join(cwd, args.crash_dir)
    args.inputs = [os.path.join(cwd, p) for p in args.inputs]
    args.corpus = [os.path.join(cwd, p) for p in args.corpus]
    signal.signal(signal.SIGALRM, _on_alarm)
    if setup is not None:
        setup()
    run = _Run(name, target, args.crash_dir, args.timeout, args.verbose)
    if args.inputs:
        for p in args.inputs:
            with open(p, "rb") as f:
                run.one(f.read())
        return run.summary()
    corpus = _load_corpus(seeds, args.corpus)
    engine = args.engine
    if engine == "auto":
        try:
            importlib.import_module("atheris")
            engine = "atheris"
        except ImportError:
            engine = "random"
    deadline = time.monotonic() + args.seconds
    sys.stdout.write(f"fuzz: {name}: engine {engine}, seed {args.seed}, {len(corpus)} seed inputs, "
                     f"{args.seconds:g} s\n")
    sys.stdout.flush()
    if engine == "atheris":
        _run_atheris(run, corpus, mutate, args.seed, deadline, args.runs, args.seconds, instrument, args.max_len)
    _run_random(run, corpus, mutate, args.seed, deadline, args.runs, args.max_len)
    return run.summary()
