"""One call from inputs to per-node plan texts: load, validate, plan, serialize.

Used by the Bazel action, the CLI and the benchmark.  Python's cyclic garbage collector is
paused for the duration: planning allocates hundreds of thousands of long-lived objects and no
garbage cycles, so each collection would only re-scan them (on 10,000 nodes that was a third of
the run time and made planning grow faster than linearly).
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from ambience.diagnostics import Reporter
from ambience.interfaces import InterfaceRegistry, load_lidl_json
from ambience.model import load_description
from ambience.plan_json import JsonObject, plan_documents
from ambience.planner import Plan, make_plan


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compile_plan(desc: JsonObject, services: list[JsonObject], lidl_docs: list[tuple[str, JsonObject]]) -> Plan:
    """Raises DiagnosticError with every problem found."""
    with gc_paused():
        rep = Reporter()
        reg = InterfaceRegistry()
        for origin, doc in lidl_docs:
            load_lidl_json(doc, origin, reg, rep)
        dep = load_description(desc, services, rep)
        rep.check()
        return make_plan(dep, reg)


def compile_documents(desc: JsonObject, services: list[JsonObject],
                      lidl_docs: list[tuple[str, JsonObject]]) -> tuple[Plan, dict[str, str]]:
    with gc_paused():
        plan = compile_plan(desc, services, lidl_docs)
        return plan, plan_documents(plan)
