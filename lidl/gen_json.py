"""The JSON interface description read by the deployment compiler (format "lidl_json": 1)."""
from __future__ import annotations

import json
from typing import Any

from lidl import schema as t
from lidl.gen_common import cpp_header, py_module


def _type_json(d: t.RStruct | t.REnum | t.RUnion) -> dict[str, Any]:
    out: dict[str, Any] = {"name": d.fullname, "kind": d.kind, "doc": d.doc}
    if isinstance(d, t.RStruct):
        if d.params:
            out["type_params"] = [{"name": p.name, "kind": p.kind or "type"} for p in d.params]
        out["fields"] = [{"name": f.name, "type": t.canon(f.type), "doc": f.doc} for f in d.fields]
    elif isinstance(d, t.RUnion):
        out["fields"] = [{"name": f.name, "type": t.canon(f.type), "tag": i, "doc": f.doc}
                         for i, f in enumerate(d.variants)]
    elif isinstance(d, t.REnum):
        out["underlying"] = d.underlying
        out["values"] = [{"name": v.name, "value": v.value, "doc": v.doc} for v in d.values]
    return out


def _service_json(s: t.RService) -> dict[str, Any]:
    return {
        "name": s.fullname,
        "cpp_class": "::" + s.fullname.replace(".", "::"),
        "extends": list(s.extends),
        "doc": s.doc,
        "schema_hash": f"{s.schema_hash:016x}",
        "procedures": [
            {
                "name": p.name,
                "id": p.id,
                "declared_in": p.declared_in,
                "params": [{"name": x.name, "type": t.canon(x.type)} for x in p.params],
                "result": "void" if p.result is None else t.canon(p.result),
                "attributes": list(p.attributes),
                "has_views": p.has_views,
                "doc": p.doc,
            }
            for p in s.procedures
        ],
    }


def interface_description(schema: t.Schema, path: str) -> dict[str, Any]:
    f = schema.files[path]
    return {
        "lidl_json": 1,
        "source": f.source,
        "namespace": f.namespace,
        "imports": [schema.files[i].source for i in f.imports],
        "cpp_header": cpp_header(f.source),
        "py_module": py_module(f.source),
        "types": [_type_json(d) for d in f.decls if not isinstance(d, t.RService)],
        "services": [_service_json(d) for d in f.decls if isinstance(d, t.RService)],
    }


def generate_json(schema: t.Schema, path: str) -> str:
    return json.dumps(interface_description(schema, path), indent=2, sort_keys=False) + "\n"
