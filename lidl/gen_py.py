"""Python generator: dataclasses, IntEnums, union classes, wire descriptors, a client over a
transport and a dispatcher (lidl.runtime.codec), and per service an asyncio base class, an async
client over a channel and an async dispatcher (lidl.runtime.aio)."""
from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any

from lidl import schema as t
from lidl.diagnostics import Diagnostic, LidlError, Loc
from lidl.gen_common import py_module

_PRIM = {"bool": "BOOL", **{k: k.upper() for k in t.INTEGERS}, "f32": "F32", "f64": "F64"}
# struct-module formats of the numbers a span can be read in place as (bool is not: not every
# byte is a valid bool)
_FORMAT = {"i8": "b", "u8": "B", "i16": "h", "u16": "H", "i32": "i", "u32": "I", "i64": "q", "u64": "Q",
           "f32": "f", "f64": "d"}


def view_format(ty: t.TypeArg) -> str:
    """How a hosted zero-copy call shares a parameter of this type (the C++ SharingChannel's
    borrowed kinds): "" encoded, "s" string_view, else the format of a buffer read in place."""
    if isinstance(ty, t.StringView):
        return "s"
    if isinstance(ty, t.Bytes):
        return "B"
    if isinstance(ty, t.Vector) and isinstance(ty.elem, t.Prim) and ty.elem.name == "u8":
        return "B"  # the same C++ type as bytes (std::vector<std::uint8_t>)
    if isinstance(ty, t.Span) and isinstance(ty.elem, t.Prim):
        return _FORMAT.get(ty.elem.name, "")
    return ""


