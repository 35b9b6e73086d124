"""Load, resolve and check lidl files, producing a lidl.types.Schema or every error found.

Phases: parse the root files and their imports (cycles reported at the import that closes them),
check names, build the global declaration table, resolve every type expression (arity, argument
kinds, views, void), check enums/unions/services, then look for types that contain themselves.
Each phase keeps going after an error so that one run reports as much as it can.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, overload

import networkx as nx

from lidl import model as m
from lidl import schema as t
from lidl.diagnostics import Diagnostic, DiagnosticSink, LidlError, Loc
from lidl.hashing import schema_hash
from lidl.parser import parse

KEYWORDS = {"namespace", "import", "struct", "enum", "union", "service", "extends"}
BUILTIN_TYPES = set(t.SCALARS) | {"string", "bytes", "vector", "array", "optional",
                                  "string_view", "span", "void"}
CPP_KEYWORDS = set("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export extern
false float for friend goto if inline int long mutable namespace new noexcept not not_eq nullptr
operator or or_eq private protected public register reinterpret_cast requires return short signed
sizeof static static_assert static_cast struct switch template this thread_local throw true try
typedef typeid typename union unsigned using virtual void volatile wchar_t while xor xor_eq
""".split())
PY_KEYWORDS = set("""
False None True and as assert async await break class continue def del elif else except finally
for from global if import in is lambda nonlocal not or pass raise return try while with yield
""".split())
ATTRIBUTES = {"idempotent": "safe to retry after a timeout or a restart of the callee"}
MAX_ARRAY_LENGTH = 1 << 20


ResolveContext = Literal["field", "param", "result", "arg"]  # where a type expression appears


@dataclass
class Options:
    search_paths: tuple[str, ...] = ()
    # Maps a file path as opened to the path generated code reports (e.g. workspace-relative).
    strip_prefixes: tuple[str, ...] = ()
    # Appended to "cannot find imported file" (Bazel: the dependency may be missing from deps).
    missing_import_hint: str = ""


def _reserved_reason(name: str) -> str | None:
    if name in KEYWORDS:
        return "a lidl keyword"
    if name in CPP_KEYWORDS:
        return "a C++ keyword"
    if name in PY_KEYWORDS:
        return "a Python keyword"
    if name == "self":
        return "the first parameter of every generated Python method"
    if name.startswith("_"):
        return "names starting with '_' are reserved for generated code"
    return None


class _Loader:
    def __init__(self, sink: DiagnosticSink, options: Options):
        self.sink = sink
        self.options = options
        self.sources: dict[str, str] = {}
        self.files: dict[str, m.SourceFile] = {}
        self.imports_of: dict[str, list[str]] = {}
        self.failed: set[str] = set()

    def read(self, path: str, loc: Loc | None) -> bool:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            self.sink.error(loc or Loc(path, 1, 1), f"cannot open '{path}': no such file")
            return False
        except UnicodeDecodeError as exc:
            self.sink.error(loc or Loc(path, 1, 1), f"'{path}' is not valid UTF-8 ({exc.reason})")
            return False
        except OSError as exc:
            self.sink.error(loc or Loc(path, 1, 1), f"cannot open '{path}': {exc.strerror}")
            return False
        self.sources[path] = text
        return True

    def resolve_import(self, importer: str, imp: m.Import) -> str | None:
        candidates = [os.path.normpath(os.path.join(os.path.dirname(importer), imp.path))]
        candidates += [os.path.normpath(os.path.join(sp, imp.path)) for sp in self.options.search_paths]
        for c in candidates:
            if os.path.isfile(c):
                return c
        where = ", ".join(f"'{c}'" for c in candidates)
        hint = f"; {self.options.missing_import_hint}" if self.options.missing_import_hint else ""
        self.sink.error(imp.loc, f"cannot find imported file \"{imp.path}\" (looked in {where}){hint}")
        return None

    def load(self, path: str, loc: Loc | None = None) -> None:
        if path in self.files or path in self.failed:
            return
        if path not in self.sources and not self.read(path, loc):
            self.failed.add(path)
            return
        sf, diags = parse(self.sources[path], path)
        if sf is None:
            self.sink.diagnostics.extend(diags)
            self.failed.add(path)
            return
        self.files[path] = sf
        deps = []
        for imp in sf.imports:
            if imp.path == "":
                self.sink.error(imp.loc, "empty import path")
                continue
            target = self.resolve_import(path, imp)
            if target is None:
                continue
            deps.append((target, imp))
            self.load(target, imp.loc)
        self.imports_of[path] = [d for d, _ in deps]
        self._import_locs = getattr(self, "_import_locs", {})
        for d, imp in deps:
            self._import_locs[(path, d)] = imp.loc

    def check_cycles(self) -> bool:
        graph: nx.DiGraph[str] = nx.DiGraph()
        for src, deps in self.imports_of.items():
            graph.add_node(src)
            for d in deps:
                graph.add_edge(src, d)
        ok = True
        for comp in sorted((sorted(c) for c in nx.strongly_connected_components(graph)), key=lambda c: c[0]):
            if len(comp) == 1 and not graph.has_edge(comp[0], comp[0]):
                continue
            start = comp[0]
            cycle = nx.find_cycle(graph.subgraph(comp), source=start)
            chain = " -> ".join([cycle[0][0]] + [v for _, v in cycle])
            self.sink.error(self._import_locs[(cycle[-1][0], cycle[-1][1])], f"import cycle: {chain}")
            ok = False
        return ok


