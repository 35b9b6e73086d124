"""Per-function instruction profile of a window of a QEMU TCG trace (where the instructions go).

Input: a log from `qemu-system-arm -d in_asm,exec,nochain -D LOG` and the ELF that ran. The
window starts at the N-th execution of the first instruction of function START and ends at the
first block that executes in function STOP afterwards (e.g. START = the driver that loops over
2000 calls, STOP = main). Instructions are attributed to the function containing them (symbols
from `arm-none-eabi-nm -C -n`) and divided by --per (the number of calls in the window).

usage: trace_profile.py LOG ELF --start NAME --stop NAME [--occurrence N] [--per K] [--json]
"""
from __future__ import annotations

import argparse
import bisect
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from trace_count import executed_blocks  # same folder: the one trace parser

@dataclass(frozen=True)
class Symbols:
    addresses: list[int]
    names: list[str]

    def function_at(self, pc: int) -> tuple[int, str]:
        i = bisect.bisect_right(self.addresses, pc) - 1
        return (self.addresses[i], self.names[i]) if i >= 0 else (0, "?")


def parse_nm(text: str) -> Symbols:
    rows = []
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            rows.append((int(parts[0], 16) & ~1, parts[2]))
    rows.sort()
    return Symbols([a for a, _ in rows], [n for _, n in rows])


def profile(lines: Iterable[str], symbols: Symbols, start: str, stop: str, occurrence: int) -> Counter:
    """Instructions per function in the window (see module doc)."""
    seen = 0
    active = False
    counts: Counter = Counter()
    cache: dict[int, tuple[int, str]] = {}
    for pc, length in executed_blocks(lines):
        entry, name = cache.get(pc) or cache.setdefault(pc, symbols.function_at(pc))
        if not active:
            if name.startswith(start) and entry == pc:
                seen += 1
                active = seen == occurrence
            if not active:
                continue
        elif name.startswith(stop):
            break
        counts[name] += length
    return counts


def render(counts: Counter, per: float, as_json: bool) -> str:
    total = sum(counts.values())
    if as_json:
        return json.dumps({"total": total / per, "functions": {n: c / per for n, c in counts.most_common()}})
    rows = [f"total {total / per:.1f} instructions per call"]
    rows += [f"{c / per:9.1f}  {n}" for n, c in counts.most_common()]
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log")
    parser.add_argument("elf")
    parser.add_argument("--start", required=True, help="function whose entry opens the window")
    parser.add_argument("--stop", required=True, help="function whose first block closes it")
    parser.add_argument("--occurrence", type=int, default=1, help="which entry of START (1 = first)")
    parser.add_argument("--per", type=float, default=1.0, help="divide counts by this (calls in the window)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv[1:])
    try:
        nm = subprocess.run(["arm-none-eabi-nm", "-C", "-n", args.elf], capture_output=True, text=True, check=True)
        with open(args.log, errors="replace") as f:
            counts = profile(f, parse_nm(nm.stdout), args.start, args.stop, args.occurrence)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"{args.log}:1:1: error: {e}", file=sys.stderr)
        return 1
    if not counts:
        print(f"{args.log}:1:1: error: no window: {args.start!r} entry #{args.occurrence} not found", file=sys.stderr)
        return 1
    print(render(counts, args.per, args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
