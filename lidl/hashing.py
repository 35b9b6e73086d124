"""Schema hash: FNV-1a 64 over a canonical text of a service and every type it reaches.

Two builds agree on the hash exactly when they agree on procedure ids, names, parameter and result
types, attributes and the full structure of every reachable type (docs and file layout excluded).
"""
from __future__ import annotations

from lidl import schema as t

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def _named_in(ty: t.TypeArg, out: list[str]) -> None:
    if isinstance(ty, (t.Vector, t.Optional, t.Array, t.Span)):
        _named_in(ty.elem, out)
    elif isinstance(ty, t.Named):
        out.append(ty.fullname)
        for a in ty.args:
            if not isinstance(a, (int, str)):
                _named_in(a, out)


def reachable_types(schema: t.Schema, roots: list[t.Type]) -> list[str]:
    """Full names of every declared type reachable from the given types, sorted."""
    todo: list[str] = []
    for r in roots:
        _named_in(r, todo)
    seen: set[str] = set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        d = schema.decls[n]
        if isinstance(d, t.RStruct):
            for f in d.fields:
                _named_in(f.type, todo)
        elif isinstance(d, t.RUnion):
            for f in d.variants:
                _named_in(f.type, todo)
    return sorted(seen)


def type_definition_text(d: t.Decl) -> str:
    if isinstance(d, t.RStruct):
        params = ""
        if d.params:
            params = "<" + ",".join(p.name + (":" + p.kind if p.kind else "") for p in d.params) + ">"
        return f"struct {d.fullname}{params}{{" + "".join(f"{f.name}:{t.canon(f.type)};" for f in d.fields) + "}"
    if isinstance(d, t.REnum):
        return f"enum {d.fullname}:{d.underlying}{{" + ",".join(f"{v.name}={v.value}" for v in d.values) + "}"
    if isinstance(d, t.RUnion):
        return f"union {d.fullname}{{" + "".join(f"{f.name}:{t.canon(f.type)};" for f in d.variants) + "}"
    raise TypeError(d)


def canonical_text(schema: t.Schema, svc: t.RService) -> str:
    lines = ["lidl-wire 1", f"service {svc.fullname}"]
    roots = []
    for p in svc.procedures:
        params = ",".join(f"{x.name}:{t.canon(x.type)}" for x in p.params)
        result = "void" if p.result is None else t.canon(p.result)
        attrs = "".join(f" @{a}" for a in p.attributes)
        lines.append(f"proc {p.id} {p.name}({params})->{result}{attrs}")
        roots += [x.type for x in p.params] + ([p.result] if p.result is not None else [])
    for n in reachable_types(schema, roots):
        lines.append(type_definition_text(schema.decls[n]))
    return "\n".join(lines) + "\n"


def schema_hash(schema: t.Schema, svc: t.RService) -> int:
    return fnv1a64(canonical_text(schema, svc).encode("utf-8"))