class _Checker:
    def __init__(self, sink: DiagnosticSink, loader: _Loader):
        self.sink = sink
        self.loader = loader
        self.schema = t.Schema()
        self.decl_src: dict[str, tuple[m.Decl, str]] = {}  # fullname -> (parsed decl, file)
        self.visible: dict[str, set[str]] = {}  # file -> fullnames visible in it
        self.namespaces: dict[str, str] = {}

    # --- names --------------------------------------------------------------------------
    def check_name(self, name: str, loc: Loc, what: str, type_name: bool = False) -> None:
        reason = _reserved_reason(name)
        if reason is None and type_name and name in BUILTIN_TYPES:
            reason = "a builtin type"
        if reason is not None:
            self.sink.error(loc, f"{what} '{name}' is a reserved word ({reason})")

    def collect(self) -> None:
        for path, sf in self.loader.files.items():
            if not sf.namespaces:
                self.sink.error(Loc(path, 1, 1), "missing namespace declaration (e.g. 'namespace my_app;')")
                ns = ""
            else:
                ns = sf.namespaces[0].name
                for part in ns.split("."):
                    self.check_name(part, sf.namespaces[0].loc, "namespace component")
                for extra in sf.namespaces[1:]:
                    self.sink.error(extra.loc, "a file has exactly one namespace declaration",
                                    (Diagnostic(sf.namespaces[0].loc, "first declared here", "note"),))
                if sf.late_namespace_loc is not None and sf.late_namespace_loc == sf.namespaces[0].loc:
                    self.sink.error(sf.late_namespace_loc, "the namespace declaration must come first in the file")
            self.namespaces[path] = ns
            for d in sf.decls:
                self.check_name(d.name, d.loc, self._what(d), type_name=True)
                full = f"{ns}.{d.name}" if ns else d.name
                if full in self.decl_src:
                    prev, _ = self.decl_src[full]
                    self.sink.error(d.loc, f"duplicate definition of '{full}'",
                                    (Diagnostic(prev.loc, "previous definition is here", "note"),))
                    continue
                self.decl_src[full] = (d, path)
        for path in self.loader.files:
            vis = {f for f, (_, p) in self.decl_src.items() if p == path}
            for dep in self.loader.imports_of.get(path, []):
                vis |= {f for f, (_, p) in self.decl_src.items() if p == dep}
            self.visible[path] = vis

    @staticmethod
    def _what(d: m.Decl) -> str:
        return {m.StructDecl: "struct", m.EnumDecl: "enum", m.UnionDecl: "union",
                m.ServiceDecl: "service"}[type(d)]

    def lookup(self, path: str, name: str) -> str | None:
        ns = self.namespaces.get(path, "")
        vis = self.visible.get(path, set())
        for cand in ([f"{ns}.{name}"] if ns else []) + [name]:
            if cand in vis:
                return cand
        return None

    # --- type resolution ----------------------------------------------------------------
    @overload
    def resolve(self, path: str, te: m.TypeExpr, params: dict[str, m.TypeParam],
                ctx: Literal["result"]) -> t.Type | Literal["void"] | None: ...
    @overload
    def resolve(self, path: str, te: m.TypeExpr, params: dict[str, m.TypeParam],
                ctx: Literal["field", "param", "arg"]) -> t.Type | None: ...
    def resolve(self, path: str, te: m.TypeExpr, params: dict[str, m.TypeParam],
                ctx: ResolveContext) -> t.Type | Literal["void"] | None:
        """Resolve a type expression.  ctx: 'field', 'param', 'result' or 'arg'.  None on error."""
        name = te.name
        nargs = len(te.args)

        def want_types(n: int, what: str) -> list[t.Type] | None:
            if nargs != n:
                plural = "argument" if n == 1 else "arguments"
                self.sink.error(te.loc, f"'{name}' takes {n} type {plural}, got {nargs}" + what)
                return None
            out = []
            for a in te.args:
                if isinstance(a, m.IntArg):
                    self.sink.error(a.loc, f"expected a type as argument of '{name}', got integer {a.value}")
                    return None
                r = self.resolve(path, a, params, "arg")
                if r is None:
                    return None
                out.append(r)
            return out

        if name in params:
            p = params[name]
            if te.has_args:
                self.sink.error(te.loc, f"type parameter '{name}' takes no arguments")
                return None
            if p.kind is not None:
                self.sink.error(te.loc, f"'{name}' is an integer parameter, not a type")
                return None
            return t.TypeVar(name)
        if name == "void":
            if ctx != "result":
                self.sink.error(te.loc, "'void' is only allowed as a procedure result")
                return None
            if te.has_args:
                self.sink.error(te.loc, "'void' takes no type arguments")
                return None
            return "void"
        if name in t.SCALARS or name in ("string", "bytes", "string_view"):
            if te.has_args:
                self.sink.error(te.loc, f"'{name}' takes no type arguments")
                return None
            if name == "string_view":
                return self._view(te, ctx, t.StringView())
            if name in t.SCALARS:
                return t.Prim(name)
            return t.String() if name == "string" else t.Bytes()
        if name in ("vector", "optional", "span"):
            args = want_types(1, f" (write '{name}<T>')")
            if args is None:
                return None
            (elem,) = args
            if name == "vector":
                return t.Vector(elem)
            if name == "optional":
                return t.Optional(elem)
            if not self.is_plain(elem):
                self.sink.error(te.args[0].loc, f"span element type '{t.canon(elem)}' has no fixed layout; "
                                "use a scalar, enum, array or a struct of those (or vector<T>)")
                return None
            return self._view(te, ctx, t.Span(elem))
        if name == "array":
            if nargs != 2:
                self.sink.error(te.loc, f"'array' takes 2 arguments (element type and length), got {nargs}")
                return None
            elem_te, len_te = te.args
            if isinstance(elem_te, m.IntArg):
                self.sink.error(elem_te.loc, f"expected a type as the element of 'array', got integer {elem_te.value}")
                return None
            array_elem = self.resolve(path, elem_te, params, "arg")
            if array_elem is None:
                return None
            length = self.int_arg(len_te, params, "u32", "array length")
            if length is None:
                return None
            if isinstance(length, int) and not 1 <= length <= MAX_ARRAY_LENGTH:
                self.sink.error(len_te.loc, f"array length must be between 1 and {MAX_ARRAY_LENGTH}, got {length}")
                return None
            return t.Array(array_elem, length)
        full = self.lookup(path, name)
        if full is None:
            hint = next((f for f in sorted(self.decl_src) if f == name or f.endswith("." + name)), None)
            if hint is not None:
                where = self.decl_src[hint][1]
                self.sink.error(te.loc, f"unknown type '{name}': '{hint}' is declared in '{where}', "
                                "which this file does not import")
            else:
                self.sink.error(te.loc, f"unknown type '{name}'")
            return None
        decl, _ = self.decl_src[full]
        if isinstance(decl, m.ServiceDecl):
            self.sink.error(te.loc, f"'{full}' is a service, not a data type")
            return None
        kind = self._what(decl)
        if not isinstance(decl, m.StructDecl) or not decl.params:
            if te.has_args:
                self.sink.error(te.loc, f"'{full}' is not generic and takes no arguments")
                return None
            return t.Named(full, kind)
        if nargs != len(decl.params):
            self.sink.error(te.loc, f"'{full}' takes {len(decl.params)} argument(s) "
                            f"<{', '.join(p.name for p in decl.params)}>, got {nargs}")
            return None
        named_args: list[t.TypeArg] = []
        for p, a in zip(decl.params, te.args, strict=False):
            if p.kind is None:
                if isinstance(a, m.IntArg):
                    self.sink.error(a.loc, f"parameter '{p.name}' of '{full}' is a type, got integer {a.value}")
                    return None
                r = self.resolve(path, a, params, "arg")
                if r is None:
                    return None
                named_args.append(r)
            else:
                v = self.int_arg(a, params, p.kind, f"parameter '{p.name}' of '{full}'")
                if v is None:
                    return None
                named_args.append(v)
        return t.Named(full, kind, tuple(named_args))

    def int_arg(self, a: m.TypeExpr | m.IntArg, params: dict[str, m.TypeParam], kind: str,
                what: str) -> int | str | None:
        if isinstance(a, m.IntArg):
            _, lo, hi = t.INTEGERS.get(kind, t.INTEGERS["u32"])
            if not lo <= a.value <= hi:
                self.sink.error(a.loc, f"{what}: {a.value} does not fit in {kind} ({lo}..{hi})")
                return None
            return a.value
        if not a.has_args and a.name in params and params[a.name].kind is not None:
            return a.name
        self.sink.error(a.loc, f"{what} must be an integer, got type '{a.name}'")
        return None

    def _view(self, te: m.TypeExpr, ctx: ResolveContext, view: t.StringView | t.Span) -> t.Type | None:
        if ctx == "param":
            return view
        if ctx == "result":
            self.sink.error(te.loc, f"borrowed view '{t.canon(view)}' cannot be a result (the callee's storage "
                            "does not outlive the call); return an owned type such as "
                            f"'{'string' if isinstance(view, t.StringView) else 'vector<...>'}'")
        elif ctx == "arg":
            self.sink.error(te.loc, f"borrowed view '{t.canon(view)}' cannot be nested inside another type; "
                            "views are only allowed as whole procedure parameters")
        else:
            self.sink.error(te.loc, f"borrowed view '{t.canon(view)}' is only allowed as a procedure parameter, "
                            "not in a data type")
        return None

    # --- plainness (fixed layout identical in memory and on the wire) ----------------------
    def is_plain(self, ty: t.TypeArg, env: dict[str, t.TypeArg] | None = None,
                 seen: frozenset[str] = frozenset()) -> bool:
        if isinstance(ty, t.Prim):
            return True
        if isinstance(ty, t.Array):
            return isinstance(ty.length, int) and self.is_plain(ty.elem, env, seen)
        if isinstance(ty, t.Named):
            if ty.kind == "enum":
                return True
            if ty.kind != "struct" or ty.fullname in seen:
                return False
            decl, _ = self.decl_src[ty.fullname]
            assert isinstance(decl, m.StructDecl)  # ty.kind == "struct"
            if not decl.fields:
                return False  # an empty C++ struct has size 1, its wire form size 0
            local = {p.name: a for p, a in zip(decl.params, ty.args, strict=False)}
            fpath = self.decl_src[ty.fullname][1]
            for f in decl.fields:
                sink = DiagnosticSink()
                saved, self.sink = self.sink, sink
                try:
                    ft = self.resolve(fpath, f.type, {p.name: p for p in decl.params}, "field")
                finally:
                    self.sink = saved
                if ft is None:
                    return False
                if not self.is_plain(t.substitute(ft, local), None, seen | {ty.fullname}):
                    return False
            return True
        return False

    # --- declarations ---------------------------------------------------------------------
    def check_decls(self) -> None:
        for full, (d, path) in self.decl_src.items():
            ns = self.namespaces[path]
            if isinstance(d, m.StructDecl):
                self.schema.decls[full] = self.check_struct(full, ns, d, path)
            elif isinstance(d, m.EnumDecl):
                self.schema.decls[full] = self.check_enum(full, ns, d, path)
            elif isinstance(d, m.UnionDecl):
                self.schema.decls[full] = self.check_union(full, ns, d, path)
        services = {f: (d, p) for f, (d, p) in self.decl_src.items() if isinstance(d, m.ServiceDecl)}
        self.check_services(services)

    def _fields(self, path: str, fields: list[m.Field], params: dict[str, m.TypeParam], what: str) -> list[t.RField]:
        out: list[t.RField] = []
        seen: dict[str, m.Field] = {}
        for f in fields:
            self.check_name(f.name, f.loc, what)
            if f.name in seen:
                self.sink.error(f.loc, f"duplicate {what} '{f.name}'",
                                (Diagnostic(seen[f.name].loc, "previous declaration is here", "note"),))
            seen.setdefault(f.name, f)
            ft = self.resolve(path, f.type, params, "field")
            if ft is not None:
                out.append(t.RField(f.name, ft, f.doc, f.loc))
        return out

    def check_struct(self, full: str, ns: str, d: m.StructDecl, path: str) -> t.RStruct:
        params: dict[str, m.TypeParam] = {}
        for p in d.params:
            self.check_name(p.name, p.loc, "type parameter", type_name=True)
            if p.name in params:
                self.sink.error(p.loc, f"duplicate type parameter '{p.name}'")
            if p.kind is not None and p.kind not in t.INTEGERS:
                self.sink.error(p.kind_loc or p.loc, f"integer parameter '{p.name}' must have an integer type "
                                f"(u8..u64, i8..i64), got '{p.kind}'")
            params.setdefault(p.name, p)
        fields = self._fields(path, d.fields, params, "field")
        rparams = [t.RTypeParam(p.name, p.kind) for p in d.params]
        return t.RStruct(full, d.name, ns, rparams, fields, d.doc, path, d.loc)

    def check_enum(self, full: str, ns: str, d: m.EnumDecl, path: str) -> t.REnum:
        underlying = d.underlying or "u32"
        if underlying not in t.INTEGERS:
            self.sink.error(d.underlying_loc or d.loc,
                            f"enum underlying type must be an integer type (u8..u64, i8..i64), got '{underlying}'")
            underlying = "u32"
        _, lo, hi = t.INTEGERS[underlying]
        values: list[t.REnumValue] = []
        names: dict[str, m.EnumValue] = {}
        numbers: dict[int, str] = {}
        nxt = 0
        if not d.values:
            self.sink.error(d.loc, f"enum '{d.name}' has no values")
        for v in d.values:
            self.check_name(v.name, v.loc, "enum value")
            value = v.value if v.value is not None else nxt
            nxt = value + 1
            if v.name in names:
                self.sink.error(v.loc, f"duplicate enum value '{v.name}'",
                                (Diagnostic(names[v.name].loc, "previous declaration is here", "note"),))
                continue
            names[v.name] = v
            if not lo <= value <= hi:
                self.sink.error(v.value_loc or v.loc, f"enum value {value} does not fit in {underlying} ({lo}..{hi})")
                continue
            if value in numbers:
                self.sink.error(v.value_loc or v.loc, f"enum value {value} is already used by '{numbers[value]}'")
                continue
            numbers[value] = v.name
            values.append(t.REnumValue(v.name, value, v.doc))
        return t.REnum(full, d.name, ns, underlying, values, d.doc, path, d.loc)

    def check_union(self, full: str, ns: str, d: m.UnionDecl, path: str) -> t.RUnion:
        if not d.variants:
            self.sink.error(d.loc, f"union '{d.name}' has no variants")
        variants = self._fields(path, d.variants, {}, "union variant")
        return t.RUnion(full, d.name, ns, variants, d.doc, path, d.loc)

    def check_services(self, services: dict[str, tuple[m.ServiceDecl, str]]) -> None:
        graph: nx.DiGraph[str] = nx.DiGraph()
        bases: dict[str, list[str]] = {}
        for full, (d, path) in services.items():
            graph.add_node(full)
            bases[full] = []
            for b in d.extends:
                target = self.lookup(path, b.name)
                if target is None:
                    self.sink.error(b.loc, f"unknown service '{b.name}'")
                    continue
                if target not in services:
                    self.sink.error(b.loc, f"'{target}' is a {self._what(self.decl_src[target][0])}, not a service")
                    continue
                if target in bases[full]:
                    self.sink.error(b.loc, f"service '{target}' is listed twice")
                    continue
                bases[full].append(target)
                graph.add_edge(full, target)
        in_cycle: set[str] = set()
        for comp in nx.strongly_connected_components(graph):
            if len(comp) > 1 or any(graph.has_edge(c, c) for c in comp):
                in_cycle |= comp
                first = min(comp, key=lambda f: services[f][0].loc)
                d, path = services[first]
                ref = next(b for b in d.extends if self.lookup(path, b.name) in comp)
                self.sink.error(ref.loc, f"service inheritance cycle involving '{first}'")
        flat: dict[str, list[tuple[t.RProcedure, m.Procedure]]] = {}

        def flatten(full: str) -> list[tuple[t.RProcedure, m.Procedure]]:
            if full in flat:
                return flat[full]
            d, path = services[full]
            procs: list[tuple[t.RProcedure, m.Procedure]] = []
            by_name: dict[str, str] = {}
            for b in bases[full]:
                for rp, mp in ([] if b in in_cycle else flatten(b)):
                    if any(x.declared_in == rp.declared_in and x.name == rp.name for x, _ in procs):
                        continue  # diamond: the same inherited procedure reached twice
                    if rp.name in by_name:
                        ref = next(x for x in d.extends if self.lookup(path, x.name) == b)
                        self.sink.error(ref.loc, f"procedure '{rp.name}' is inherited from both "
                                        f"'{by_name[rp.name]}' and '{rp.declared_in}'")
                        continue
                    by_name[rp.name] = rp.declared_in
                    procs.append((rp, mp))
            own_seen: dict[str, m.Procedure] = {}
            for p in d.procedures:
                self.check_name(p.name, p.loc, "procedure")
                if p.name in own_seen:
                    self.sink.error(p.loc, f"duplicate procedure '{p.name}'",
                                    (Diagnostic(own_seen[p.name].loc, "previous declaration is here", "note"),))
                    continue
                own_seen[p.name] = p
                if p.name in by_name:
                    self.sink.error(p.loc, f"procedure '{p.name}' is already defined in base service "
                                    f"'{by_name[p.name]}'")
                    continue
                checked = self.check_procedure(full, path, p)
                if checked is not None:
                    procs.append((checked, p))
            flat[full] = procs
            return procs

        for full, (d, path) in services.items():
            procs = [] if full in in_cycle else flatten(full)
            rprocs = [t.RProcedure(rp.name, i, rp.declared_in, rp.params, rp.result, rp.attributes,
                                   rp.doc, rp.has_views) for i, (rp, _) in enumerate(procs)]
            if len(rprocs) > 0xFFFF:
                self.sink.error(d.loc, "a service has at most 65535 procedures")
            self.schema.decls[full] = t.RService(full, d.name, self.namespaces[path], bases[full], rprocs,
                                                 d.doc, path, d.loc)

    def check_procedure(self, service: str, path: str, p: m.Procedure) -> t.RProcedure | None:
        ok = True
        attrs: list[str] = []
        for a in p.attributes:
            if a.name not in ATTRIBUTES:
                known = ", ".join(f"@{k}" for k in sorted(ATTRIBUTES))
                self.sink.error(a.loc, f"unknown attribute '@{a.name}' (known: {known})")
                ok = False
            elif a.name in attrs:
                self.sink.error(a.loc, f"duplicate attribute '@{a.name}'")
                ok = False
            elif a.has_args:
                self.sink.error(a.loc, f"attribute '@{a.name}' takes no arguments")
                ok = False
            else:
                attrs.append(a.name)
        params: list[t.RParam] = []
        seen: dict[str, m.Param] = {}
        for prm in p.params:
            self.check_name(prm.name, prm.loc, "parameter")
            if prm.name in seen:
                self.sink.error(prm.loc, f"duplicate parameter '{prm.name}'")
                ok = False
                continue
            seen[prm.name] = prm
            pt = self.resolve(path, prm.type, {}, "param")
            if pt is None:
                ok = False
                continue
            params.append(t.RParam(prm.name, pt))
        result = self.resolve(path, p.result, {}, "result")
        if result is None:
            return None
        if not ok:
            return None
        res = None if result == "void" else result
        has_views = any(t.is_view(x.type) for x in params)
        return t.RProcedure(p.name, -1, service, params, res, attrs, p.doc, has_views)

    # --- names the generators add ---------------------------------------------------------
    def check_generated_names(self) -> None:
        """A declaration may not take a name that generated C++/Python code uses for another one."""
        generated: dict[str, tuple[str, str]] = {}  # full name -> (origin, what)
        for full, (d, path) in self.decl_src.items():
            ns = self.namespaces[path]
            pre = f"{ns}." if ns else ""
            names: list[tuple[str, str]] = []
            if isinstance(d, (m.StructDecl, m.UnionDecl)):
                names += [(d.name + "View", "its in-place view class"), (d.name + "_WIRE", "its Python descriptor"),
                          (d.name + "_wire", "its Python descriptor function")]
            elif isinstance(d, m.EnumDecl):
                names.append((d.name + "_WIRE", "its Python descriptor"))
            else:
                names += [(d.name + "Sync", "its sync server base"), (d.name + "RpcClient", "its RPC client"),
                          (d.name + "ZeroCopyClient", "its zero-copy client"), (d.name + "Client", "its Python client"),
                          (d.name + "_dispatch", "its Python dispatcher")]
                names += [(f"{d.name}_{p.name}_{k}", f"procedure {p.name}'s {k.lower()} struct")
                          for p in d.procedures for k in ("Args", "Params", "Result")]
            for n, what in names:
                generated.setdefault(pre + n, (full, what))
        fixed = {"dispatch": "the C++ dispatch functions", "dispatch_zero_copy": "the C++ dispatch functions",
                 "lidl_valid": "the C++ enum validity checks", "to_string": "the C++ enum names",
                 "NAMESPACE": "the Python module's constant", "SOURCE": "the Python module's constant",
                 "dataclasses": "a module the generated Python imports",
                 "typing": "a module the generated Python imports"}
        for full, (d, _path) in self.decl_src.items():
            members: list[tuple[str, Loc, str]] = []
            if isinstance(d, m.StructDecl):
                members = [(f.name, f.loc, "field") for f in d.fields if f.name == "to_owned"]
            elif isinstance(d, m.UnionDecl):
                members = [(f.name, f.loc, "union variant") for f in d.variants if f.name in ("kind", "to_owned")]
            elif isinstance(d, m.ServiceDecl):
                own = {p.name for p in d.procedures}
                for pr in d.procedures:
                    if pr.name == "last_status" or (pr.name.endswith("_sync") and pr.name[:-5] in own) or (
                            pr.name.startswith("call_") and pr.name[5:] in own):
                        members.append((pr.name, pr.loc, "procedure"))
            for name, loc, what in members:
                self.sink.error(loc, f"{what} '{name}' collides with a member lidl generates for '{full}'; rename it")
            if full in generated:
                origin, what = generated[full]
                self.sink.error(d.loc, f"'{d.name}' collides with the name lidl generates for '{origin}' ({what}); "
                                "rename one of them")
            elif d.name in fixed:
                self.sink.error(d.loc, f"'{d.name}' collides with {fixed[d.name]} in generated code")

    # --- types that contain themselves ----------------------------------------------------
    def check_recursion(self) -> None:
        """A value may not contain itself except through vector/string/bytes (heap/out-of-line)."""
        decls = {f: d for f, d in self.schema.decls.items() if isinstance(d, (t.RStruct, t.RUnion))}
        inline_params: dict[str, set[int]] = {f: set() for f in decls}

        def inline_refs(ty: t.TypeArg, env_params: list[str]) -> tuple[set[str], set[int]]:
            """Named decls and parameter indices reached inline by a value of type ty."""
            if isinstance(ty, (t.Optional, t.Array)):
                return inline_refs(ty.elem, env_params)
            if isinstance(ty, t.TypeVar):
                return set(), {env_params.index(ty.name)} if ty.name in env_params else set()
            if isinstance(ty, t.Named) and ty.fullname in decls:
                names, idx = {ty.fullname}, set()
                for i in inline_params[ty.fullname]:
                    if i < len(ty.args) and not isinstance(ty.args[i], (int, str)):
                        n2, i2 = inline_refs(ty.args[i], env_params)
                        names |= n2
                        idx |= i2
                return names, idx
            return set(), set()

        def members(d: t.RStruct | t.RUnion) -> list[t.RField]:
            return d.fields if isinstance(d, t.RStruct) else d.variants

        changed = True
        while changed:  # fixpoint: which type parameters of each generic end up inline
            changed = False
            for f, d in decls.items():
                pnames = [p.name for p in d.params] if isinstance(d, t.RStruct) else []
                for fld in members(d):
                    _, idx = inline_refs(fld.type, pnames)
                    if not idx <= inline_params[f]:
                        inline_params[f] |= idx
                        changed = True
        graph: nx.DiGraph[str] = nx.DiGraph()
        edge_field: dict[tuple[str, str], t.RField] = {}
        for f, d in decls.items():
            graph.add_node(f)
            pnames = [p.name for p in d.params] if isinstance(d, t.RStruct) else []
            for fld in members(d):
                names, _ = inline_refs(fld.type, pnames)
                for n in names:
                    graph.add_edge(f, n)
                    edge_field.setdefault((f, n), fld)
        for comp in nx.strongly_connected_components(graph):
            if len(comp) == 1 and not any(graph.has_edge(c, c) for c in comp):
                continue
            first = min(comp, key=lambda f: decls[f].loc)
            cycle = nx.find_cycle(graph.subgraph(comp), source=first)
            chain = " -> ".join([first] + [v for _, v in cycle])
            fld = edge_field[cycle[0]]
            self.sink.error(fld.loc, f"type '{first}' contains itself ({chain}); "
                            "break the cycle with vector<...>")


