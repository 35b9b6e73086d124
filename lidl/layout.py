"""Wire layout (size, alignment, field offsets) of resolved types, as lidl/WIRE.md defines it."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from lidl import schema as t


def align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


F = TypeVar("F", bound=Callable[..., Any])


def _memo(kind: str) -> Callable[[F], F]:
    """Caches a (schema, type) function per schema: generators ask about every struct, and
    containment chains would otherwise be walked again for each of them."""

    def wrap(fn: F) -> F:
        def cached(schema: t.Schema, ty: Any, *rest: Any) -> Any:
            cache = schema.__dict__.setdefault("_layout_cache", {})
            key = (kind, t.canon(ty) if not isinstance(ty, t.RStruct) else ty.fullname, rest)
            if key not in cache:
                cache[key] = fn(schema, ty, *rest)
            return cache[key]

        return cast(F, cached)

    return wrap


@_memo("size_align")
def size_align(schema: t.Schema, ty: t.TypeArg) -> tuple[int, int]:
    if isinstance(ty, t.Prim):
        n = t.SCALARS[ty.name]
        return n, n
    if isinstance(ty, (t.String, t.Bytes, t.Vector, t.StringView, t.Span)):
        return 8, 4
    if isinstance(ty, t.Array):
        s, a = size_align(schema, ty.elem)
        return s * int(ty.length), a
    if isinstance(ty, t.Optional):
        s, a = size_align(schema, ty.elem)
        return align_up(a + s, a), a
    if isinstance(ty, t.Named):
        d = schema.decls[ty.fullname]
        if isinstance(d, t.REnum):
            n = t.SCALARS[d.underlying]
            return n, n
        if isinstance(d, t.RUnion):
            return 8, 4
        assert isinstance(d, t.RStruct)  # a type names a struct, enum or union, never a service
        _, size, align = struct_layout(schema, d, ty.args)
        return size, align
    raise TypeError(f"no layout for {t.canon(ty)}")


def struct_layout(schema: t.Schema, d: t.RStruct, args: tuple[t.TypeArg, ...] = ()) -> tuple[list[int], int, int]:
    env = {p.name: a for p, a in zip(d.params, args, strict=False)}
    offsets = []
    off, align = 0, 1
    for f in d.fields:
        s, a = size_align(schema, t.substitute(f.type, env))
        off = align_up(off, a)
        offsets.append(off)
        off += s
        align = max(align, a)
    return offsets, align_up(off, align), align


@_memo("is_plain")
def is_plain(schema: t.Schema, ty: t.TypeArg) -> bool:
    """Same bytes layout in memory (C++) and on the wire, so a span can point into a message."""
    if isinstance(ty, t.Prim):
        return True
    if isinstance(ty, t.Array):
        return isinstance(ty.length, int) and is_plain(schema, ty.elem)
    if isinstance(ty, t.Named):
        d = schema.decls[ty.fullname]
        if isinstance(d, t.REnum):
            return True
        if isinstance(d, t.RStruct) and d.fields:
            env = {p.name: a for p, a in zip(d.params, ty.args, strict=False)}
            return all(is_plain(schema, t.substitute(f.type, env)) for f in d.fields)
    return False


@_memo("has_padding")
def has_padding(schema: t.Schema, ty: t.TypeArg) -> bool:
    """True if the inline part has bytes that belong to no field (only meaningful for plain types)."""
    if isinstance(ty, t.Prim):
        return False
    if isinstance(ty, t.Array):
        return has_padding(schema, ty.elem)
    if isinstance(ty, t.Named):
        d = schema.decls[ty.fullname]
        if isinstance(d, t.REnum):
            return False
        if isinstance(d, t.RStruct):
            env = {p.name: a for p, a in zip(d.params, ty.args, strict=False)}
            offsets, size, _ = struct_layout(schema, d, ty.args)
            covered = 0
            for f, off in zip(d.fields, offsets, strict=True):
                ft = t.substitute(f.type, env)
                if off != covered or has_padding(schema, ft):
                    return True
                covered = off + size_align(schema, ft)[0]
            return covered != size
    return True
