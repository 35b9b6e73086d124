"""Reads the kernel facts out of compiled facts libraries and writes one board's or all boards' JSON.

  extract_facts.py board --description JSON --out OUT LIBRARY...
      one board: its description (from platforms/boards/boards.bzl) plus "kernel", the
      `ambience-fact <name>=<value>;` records AMBIENCE_FACT (kernel/core/build_fact.hpp) left in
      the `.ambience_facts` section of the libraries' objects, compiled for the board's platform.
  extract_facts.py merge --out OUT BOARD_JSON...
      target_facts.json: every board, in the order given.

The records are found by scanning the archives' bytes: archive members and the section are
stored uncompressed, so no object-file parser (or target binutils) is needed.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

FORMAT = 1
RECORD = re.compile(rb"ambience-fact ([a-z][a-z0-9_]*)=([0-9]+);")


def kernel_facts(paths: list[str]) -> dict[str, int]:
    facts: dict[str, int] = {}
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        for m in RECORD.finditer(data):
            name, value = m.group(1).decode(), int(m.group(2))
            if facts.get(name, value) != value:
                raise SystemExit(f"{path}: error: fact '{name}' is both {facts[name]} and {value}")
            facts[name] = value
    if not facts:
        raise SystemExit(f"error: no ambience-fact records in {', '.join(paths)}")
    return dict(sorted(facts.items()))


def dump(doc: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("board")
    b.add_argument("--description", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("libraries", nargs="+")
    m = sub.add_parser("merge")
    m.add_argument("--out", required=True)
    m.add_argument("boards", nargs="+")
    args = p.parse_args(argv)
    if args.cmd == "board":
        with open(args.description, encoding="utf-8") as f:
            board = json.load(f)
        board["kernel"] = kernel_facts(args.libraries)
        dump(board, args.out)
    else:
        boards = []
        for path in args.boards:
            with open(path, encoding="utf-8") as f:
                boards.append(json.load(f))
        dump({"ambience_target_facts": FORMAT, "boards": boards}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