def _source_name(path: str, strip_prefixes: tuple[str, ...]) -> str:
    norm = os.path.normpath(path)
    for pre in strip_prefixes:
        pre = os.path.normpath(pre)
        if norm.startswith(pre + os.sep):
            return norm[len(pre) + 1:]
    return norm


def check_files(paths: list[str], options: Options | None = None,
                sources: dict[str, str] | None = None) -> t.Schema:
    """Check the given files (and their imports).  Raises LidlError with every diagnostic."""
    options = options or Options()
    sink = DiagnosticSink()
    loader = _Loader(sink, options)
    if sources:
        loader.sources.update(sources)
    roots = [os.path.normpath(p) for p in paths]
    for p in roots:
        loader.load(p)
    loader.check_cycles()
    checker = _Checker(sink, loader)
    checker.collect()
    checker.check_decls()
    checker.check_generated_names()
    checker.check_recursion()
    if sink:
        raise LidlError(sink.diagnostics, loader.sources)
    schema = checker.schema
    schema.roots = roots
    for path, sf in loader.files.items():
        decls = [schema.decls[f"{checker.namespaces[path]}.{d.name}"] for d in sf.decls]
        schema.files[path] = t.CheckedFile(path, _source_name(path, options.strip_prefixes),
                                           checker.namespaces[path], loader.imports_of.get(path, []), decls)
    for d in schema.decls.values():
        if isinstance(d, t.RService):
            d.schema_hash = schema_hash(schema, d)
    return schema


def check_source(text: str, path: str = "input.lidl", options: Options | None = None) -> t.Schema:
    """Check one in-memory file (imports are still read from disk)."""
    return check_files([path], options, {os.path.normpath(path): text})
