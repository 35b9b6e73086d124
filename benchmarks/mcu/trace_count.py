"""Counts executed instructions between two code addresses in a QEMU TCG trace.

Input: a log from `qemu-system-arm -d in_asm,exec,nochain` (every translated block's
instructions, then one `Trace` line per executed block). For each execution of the block that
starts at START, counts the instructions executed until the first block that starts at STOP
(the STOP instruction itself is not counted). Prints one count per sample.

usage: trace_count.py LOG START_HEX STOP_HEX
"""
from __future__ import annotations

import re
import sys

TRACE = re.compile(r"Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/")


def executed_blocks(lines):
    """Yields (pc, instructions) for every executed block of a `-d in_asm,exec,nochain` log.

    A block's length is learnt from the `IN:` listing that precedes its first execution; a block
    whose translation is not in the log counts as one instruction.
    """
    block_len: dict[str, int] = {}
    translating: int | None = None
    for line in lines:
        if line.startswith("IN:"):
            translating = 0
            continue
        if translating is not None and line.startswith("0x"):
            translating += 1
            continue
        m = TRACE.match(line)
        if not m:
            continue
        host, pc_text = m.groups()
        if translating:  # the first execution after a translation is that block
            block_len[host] = translating
        translating = None
        yield int(pc_text, 16), block_len.get(host, 1)


def count_samples(lines, start: int, stop: int) -> list[int]:
    samples: list[int] = []
    running: int | None = None
    for pc, length in executed_blocks(lines):
        if running is not None and pc == stop:
            samples.append(running)
            running = None
        if pc == start:
            running = 0
        if running is not None:
            running += length
    return samples


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 1
    with open(argv[1], errors="replace") as f:
        samples = count_samples(f, int(argv[2], 16), int(argv[3], 16))
    print(" ".join(str(s) for s in samples))
    return 0 if samples else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
