"""The planner's view of lidl interfaces, read from the lidl compiler's JSON descriptions.

Only what the planner needs: which services exist, what they extend (for type checks that
respect inheritance), and their procedures (for capabilities).  The JSON shape is the contract
`{"lidl_json": 1, "services": [...], ...}` produced by `lidl_library`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ambience.diagnostics import Location, Reporter


@dataclass(frozen=True)
class Procedure:
    name: str
    id: int
    declared_in: str
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interface:
    name: str  # fully qualified lidl service name, e.g. "camera_trap.FrameHandler"
    extends: tuple[str, ...]
    procedures: tuple[Procedure, ...]
    schema_hash: str
    source: str
    py_module: str = ""  # the generated Python module (lidl JSON "py_module"), for Python groups


@dataclass
class InterfaceRegistry:
    interfaces: dict[str, Interface] = field(default_factory=dict)

    def get(self, name: str) -> Interface | None:
        return self.interfaces.get(name)

    def ancestors(self, name: str) -> set[str]:
        """`name` and every service it extends, transitively."""
        out: set[str] = set()
        todo = [name]
        while todo:
            n = todo.pop()
            if n in out:
                continue
            out.add(n)
            iface = self.interfaces.get(n)
            if iface is not None:
                todo.extend(iface.extends)
        return out

    def conforms(self, provided: str, required: str) -> bool:
        """True when an implementation of `provided` can be used where `required` is expected."""
        return required in self.ancestors(provided)


def load_lidl_json(data: dict[str, Any], origin: str, registry: InterfaceRegistry, reporter: Reporter) -> None:
    """Adds the services of one lidl JSON document; malformed documents become diagnostics."""
    loc = Location(origin)
    if not isinstance(data, dict) or data.get("lidl_json") != 1:
        reporter.error(loc, "not a lidl interface description (expected \"lidl_json\": 1)")
        return
    source = str(data.get("source", origin))
    # older descriptions lack "py_module": lidl's rule (gen_common.py_module) from the source path
    stem = source[:-5] if source.endswith(".lidl") else source
    py_module = str(data.get("py_module") or ".".join(p for p in stem.split("/") if p not in ("", ".")) + "_lidl")
    for svc in data.get("services", []):
        try:
            name = svc["name"]
            procs = tuple(
                Procedure(
                    name=p["name"],
                    id=int(p["id"]),
                    declared_in=p.get("declared_in", name),
                    attributes=tuple(p.get("attributes", [])),
                )
                for p in svc.get("procedures", [])
            )
            iface = Interface(
                name=name,
                extends=tuple(svc.get("extends", [])),
                procedures=procs,
                schema_hash=str(svc.get("schema_hash", "")),
                source=source,
                py_module=py_module,
            )
        except (KeyError, TypeError, ValueError) as e:
            reporter.error(loc, f"malformed service entry in lidl interface description: {e!r}")
            continue
        old = registry.interfaces.get(name)
        if old is not None and old != iface:
            reporter.error(loc, f"interface '{name}' is described twice, differently ({old.source} and {source})")
            continue
        registry.interfaces[name] = iface


def load_lidl_files(paths: list[str], registry: InterfaceRegistry, reporter: Reporter) -> None:
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            reporter.error(Location(path), f"cannot read lidl interface description: {e}")
            continue
        load_lidl_json(data, path, registry, reporter)
