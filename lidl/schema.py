"""Resolved lidl types and the checked schema handed to the generators."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast, overload

from lidl.diagnostics import Loc

INTEGERS = {
    "i8": (1, -(1 << 7), (1 << 7) - 1),
    "i16": (2, -(1 << 15), (1 << 15) - 1),
    "i32": (4, -(1 << 31), (1 << 31) - 1),
    "i64": (8, -(1 << 63), (1 << 63) - 1),
    "u8": (1, 0, (1 << 8) - 1),
    "u16": (2, 0, (1 << 16) - 1),
    "u32": (4, 0, (1 << 32) - 1),
    "u64": (8, 0, (1 << 64) - 1),
}
FLOATS = {"f32": 4, "f64": 8}
SCALARS = {"bool": 1, **{k: v[0] for k, v in INTEGERS.items()}, **FLOATS}


@dataclass(frozen=True)
class Prim:
    name: str  # bool, i8..i64, u8..u64, f32, f64


@dataclass(frozen=True)
class String:
    pass


@dataclass(frozen=True)
class Bytes:
    pass


@dataclass(frozen=True)
class Vector:
    elem: Type


@dataclass(frozen=True)
class Array:
    elem: Type
    length: int | str  # str: an integer parameter of the enclosing generic struct


@dataclass(frozen=True)
class Optional:
    elem: Type


@dataclass(frozen=True)
class StringView:
    pass


@dataclass(frozen=True)
class Span:
    elem: Type


@dataclass(frozen=True)
class Named:
    fullname: str
    kind: str  # "struct" | "enum" | "union"
    args: tuple[TypeArg, ...] = ()  # Type or int or str (integer parameter name)


@dataclass(frozen=True)
class TypeVar:
    name: str


Type = Prim | String | Bytes | Vector | Array | Optional | StringView | Span | Named | TypeVar
TypeArg = Type | int | str  # an argument of a generic struct: a type, an integer, an integer parameter


def canon(t: TypeArg) -> str:
    """The canonical spelling of a type, used in JSON, hashes and generated names."""
    if isinstance(t, int):
        return str(t)
    if isinstance(t, str):
        return t
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, String):
        return "string"
    if isinstance(t, Bytes):
        return "bytes"
    if isinstance(t, StringView):
        return "string_view"
    if isinstance(t, Vector):
        return f"vector<{canon(t.elem)}>"
    if isinstance(t, Span):
        return f"span<{canon(t.elem)}>"
    if isinstance(t, Optional):
        return f"optional<{canon(t.elem)}>"
    if isinstance(t, Array):
        return f"array<{canon(t.elem)},{canon(t.length)}>"
    if isinstance(t, Named):
        if t.args:
            return f"{t.fullname}<{','.join(canon(a) for a in t.args)}>"
        return t.fullname
    if isinstance(t, TypeVar):
        return t.name
    raise TypeError(t)


def is_view(t: TypeArg) -> bool:
    return isinstance(t, (StringView, Span))


def contains_view(t: TypeArg) -> bool:
    if is_view(t):
        return True
    if isinstance(t, (Vector, Optional, Array)):
        return contains_view(t.elem)
    if isinstance(t, Named):
        return any(contains_view(a) for a in t.args if not isinstance(a, (int, str)))
    return False


@overload
def substitute(t: Type, env: dict[str, TypeArg]) -> Type: ...
@overload
def substitute(t: int | str, env: dict[str, TypeArg]) -> TypeArg: ...
def substitute(t: TypeArg, env: dict[str, TypeArg]) -> TypeArg:
    """Replace type variables and integer parameters using env (name -> Type | int)."""
    if isinstance(t, TypeVar):
        return env.get(t.name, t)  # a type parameter's argument is a type
    if isinstance(t, str):
        return env.get(t, t)
    if isinstance(t, Vector):
        return Vector(substitute(t.elem, env))
    if isinstance(t, Span):
        return Span(substitute(t.elem, env))
    if isinstance(t, Optional):
        return Optional(substitute(t.elem, env))
    if isinstance(t, Array):
        return Array(substitute(t.elem, env), cast("int | str", substitute(t.length, env)))
    if isinstance(t, Named):
        return Named(t.fullname, t.kind, tuple(substitute(a, env) for a in t.args))
    return t


# --- checked declarations ---------------------------------------------------------------


@dataclass
class RField:
    name: str
    type: Type
    doc: str
    loc: Loc


@dataclass
class RTypeParam:
    name: str
    kind: str | None  # None: type parameter; else an integer type name


@dataclass
class RStruct:
    fullname: str
    name: str
    namespace: str
    params: list[RTypeParam]
    fields: list[RField]
    doc: str
    file: str
    loc: Loc
    kind: str = "struct"


@dataclass
class REnumValue:
    name: str
    value: int
    doc: str


@dataclass
class REnum:
    fullname: str
    name: str
    namespace: str
    underlying: str
    values: list[REnumValue]
    doc: str
    file: str
    loc: Loc
    kind: str = "enum"


@dataclass
class RUnion:
    fullname: str
    name: str
    namespace: str
    variants: list[RField]
    doc: str
    file: str
    loc: Loc
    kind: str = "union"


@dataclass
class RParam:
    name: str
    type: Type


@dataclass
class RProcedure:
    name: str
    id: int
    declared_in: str
    params: list[RParam]
    result: Type | None  # None: void
    attributes: list[str]
    doc: str
    has_views: bool


@dataclass
class RService:
    fullname: str
    name: str
    namespace: str
    extends: list[str]
    procedures: list[RProcedure]  # inherited first, then own; ids are positions
    doc: str
    file: str
    loc: Loc
    schema_hash: int = 0
    kind: str = "service"

    def own_procedures(self) -> list[RProcedure]:
        return [p for p in self.procedures if p.declared_in == self.fullname]


Decl = RStruct | REnum | RUnion | RService


@dataclass
class CheckedFile:
    path: str  # as given / resolved (used in diagnostics)
    source: str  # the path generated code reports (workspace-relative when known)
    namespace: str
    imports: list[str]  # paths of directly imported files
    decls: list[Decl]  # declared in this file, in source order


@dataclass
class Schema:
    files: dict[str, CheckedFile] = field(default_factory=dict)
    decls: dict[str, Decl] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)  # paths of the files named by the user
