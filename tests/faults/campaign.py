"""`bazel run //tests/faults:campaign [-- --quick] [--report-only] [--parts 1,2,3,4,5] [--seed N]`:
the fault campaign of the hardening issue (README.md here). Bounded: every part runs a fixed
number of faults or a fixed time; the default run takes about 10 minutes, --quick about 3.

Prints one table (each row a measured figure, its target and MET / NOT MET) and `RESULT` lines;
the exit status is 1 if a target was not met (0 with --report-only), 2 if a part could not run.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tests.faults import group_kill, links, mcu_fault, node_kill, soak
from tests.faults.common import Info, Row, result_lines, table


@dataclass(frozen=True)
class Budget:
    group_kills: int
    mcu_faults: int
    node_kills: int
    edge_kills: int
    link_seconds: float
    udp_seconds: float
    storage_seconds: float
    soak_seconds: float


QUICK = Budget(group_kills=6, mcu_faults=3, node_kills=1, edge_kills=1, link_seconds=9.0, udp_seconds=5.0,
               storage_seconds=1.5, soak_seconds=40.0)
FULL = Budget(group_kills=40, mcu_faults=12, node_kills=4, edge_kills=3, link_seconds=25.0, udp_seconds=10.0,
              storage_seconds=4.0, soak_seconds=180.0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campaign", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer faults, shorter runs (about 3 minutes)")
    p.add_argument("--report-only", action="store_true", help="exit 0 even if a target is not met")
    p.add_argument("--parts", default="1,2,3,4,5", help="which parts to run, e.g. 1 or 1,3 (default 1,2,3,4,5)")
    p.add_argument("--seed", type=int, default=1, help="seeds kill moments and link faults (default 1)")
    return p


def run_parts(parts: set[str], budget: Budget, seed: int, quick: bool) -> tuple[list[Row], list[Info], list[str]]:
    rows: list[Row] = []
    infos: list[Info] = []
    errors: list[str] = []

    def note(text: str) -> None:
        print(f"campaign: {text}", file=sys.stderr, flush=True)

    def add(result: tuple[list[Row], list[Info]]) -> None:
        rows.extend(result[0])
        infos.extend(result[1])

    def attempt(what: str, fn: Callable[[], None]) -> None:
        t0 = time.monotonic()
        note(f"{what} ...")
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a part that cannot run is reported, the others still run
            errors.append(f"{what}: {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
        note(f"{what}: {time.monotonic() - t0:.1f} s")

    if "1" in parts:
        attempt(f"part 1: {budget.group_kills} group kills",
                lambda: add(group_kill.rows(group_kill.measure(budget.group_kills, seed))))
        attempt(f"part 1: {budget.mcu_faults} MCU group faults",
                lambda: add(mcu_fault.rows(mcu_fault.measure(budget.mcu_faults, seed))))
    if "2" in parts:
        attempt(f"part 2: {budget.node_kills} cloud node kill(s)",
                lambda: add(node_kill.rows(node_kill.measure(budget.node_kills, seed))))
        attempt(f"part 2: {budget.edge_kills} edge node kill(s)",
                lambda: add(node_kill.edge_rows(node_kill.measure_edge(budget.edge_kills, seed))))
        attempt(f"part 2: {budget.edge_kills} camera board kill(s) (QEMU)", lambda: add(node_kill.edge_rows(
            node_kill.measure_edge(budget.edge_kills, seed, node="camera"), "camera")))
    if "3" in parts:
        attempt("part 3: serial boot wedge", lambda: add(links.measure_boot_wedge()))
        for c in links.configs(quick) + ([] if quick else [links.short_deadline()]):
            attempt(f"part 3: serial {c.name}",
                    partial(lambda c: add(links.rows(links.measure_serial(c, budget.link_seconds, seed))), c))
        for c in links.configs(quick):
            attempt(f"part 3: udp {c.name}",
                    partial(lambda c: add(links.rows(links.measure_udp(c, budget.udp_seconds, seed))), c))
        for c in links.configs(quick):
            attempt(f"part 3: udp between nodes {c.name}",
                    partial(lambda c: add(links.rows(links.measure_udp_nodes(c, budget.udp_seconds, seed))), c))
    if "4" in parts:
        for fault in sorted(node_kill.STORAGE_FAULTS):
            attempt(f"part 4: storage {fault}", partial(lambda f: add(node_kill.storage_rows(
                f, node_kill.measure_storage(f, seed, budget.storage_seconds))), fault))
        def tmpfs_full() -> None:
            run, why = node_kill.measure_tmpfs_full(seed, node_kill.TMPFS_STREAM_S)
            if run is None:
                infos.append(Info("4", "storage_tmpfs_full_not_run", 1, "count", f"cannot mount a tmpfs here: {why}"))
            else:
                add(node_kill.storage_rows("tmpfs_full", run))

        attempt("part 4: storage tmpfs_full (a real ENOSPC)", tmpfs_full)
    if "5" in parts:
        attempt(f"part 5: camera trap soak, {budget.soak_seconds:g} s",
                lambda: add(soak.rows(soak.measure(budget.soak_seconds, seed))))
    return rows, infos, errors


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    parts = set(filter(None, args.parts.split(",")))
    unknown = parts - {"1", "2", "3", "4", "5"}
    if unknown:
        print(f"campaign: unknown part(s) {', '.join(sorted(unknown))} (1, 2, 3, 4, 5)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    rows, infos, errors = run_parts(parts, QUICK if args.quick else FULL, args.seed, args.quick)
    print(f"fault campaign ({'quick' if args.quick else 'full'}, seed {args.seed}, parts {','.join(sorted(parts))}, "
          f"{time.monotonic() - t0:.0f} s)")
    print("\n".join(table(rows, infos)))
    for e in errors:
        print(f"NOT RUN: {e}")
    print("\n".join(result_lines(rows, infos)))
    not_met = sum(not r.met for r in rows)
    print(f"campaign: {len(rows) - not_met} of {len(rows)} targets met" + (f", {len(errors)} part(s) not run" if errors
                                                                            else ""))
    if errors:
        return 2
    return 0 if args.report_only or not_met == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
