"""The parsed (unresolved) lidl model: plain dataclasses produced by lidl.parser."""
from __future__ import annotations

from dataclasses import dataclass, field

from lidl.diagnostics import Loc


@dataclass
class IntArg:
    value: int
    loc: Loc


@dataclass
class TypeExpr:
    """A type as written: a (possibly qualified) name and optional generic arguments."""

    name: str
    args: list[TypeExpr | IntArg]
    loc: Loc
    has_args: bool = False  # `Foo<>` is a syntax error, so this equals bool(args)


@dataclass
class Field:
    name: str
    type: TypeExpr
    doc: str
    loc: Loc


@dataclass
class TypeParam:
    name: str
    kind: str | None  # None: a type parameter; otherwise the integer type of a value parameter
    loc: Loc
    kind_loc: Loc | None = None


@dataclass
class StructDecl:
    name: str
    params: list[TypeParam]
    fields: list[Field]
    doc: str
    loc: Loc  # location of the name


@dataclass
class EnumValue:
    name: str
    value: int | None
    doc: str
    loc: Loc
    value_loc: Loc | None


@dataclass
class EnumDecl:
    name: str
    underlying: str | None
    underlying_loc: Loc | None
    values: list[EnumValue]
    doc: str
    loc: Loc


@dataclass
class UnionDecl:
    name: str
    variants: list[Field]
    doc: str
    loc: Loc


@dataclass
class Attribute:
    name: str
    args: list[object]
    loc: Loc
    has_args: bool


@dataclass
class Param:
    name: str
    type: TypeExpr
    loc: Loc


@dataclass
class Procedure:
    name: str
    params: list[Param]
    result: TypeExpr
    attributes: list[Attribute]
    doc: str
    loc: Loc


@dataclass
class BaseRef:
    name: str
    loc: Loc


@dataclass
class ServiceDecl:
    name: str
    extends: list[BaseRef]
    procedures: list[Procedure]
    doc: str
    loc: Loc


Decl = StructDecl | EnumDecl | UnionDecl | ServiceDecl


@dataclass
class Import:
    path: str
    loc: Loc


@dataclass
class Namespace:
    name: str
    loc: Loc


@dataclass
class SourceFile:
    path: str
    namespaces: list[Namespace] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    decls: list[Decl] = field(default_factory=list)
    # Order in which namespace/import/declarations appeared, to diagnose a late `namespace`.
    late_namespace_loc: Loc | None = None

    @property
    def namespace(self) -> str | None:
        return self.namespaces[0].name if self.namespaces else None
