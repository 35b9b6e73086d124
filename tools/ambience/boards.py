"""What the planner knows about each board a node can run on, read from the target facts.

Nothing here is typed by hand. The facts document (//tools/facts:target_facts) holds every board
of platforms/boards/boards.bzl with the kernel's sizes and limits compiled for its platform
(kernel/arch/*/facts.cc): the MCU supervisor's group slots, ring region, boot block and MPU
regions come from the kernel's own headers, so the planner's limits are the kernel's.

Which document: the Bazel planning action passes the generated one (`ambience compile --facts`,
via `use_facts`) and stores it in the inputs bundle, so the CLI re-plans with the same facts.
Without one (pytest, a checkout without a build) the committed copy target_facts.json next to
this file is used; //tools/facts:target_facts_golden_test fails when that copy is stale.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

FACTS_FORMAT = 1
DEFAULT_FACTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "target_facts.json")


@dataclass(frozen=True)
class Board:
    label: str
    kind: str  # "mcu" or "hosted"
    cpu: str
    ram_base: int
    ram_size: int
    stack_reserved: int = 0  # main stack the board's linker script keeps at the top of RAM
    mpu_regions: int = 0  # MPU regions the board offers in total
    mpu_regions_needed: int = 0  # MCU: regions the supervisor programs (kMpuRegionsNeeded)
    mpu_min_region: int = 0  # MCU: the smallest MPU region, also its alignment (fit_region(1))
    kernel_ram: int = 0  # RAM the kernel proper needs before any group
    group_overhead: int = 0  # per isolated group: ring region, boot block, stack
    group_stack: int = 0  # the stack part of group_overhead
    max_ring_targets: int = 0  # hosted: instances one process can serve on its ring (ServiceTable)
    max_groups: int = 0  # MCU: user groups the Cortex-M supervisor can run isolated (kMaxGroups)
    max_ring_instances: int = 0  # MCU: ring instances the supervisor routes (kMaxInstances)

    @property
    def short_name(self) -> str:
        return self.label.rsplit(":", 1)[-1]

    @property
    def is_mcu(self) -> bool:
        return self.kind == "mcu"


class FactsError(Exception):
    pass


def _board(d: dict[str, Any]) -> Board:
    k = d["kernel"]
    if d["kind"] == "mcu":
        return Board(d["label"], "mcu", d["cpu"], d["ram_base"], d["ram_bytes"],
                     stack_reserved=d["main_stack_bytes"], mpu_regions=d["mpu_regions"],
                     mpu_regions_needed=k["mpu_regions_needed"], mpu_min_region=k["mpu_min_region_bytes"],
                     kernel_ram=d["kernel_ram_bytes"],
                     group_overhead=k["group_overhead_bytes"], group_stack=k["group_stack_bytes"],
                     max_groups=k["max_groups"], max_ring_instances=k["max_ring_instances"])
    if d["kind"] == "hosted":
        return Board(d["label"], "hosted", d["cpu"], 0, d["ram_bytes"], kernel_ram=d["kernel_ram_bytes"],
                     group_overhead=d["group_process_ram_bytes"], max_ring_targets=k["max_served_per_process"])
    raise FactsError(f"board '{d['label']}': unknown kind '{d['kind']}'")


def boards_from_facts(doc: dict[str, Any]) -> tuple[dict[str, Board], dict[str, str]]:
    """(boards by label, alias -> label) of a target facts document."""
    if doc.get("ambience_target_facts") != FACTS_FORMAT:
        raise FactsError(f"not a target facts document (expected \"ambience_target_facts\": {FACTS_FORMAT})")
    boards: dict[str, Board] = {}
    aliases: dict[str, str] = {}
    for d in doc["boards"]:
        try:
            b = _board(d)
        except KeyError as e:
            raise FactsError(f"board '{d.get('label', '?')}': missing fact {e}") from None
        boards[b.label] = b
        for a in d.get("aliases", []):
            aliases[a] = b.label
    return boards, aliases


def load_facts(path: str = DEFAULT_FACTS_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


BOARDS: dict[str, Board] = {}
ALIASES: dict[str, str] = {}  # accepted spellings of the same board


def use_facts(doc: dict[str, Any]) -> None:
    """Plans from now on use the boards of `doc` (a target facts document)."""
    boards, aliases = boards_from_facts(doc)
    BOARDS.clear()
    BOARDS.update(boards)
    ALIASES.clear()
    ALIASES.update(aliases)


use_facts(load_facts())


def find_board(label: str) -> Board | None:
    return BOARDS.get(ALIASES.get(label, label))
