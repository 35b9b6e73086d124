"""Per-node code generation: from one node's plan document to the C++ that boots it.

The plan decides (ambience/backend.py names the node's runtime and each edge's connector); this
package only writes text. One skeleton per runtime walks the plan (single_image.py, hosted.py,
mcu_isolated.py); every dependency edge is written by its connector (connectors.py); cxx.py
holds the text all of them share; linker.py writes the MCU linker fragment; doors.py the config
of a hosted node's HTTP doors (`<node>_doors.json`).
"""
from __future__ import annotations

import os
from collections.abc import Callable

from ambience.codegen import hosted, mcu_isolated, single_image
from ambience.codegen.cxx import cxx_name
from ambience.codegen.doors import doors_json
from ambience.codegen.linker import groups_ld
from ambience.plan_json import NodeDocument, load_node_plan_text

__all__ = ["cxx_name", "doors_json", "groups_ld", "main_cc", "write_all"]

_SKELETONS: dict[str, Callable[[NodeDocument], str]] = {
    "hosted_processes": hosted.main_cc,
    "hosted_single": single_image.main_cc,
    "mcu_isolated": mcu_isolated.main_cc,
    "mcu_single": single_image.main_cc,
}


def main_cc(doc: NodeDocument) -> str:
    """`<node>_main.cc` for the runtime the plan chose."""
    return _SKELETONS[doc.runtime.kind](doc)


def write_all(docs: dict[str, str], out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for node, text in docs.items():
        doc = load_node_plan_text(text)
        with open(os.path.join(out_dir, f"{node}_main.cc"), "w", encoding="utf-8") as f:
            f.write(main_cc(doc))
        if doc.node.kind == "mcu":
            with open(os.path.join(out_dir, f"{node}_groups.ld"), "w", encoding="utf-8") as f:
                f.write(groups_ld(doc))
        else:
            with open(os.path.join(out_dir, f"{node}_doors.json"), "w", encoding="utf-8") as f:
                f.write(doors_json(doc))
