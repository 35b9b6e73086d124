"""Helpers shared by the generators."""
from __future__ import annotations

import os

from lidl import schema as t


def module_stem(source: str) -> str:
    """'services/camera_trap/frames.lidl' -> 'services/camera_trap/frames'."""
    return source[:-5] if source.endswith(".lidl") else source


def py_module(source: str) -> str:
    """Python module that holds the generated code for a source file."""
    stem = module_stem(source).replace(os.sep, "/")
    return ".".join(p for p in stem.split("/") if p not in ("", ".")) + "_lidl"


def cpp_header(source: str) -> str:
    return module_stem(source).replace(os.sep, "/") + ".lidl.hpp"


def struct_like(schema: t.Schema) -> list[t.RStruct | t.RUnion | t.REnum]:
    return [d for d in schema.decls.values() if isinstance(d, (t.RStruct, t.RUnion, t.REnum))]


def doc_lines(doc: str) -> list[str]:
    return doc.split("\n") if doc else []