class _PyGen:
    def __init__(self, schema: t.Schema, path: str):
        self.schema = schema
        self.file = schema.files[path]
        self.imports = {}  # source path -> alias
        for i, dep in enumerate(self.file.imports):
            self.imports[dep] = f"_i{i}"

    def ref(self, fullname: str, suffix: str) -> str:
        d = self.schema.decls[fullname]
        if d.file == self.file.path:
            return f"{d.name}{suffix}"
        dep = next((a for p, a in self.imports.items() if p == d.file), None)
        if dep is None:  # reached through another file's type: import that module too
            dep = f"_i{len(self.imports)}"
            self.imports[d.file] = dep
        return f"{dep}.{d.name}{suffix}"

    def wire(self, ty: t.TypeArg) -> str:
        if isinstance(ty, int):
            return str(ty)
        if isinstance(ty, str):
            return ty
        if isinstance(ty, t.Prim):
            return f"_c.{_PRIM[ty.name]}"
        if isinstance(ty, (t.String, t.StringView)):
            return "_c.STRING"
        if isinstance(ty, t.Bytes):
            return "_c.BYTES"
        if isinstance(ty, (t.Vector, t.Span)):
            return f"_c.Vector({self.wire(ty.elem)})"
        if isinstance(ty, t.Optional):
            return f"_c.Optional({self.wire(ty.elem)})"
        if isinstance(ty, t.Array):
            return f"_c.Array({self.wire(ty.elem)}, {self.wire(ty.length)})"
        if isinstance(ty, t.TypeVar):
            return ty.name
        if isinstance(ty, t.Named):
            if ty.args:
                return f"{self.ref(ty.fullname, '_wire')}({', '.join(self.wire(a) for a in ty.args)})"
            return self.ref(ty.fullname, "_WIRE")
        raise TypeError(ty)

    def hint(self, ty: t.TypeArg) -> str:
        if isinstance(ty, t.Prim):
            return "bool" if ty.name == "bool" else ("float" if ty.name in t.FLOATS else "int")
        if isinstance(ty, (t.String, t.StringView)):
            return "str"
        if isinstance(ty, t.Bytes):
            return "bytes"
        if isinstance(ty, (t.Vector, t.Span, t.Array)):
            return f"list[{self.hint(ty.elem)}]"
        if isinstance(ty, t.Optional):
            return f"typing.Optional[{self.hint(ty.elem)}]"
        if isinstance(ty, t.Named):
            return self.ref(ty.fullname, "")
        return "typing.Any"

    def default(self, ty: t.TypeArg) -> str:
        """A dataclass default (either '= x' or '= dataclasses.field(...)')."""
        if isinstance(ty, t.Prim):
            return "False" if ty.name == "bool" else ("0.0" if ty.name in t.FLOATS else "0")
        if isinstance(ty, t.String):
            return '""'
        if isinstance(ty, t.Bytes):
            return 'b""'
        if isinstance(ty, t.Optional):
            return "None"
        if isinstance(ty, t.Vector):
            return "dataclasses.field(default_factory=list)"
        return f"dataclasses.field(default_factory=lambda: {self.value_default(ty)})"

    def value_default(self, ty: t.TypeArg) -> str:
        if isinstance(ty, t.Prim):
            return "False" if ty.name == "bool" else ("0.0" if ty.name in t.FLOATS else "0")
        if isinstance(ty, t.String):
            return '""'
        if isinstance(ty, t.Bytes):
            return 'b""'
        if isinstance(ty, t.Optional):
            return "None"
        if isinstance(ty, t.Vector):
            return "[]"
        if isinstance(ty, t.Array):
            if isinstance(ty.length, int):
                return f"[{self.value_default(ty.elem)} for _ in range({ty.length})]"
            return "[]"
        if isinstance(ty, t.Named):
            d = self.schema.decls[ty.fullname]
            if isinstance(d, t.REnum):
                return f"{self.ref(ty.fullname, '')}.{d.values[0].name}"
            if isinstance(d, t.RUnion):
                v0 = d.variants[0]
                return f"{self.ref(ty.fullname, '')}({v0.name!r}, {self.value_default(v0.type)})"
            assert isinstance(d, t.RStruct)  # a type names a struct, enum or union, never a service
            if d.params:
                env = {p.name: a for p, a in zip(d.params, ty.args, strict=False)}
                args = ", ".join(f"{f.name}={self.value_default(t.substitute(f.type, env))}" for f in d.fields)
                return f"{self.ref(ty.fullname, '')}({args})"
            return f"{self.ref(ty.fullname, '')}()"
        return "None"

    @staticmethod
    def docstring(doc: str, indent: str) -> list[str]:
        if not doc:
            return []
        body = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        lines = body.split("\n")
        if len(lines) == 1:
            return [f'{indent}"""{lines[0]}"""']
        return [f'{indent}"""{lines[0]}'] + [f"{indent}{ln}" if ln else "" for ln in lines[1:]] + [f'{indent}"""']

    def enum(self, d: t.REnum) -> list[str]:
        out = [f"class {d.name}(enum.IntEnum):"] + self.docstring(d.doc, "    ")
        for v in d.values:
            out += [f"    #: {ln}" for ln in v.doc.split("\n")] if v.doc else []
            out.append(f"    {v.name} = {v.value}")
        out += ["", "", f"{d.name}_WIRE = _c.Enum({d.fullname!r}, _c.{_PRIM[d.underlying]}, {d.name})"]
        return out

    def struct(self, d: t.RStruct) -> list[str]:
        out = ["@dataclasses.dataclass", f"class {d.name}:"] + self.docstring(d.doc, "    ")
        for f in d.fields:
            out += [f"    #: {ln}" for ln in f.doc.split("\n")] if f.doc else []
            if d.params:
                out.append(f"    {f.name}: typing.Any = None")
            else:
                out.append(f"    {f.name}: {self.hint(f.type)} = {self.default(f.type)}")
        if not d.fields and not d.doc:
            out.append("    pass")
        out += ["", ""]
        fields = ", ".join(f"({f.name!r}, {self.wire(f.type)})" for f in d.fields)
        if d.params:
            pnames = [p.name for p in d.params]
            out += [f"_{d.name}_instances: dict = {{}}", "", "",
                    f"def {d.name}_wire({', '.join(pnames)}):",
                    f'    """Wire descriptor of {d.fullname}<{", ".join(pnames)}> for the given arguments."""',
                    f"    key = ({', '.join(pnames)},)",
                    f"    if key not in _{d.name}_instances:",
                    f"        name = {d.fullname!r} + '<' + ','.join(str(getattr(a, 'name', a)) for a in key) + '>'",
                    f"        _{d.name}_instances[key] = _c.Struct(name, {d.name}, lambda: [{fields}])",
                    f"    return _{d.name}_instances[key]"]
        else:
            out.append(f"{d.name}_WIRE = _c.Struct({d.fullname!r}, {d.name}, lambda: [{fields}])")
        return out

    def union(self, d: t.RUnion) -> list[str]:
        tags = ", ".join(repr(v.name) for v in d.variants)
        out = [f"class {d.name}(_c.UnionValue):"] + self.docstring(d.doc or f"Tagged union: one of {tags}.", "    ")
        out.append(f"    TAGS = ({tags},)")
        out += ["", "", f"{d.name}_WIRE = _c.Union({d.fullname!r}, {d.name}, lambda: ["
                + ", ".join(f"({v.name!r}, {self.wire(v.type)})" for v in d.variants) + "])"]
        return out

    def service(self, s: t.RService) -> list[str]:
        out: list[str] = []
        infos = []
        for p in s.procedures:
            base = f"_{s.name}_{p.name}"
            pf = ", ".join(f"({x.name!r}, {self.wire(x.type)})" for x in p.params)
            out += ["@dataclasses.dataclass", f"class {base}_Params:"]
            out += [f"    {x.name}: typing.Any = None" for x in p.params] or ["    pass"]
            out += ["", "", "@dataclasses.dataclass", f"class {base}_Result:"]
            out += ["    value: typing.Any = None"] if p.result is not None else ["    pass"]
            rf = f"('value', {self.wire(p.result)})" if p.result is not None else ""
            out += ["", "",
                    f"{base} = _c.ProcedureInfo({p.name!r}, {p.id}, "
                    f"_c.Struct({s.fullname + '.' + p.name + '.params'!r}, {base}_Params, lambda: [{pf}]), "
                    f"_c.Struct({s.fullname + '.' + p.name + '.result'!r}, {base}_Result, lambda: [{rf}]), "
                    f"({''.join(repr(x.name) + ', ' for x in p.params)}), {p.result is not None}, "
                    f"idempotent={'idempotent' in p.attributes}, "
                    f"views=({''.join(repr(view_format(x.type)) + ', ' for x in p.params)}))", "", ""]
            infos.append(base)
        out += [f"class {s.name}:"] + self.docstring(s.doc or f"Interface {s.fullname}.", "    ")
        out += [f"    SERVICE = {s.fullname!r}", f"    SCHEMA_HASH = 0x{s.schema_hash:016x}",
                f"    PROCEDURES = ({''.join(i + ', ' for i in infos)})"]
        for p in s.procedures:
            args = "".join(f", {x.name}: {self.hint(x.type)}" for x in p.params)
            res = "None" if p.result is None else self.hint(p.result)
            out += ["", f"    def {p.name}(self{args}) -> {res}:"]
            out += self.docstring(p.doc, "        ")
            out.append("        raise NotImplementedError")
        out += ["", "", f"class {s.name}Client(_c.Client, {s.name}):",
                f'    """Calls {s.fullname} over a transport (an object with call(bytes) -> bytes)."""',
                f"    SERVICE = {s.fullname!r}", f"    SCHEMA_HASH = 0x{s.schema_hash:016x}"]
        for p, info in zip(s.procedures, infos, strict=True):
            args = "".join(f", {x.name}" for x in p.params)
            tup = "".join(f"{x.name}, " for x in p.params)
            out += ["", f"    def {p.name}(self{args}):", f"        return self._call({info}, ({tup}))"]
        out += ["", "", f"def {s.name}_dispatch(impl: {s.name}, request: bytes) -> bytes:",
                f'    """Serve one request message with a Python implementation of {s.fullname}."""',
                f"    return _c.dispatch(impl, {s.name}.SCHEMA_HASH, {s.name}.PROCEDURES, request)"]
        return out + ["", ""] + self.async_service(s, infos)

    def async_hint(self, ty: t.TypeArg) -> str:
        fmt = view_format(ty)
        if fmt == "s":
            return "str"
        return "memoryview" if fmt else self.hint(ty)

    def async_service(self, s: t.RService, infos: list[str]) -> list[str]:
        out = [f"class {s.name}Async:"]
        out += self.docstring(f"Async (asyncio) interface {s.fullname}: Python services implement it; "
                              "spans and bytes parameters\narrive as read-only memoryviews.", "    ")
        out += [f"    SERVICE = {s.fullname!r}", f"    SCHEMA_HASH = 0x{s.schema_hash:016x}",
                f"    PROCEDURES = ({''.join(i + ', ' for i in infos)})"]
        for p in s.procedures:
            args = "".join(f", {x.name}: {self.async_hint(x.type)}" for x in p.params)
            res = "None" if p.result is None else self.hint(p.result)
            out += ["", f"    async def {p.name}(self{args}) -> {res}:"]
            out += self.docstring(p.doc, "        ")
            out.append("        raise NotImplementedError")
        out += ["", "", f"class {s.name}AsyncClient(_aio.AsyncClient, {s.name}Async):",
                f'    """Calls {s.fullname} over an async channel (await channel.invoke(procedure, args))."""',
                f"    SERVICE = {s.fullname!r}", f"    SCHEMA_HASH = 0x{s.schema_hash:016x}"]
        for p, info in zip(s.procedures, infos, strict=True):
            args = "".join(f", {x.name}" for x in p.params)
            tup = "".join(f"{x.name}, " for x in p.params)
            out += ["", f"    async def {p.name}(self{args}):", f"        return await self._call({info}, ({tup}))"]
        out += ["", "", f"async def {s.name}_dispatch_async(impl: {s.name}Async, request: bytes) -> bytes:",
                f'    """Serve one request message with an async Python implementation of {s.fullname}."""',
                f"    return await _aio.dispatch_async(impl, {s.name}Async.SCHEMA_HASH, {s.name}Async.PROCEDURES, "
                "request)"]
        return out

    def generate(self) -> str:
        body: list[str] = []
        generators: dict[type, Callable[[Any], list[str]]] = {
            t.REnum: self.enum, t.RStruct: self.struct, t.RUnion: self.union, t.RService: self.service}
        for d in self.file.decls:
            body += generators[type(d)](d) + ["", ""]
        head = [f"# Generated by lidlc from {self.file.source}. Do not edit.",
                f'"""lidl interface module for namespace {self.file.namespace} ({self.file.source})."""',
                "from __future__ import annotations", "", "import dataclasses", "import enum", "import typing", "",
                "from lidl.runtime import aio as _aio", "from lidl.runtime import codec as _c"]
        bad: list[Diagnostic] = []
        for p, alias in sorted(self.imports.items(), key=lambda kv: int(kv[1][2:])):
            module = py_module(self.schema.files[p].source)
            if not all(part.isidentifier() and not keyword.iskeyword(part) for part in module.split(".")):
                bad.append(Diagnostic(Loc(p, 1, 1), f"the generated Python module of this file would be "
                                      f"'{module}', which Python cannot import: name lidl files and their "
                                      "directories with letters, digits and '_'"))
            head.append(f"import {module} as {alias}")
        if bad:
            raise LidlError(bad, {})
        head += ["", f"NAMESPACE = {self.file.namespace!r}", f"SOURCE = {self.file.source!r}", "", ""]
        text = "\n".join(head + body).rstrip("\n") + "\n"
        return text


def generate_py(schema: t.Schema, path: str) -> str:
    return _PyGen(schema, path).generate()
