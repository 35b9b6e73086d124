"""C++ generator: types, Codec specialisations, in-place views, and for every service the async
interface, the sync server base, the serializing RPC client, the zero-copy client, and the
serializing and zero-copy dispatchers.  See lidl/README.md for how the pieces fit."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx

from lidl import layout
from lidl import schema as t
from lidl.gen_common import cpp_header

_PRIM = {"bool": "bool", "i8": "std::int8_t", "i16": "std::int16_t", "i32": "std::int32_t",
         "i64": "std::int64_t", "u8": "std::uint8_t", "u16": "std::uint16_t", "u32": "std::uint32_t",
         "u64": "std::uint64_t", "f32": "float", "f64": "double"}
L = "::ambience::lidl"


def ns_cpp(ns: str) -> str:
    return "::".join(ns.split("."))


def qual(fullname: str) -> str:
    return "::" + "::".join(fullname.split("."))


class _CppGen:
    def __init__(self, schema: t.Schema, path: str):
        self.schema = schema
        self.file = schema.files[path]
        self.ns = ns_cpp(self.file.namespace)

    # --- types --------------------------------------------------------------------------
    def cpp(self, ty: t.TypeArg) -> str:
        if isinstance(ty, int):
            return f"{ty}"
        if isinstance(ty, str):
            return ty
        if isinstance(ty, t.Prim):
            return _PRIM[ty.name]
        if isinstance(ty, t.String):
            return "std::string"
        if isinstance(ty, t.Bytes):
            return "std::vector<std::uint8_t>"
        if isinstance(ty, t.StringView):
            return "std::string_view"
        if isinstance(ty, t.Vector):
            return f"std::vector<{self.cpp(ty.elem)}>"
        if isinstance(ty, t.Span):
            return f"std::span<const {self.cpp(ty.elem)}>"
        if isinstance(ty, t.Optional):
            return f"std::optional<{self.cpp(ty.elem)}>"
        if isinstance(ty, t.Array):
            return f"std::array<{self.cpp(ty.elem)}, {self.cpp(ty.length)}>"
        if isinstance(ty, t.TypeVar):
            return ty.name
        if isinstance(ty, t.Named):
            if ty.args:
                return f"{qual(ty.fullname)}<{', '.join(self.cpp(a) for a in ty.args)}>"
            return qual(ty.fullname)
        raise TypeError(ty)

    def param_type(self, ty: t.TypeArg) -> str:
        """How a parameter is passed: scalars, enums and views by value, the rest by const&."""
        if isinstance(ty, (t.Prim, t.StringView, t.Span)) or (
                isinstance(ty, t.Named) and ty.kind == "enum"):
            return self.cpp(ty)
        return f"const {self.cpp(ty)}&"

    def init(self, ty: t.TypeArg) -> str:
        """Default member initialiser: enums start at their first declared value (which need not
        be 0), so a default-constructed value always encodes to a valid message."""
        if isinstance(ty, t.Named) and ty.kind == "enum":
            d = self.schema.decls[ty.fullname]
            assert isinstance(d, t.REnum)
            return f"{{{self.cpp(ty)}::{d.values[0].name}}}"
        return "{}"

    @staticmethod
    def int_literal(value: int, kind: str) -> str:
        """A literal of the given lidl integer type that compiles without warnings."""
        if kind.startswith("u"):
            return f"{value}u" if value <= 0xFFFFFFFF else f"{value}ull"
        if value == -(1 << 63):
            return "(-9223372036854775807ll - 1)"
        if value == -(1 << 31) and kind == "i32":
            return "(-2147483647 - 1)"
        return f"{value}" if -(1 << 31) < value < (1 << 31) else f"{value}ll"

    @staticmethod
    def doc(doc: str, indent: str = "") -> list[str]:
        return [f"{indent}/// {ln}".rstrip() for ln in doc.split("\n")] if doc else []

    def template_head(self, d: t.RStruct) -> str:
        if not d.params:
            return ""
        return "template <" + ", ".join(
            f"class {p.name}" if p.kind is None else f"{_PRIM[p.kind]} {p.name}" for p in d.params) + ">\n"

    def template_args(self, d: t.RStruct) -> str:
        return "<" + ", ".join(p.name for p in d.params) + ">" if d.params else ""

    # --- ordering: a type is defined after the types it holds by value --------------------
    def ordered(self, decls: Sequence[t.Decl]) -> list[t.Decl]:
        local = {d.fullname: d for d in decls}
        g: nx.DiGraph[str] = nx.DiGraph()
        for i, d in enumerate(decls):
            g.add_node(d.fullname, order=i)
        for d in decls:
            members = d.fields if isinstance(d, t.RStruct) else d.variants if isinstance(d, t.RUnion) else []
            for f in members:
                for dep in self._by_value(f.type):
                    if dep in local and dep != d.fullname:
                        g.add_edge(dep, d.fullname)
        order = list(nx.lexicographical_topological_sort(g, key=lambda n: g.nodes[n]["order"]))
        return [local[n] for n in order]

    def _by_value(self, ty: t.TypeArg) -> set[str]:
        if isinstance(ty, (t.Optional, t.Array)):
            return self._by_value(ty.elem)
        if isinstance(ty, t.Named):
            out = {ty.fullname}
            for a in ty.args:
                if not isinstance(a, (int, str)):
                    out |= self._by_value(a)
            return out
        return set()

    # --- declarations ---------------------------------------------------------------------
    def enum(self, d: t.REnum) -> list[str]:
        u = _PRIM[d.underlying]
        out = self.doc(d.doc) + [f"enum class {d.name} : {u} {{"]
        for v in d.values:
            out += self.doc(v.doc, "  ")
            lit = self.int_literal(v.value, d.underlying)
            out.append(f"  {v.name} = {lit},")
        out += ["};", "",
                f"constexpr bool lidl_valid({d.name} v) {{",
                "  switch (v) {"]
        out += [f"    case {d.name}::{v.name}:" for v in d.values]
        out += ["      return true;", "  }", "  return false;", "}", "",
                f"constexpr const char* to_string({d.name} v) {{", "  switch (v) {"]
        out += [f'    case {d.name}::{v.name}: return "{v.name}";' for v in d.values]
        out += ["  }", '  return "?";', "}"]
        return out

    def struct(self, d: t.RStruct) -> list[str]:
        out = self.doc(d.doc)
        head = self.template_head(d)
        if head:
            out.append(head.rstrip("\n"))
        out.append(f"struct {d.name} {{")
        for f in d.fields:
            out += self.doc(f.doc, "  ")
            out.append(f"  {self.cpp(f.type)} {f.name}{self.init(f.type)};")
        out += ["", f"  friend bool operator==(const {d.name}&, const {d.name}&) = default;", "};"]
        return out

    def union(self, d: t.RUnion) -> list[str]:
        alts = ", ".join(self.cpp(v.type) for v in d.variants)
        out = self.doc(d.doc) + [f"struct {d.name} {{",
                                 "  enum class Kind : std::uint32_t { " +
                                 ", ".join(f"{v.name} = {i}" for i, v in enumerate(d.variants)) + " };",
                                 f"  std::variant<{alts}> alternatives;", "",
                                 "  Kind kind() const { return static_cast<Kind>(alternatives.index()); }"]
        for i, v in enumerate(d.variants):
            ct = self.cpp(v.type)
            out += self.doc(v.doc, "  ")
            out += [f"  const {ct}* as_{v.name}() const {{ return std::get_if<{i}>(&alternatives); }}",
                    f"  static {d.name} make_{v.name}({ct} v) {{",
                    f"    {d.name} u;",
                    f"    u.alternatives.template emplace<{i}>(std::move(v));",
                    "    return u;", "  }"]
        out += ["", f"  friend bool operator==(const {d.name}&, const {d.name}&) = default;", "};"]
        return out

    # --- codecs -----------------------------------------------------------------------------
    def codec_struct(self, cpp_name: str, head: str, fields: list[tuple[str, str]], *, bitwise: bool,
                     plain_assert: bool, padded: bool, view: str | None, access: str = "v.{}",
                     read: bool = True, is_template: bool = False) -> list[str]:
        """A Codec specialisation for a struct-like type.  fields: (name, C++ field type)."""
        out = [f"{head}struct Codec<{cpp_name}> {{"]
        prev_end = "0"
        names = []
        for name, ct in fields:
            out.append(f"  static constexpr std::size_t off_{name} = align_up({prev_end}, Codec<{ct}>::align);")
            prev_end = f"off_{name} + Codec<{ct}>::size"
            names.append((name, ct))
        aligns = "std::size_t{1}"
        for _, ct in fields:
            aligns = f"max_size({aligns}, Codec<{ct}>::align)"
        out.append(f"  static constexpr std::size_t align = {aligns};")
        out.append(f"  static constexpr std::size_t size = align_up({prev_end}, align);")
        fixed = " && ".join(f"Codec<{ct}>::fixed" for _, ct in fields) or "true"
        checks = " || ".join(f"Codec<{ct}>::checks" for _, ct in fields) or "false"
        out += [f"  static constexpr bool fixed = {fixed};",
                f"  static constexpr bool bitwise = {'true' if bitwise else 'false'};",
                f"  static constexpr bool checks = {checks};"]
        if view:
            out.append(f"  using View = {view};")
        out.append(f"  static void measure([[maybe_unused]] const {cpp_name}& v, [[maybe_unused]] std::size_t& end) {{")
        for name, ct in fields:
            out.append(f"    if constexpr (!Codec<{ct}>::fixed) Codec<{ct}>::measure({self._acc(access, name)}, end);")
        out.append("  }")
        out.append(f"  static void write([[maybe_unused]] Writer& w, [[maybe_unused]] std::size_t at, "
                   f"[[maybe_unused]] const {cpp_name}& v) {{")
        if bitwise:
            out.append("    std::memcpy(w.at(at), &v, size);")
        else:
            if padded or is_template:
                out.append("    std::memset(w.at(at), 0, size);")
            for name, ct in fields:
                out.append(f"    Codec<{ct}>::write(w, at + off_{name}, {self._acc(access, name)});")
        out.append("  }")
        out.append("  static bool validate([[maybe_unused]] Validator& v, [[maybe_unused]] std::size_t at, "
                   "[[maybe_unused]] unsigned depth) {")
        for name, ct in fields:
            out.append(f"    if constexpr (Codec<{ct}>::checks)")
            out.append(f"      if (!Codec<{ct}>::validate(v, at + off_{name}, depth)) return false;")
        out += ["    return true;", "  }"]
        if read:
            out.append(f"  static void read([[maybe_unused]] const std::byte* base, [[maybe_unused]] std::size_t at, "
                       f"[[maybe_unused]] {cpp_name}& out) {{")
            if bitwise:
                out.append("    std::memcpy(&out, base + at, size);")
            else:
                for name, ct in fields:
                    out.append(f"    Codec<{ct}>::read(base, at + off_{name}, out.{name});")
            out.append("  }")
        if view and is_template:
            out.append("  static View view(const std::byte* base, std::size_t at) { return View(base, at); }")
        elif view:
            out.append("  static View view(const std::byte* base, std::size_t at);  // after the View class")
        out.append("};")
        if plain_assert:
            out.append(f"static_assert(sizeof({cpp_name}) == Codec<{cpp_name}>::size, "
                       f"\"in-memory layout of {cpp_name} must equal its wire layout\");")
            for name, _ in fields:
                out.append(f"static_assert(offsetof({cpp_name}, {name}) == Codec<{cpp_name}>::off_{name});")
        return out

    @staticmethod
    def _acc(access: str, name: str) -> str:
        return access.format(name)

    def codec_for(self, d: t.RStruct | t.RUnion) -> list[str]:
        q = qual(d.fullname)
        if isinstance(d, t.RStruct):
            head = self.template_head(d)
            cpp_name = q + self.template_args(d)
            fields = [(f.name, self.cpp(f.type)) for f in d.fields]
            plain = not d.params and layout.is_plain(self.schema, t.Named(d.fullname, "struct"))
            padded = d.params or layout.has_padding(self.schema, t.Named(d.fullname, "struct"))
            bitwise = plain and not padded
            view = f"{ns_cpp_q(d.namespace)}::{d.name}View{self.template_args(d)}"
            return self.codec_struct(cpp_name, head or "template <>\n", fields, bitwise=bitwise,
                                     plain_assert=plain, padded=bool(padded), view=view,
                                     is_template=bool(d.params))
        # union
        out = ["template <>", f"struct Codec<{q}> {{",
               "  static constexpr std::size_t size = 8;", "  static constexpr std::size_t align = 4;",
               "  static constexpr bool fixed = false;", "  static constexpr bool bitwise = false;",
               "  static constexpr bool checks = true;",
               f"  using View = {ns_cpp_q(d.namespace)}::{d.name}View;",
               f"  static void measure(const {q}& v, std::size_t& end) {{",
               "    switch (v.alternatives.index()) {"]
        for i, _ in enumerate(d.variants):
            out.append(f"      case {i}: UnionSlot::measure(*std::get_if<{i}>(&v.alternatives), end); break;")
        out += ["    }", "  }", f"  static void write(Writer& w, std::size_t at, const {q}& v) {{",
                "    switch (v.alternatives.index()) {"]
        for i, _ in enumerate(d.variants):
            out.append(f"      case {i}: UnionSlot::write(w, at, {i}, *std::get_if<{i}>(&v.alternatives)); break;")
        out += ["    }", "  }", "  static bool validate(Validator& v, std::size_t at, unsigned depth) {",
                "    switch (UnionSlot::tag(v.data(), at)) {"]
        for i, var in enumerate(d.variants):
            ct = self.cpp(var.type)
            out += [f"      case {i}:",
                    f"        return UnionSlot::check(v, at, Codec<{ct}>::size, Codec<{ct}>::align, depth) &&",
                    f"               Codec<{ct}>::validate(v, UnionSlot::target(v.data(), at), depth + 1);"]
        out += ["    }", "    return v.fail(WireError::bad_tag, at);", "  }",
                f"  static void read(const std::byte* base, std::size_t at, {q}& out) {{",
                "    const std::size_t target = UnionSlot::target(base, at);",
                "    switch (UnionSlot::tag(base, at)) {"]
        for i, var in enumerate(d.variants):
            ct = self.cpp(var.type)
            out += [f"      case {i}: {{", f"        {ct} value{{}};",
                    f"        Codec<{ct}>::read(base, target, value);",
                    f"        out.alternatives.template emplace<{i}>(std::move(value));", "        break;", "      }"]
        out += ["    }", "  }",
                "  static View view(const std::byte* base, std::size_t at);  // after the View class", "};"]
        return out

    def view_class(self, d: t.RStruct | t.RUnion) -> list[str]:
        q = qual(d.fullname) + (self.template_args(d) if isinstance(d, t.RStruct) else "")
        head = self.template_head(d) if isinstance(d, t.RStruct) else ""
        out = []
        if head:
            out.append(head.rstrip("\n"))
        out += [f"// Reads a validated {d.fullname} in place (no copy, no allocation).",
                f"class {d.name}View {{", " public:",
                f"  {d.name}View(const std::byte* base, std::size_t at) : _base(base), _at(at) {{}}"]
        if isinstance(d, t.RStruct):
            for f in d.fields:
                ct = self.cpp(f.type)
                out += self.doc(f.doc, "  ")
                out.append(f"  typename {L}::Codec<{ct}>::View {f.name}() const {{ return {L}::Codec<{ct}>::view("
                           f"_base, _at + {L}::Codec<{q}>::off_{f.name}); }}")
        else:
            out.append(f"  {q}::Kind kind() const {{ return static_cast<{q}::Kind>("
                       f"{L}::UnionSlot::tag(_base, _at)); }}")
            for v in d.variants:
                ct = self.cpp(v.type)
                out.append(f"  // Only valid when kind() == Kind::{v.name}.")
                out.append(f"  typename {L}::Codec<{ct}>::View {v.name}() const {{ return {L}::Codec<{ct}>::view("
                           f"_base, {L}::UnionSlot::target(_base, _at)); }}")
        out += [f"  {q} to_owned() const {{", f"    {q} out{{}};", f"    {L}::Codec<{q}>::read(_base, _at, out);",
                "    return out;", "  }", "", " private:", "  const std::byte* _base;", "  std::size_t _at;", "};"]
        return out

    # --- services ---------------------------------------------------------------------------
    def sig(self, p: t.RProcedure) -> str:
        return ", ".join(f"{self.param_type(x.type)} {x.name}" for x in p.params)

    def result_cpp(self, p: t.RProcedure) -> str:
        return "void" if p.result is None else self.cpp(p.result)

    def service_structs(self, s: t.RService) -> list[str]:
        n = s.name
        out: list[str] = []
        # Per-procedure argument blocks (pointers: used to encode, and by the zero-copy path),
        # owned parameter structs (decoded on the server) and result structs.
        for p in s.procedures:
            base = f"{n}_{p.name}"
            out += [f"// {s.fullname}.{p.name}: arguments by pointer (serializing and zero-copy clients).",
                    f"struct {base}_Args {{"]
            out += [f"  const {self.cpp(x.type)}* {x.name};" for x in p.params]
            # _tie(): the arguments as a tuple of references, so an IPC layer can share each one
            # by its type (Sharer<T>, arena references for spans) without knowing the procedure.
            out.append(f"  auto _tie() const {{ return std::tie({', '.join('*' + x.name for x in p.params)}); }}")
            out += ["};", f"// {s.fullname}.{p.name}: parameters as the server receives them.",
                    f"struct {base}_Params {{"]
            out += [f"  {self.cpp(x.type)} {x.name}{self.init(x.type)};" for x in p.params]
            out.append(f"  auto _tie() {{ return std::tie({', '.join(x.name for x in p.params)}); }}")
            out += ["};", f"struct {base}_Result {{"]
            if p.result is not None:
                out.append(f"  {self.cpp(p.result)} value{self.init(p.result)};")
            out += ["};", ""]
        return out

    def service(self, s: t.RService) -> list[str]:
        n = s.name
        out: list[str] = []
        # The async interface.
        bases = ", ".join(f"public virtual {qual(b)}" for b in s.extends)
        out += self.doc(s.doc)
        out += [f"class {n}" + (f" : {bases}" if bases else "") + " {", " public:",
                f"  static constexpr std::uint64_t schema_hash = 0x{s.schema_hash:016x}ull;",
                f"  static constexpr const char* service_name = \"{s.fullname}\";",
                f"  static constexpr std::size_t procedure_count = {len(s.procedures)};",
                f"  static constexpr std::array<{L}::ProcedureInfo, {len(s.procedures)}> procedures{{{{"]
        for p in s.procedures:
            out.append(f'      {{{p.id}, "{p.name}", "{p.declared_in}", {str("idempotent" in p.attributes).lower()}, '
                       f'{str(p.has_views).lower()}}},')
        out += ["  }};"]
        # The typed blocks of every procedure, by id (lidl::ProcedureTypes): lets a channel that
        # receives the type-erased invoke(procedure, args, result) recover the types.
        types = ", ".join(f"{L}::ProcedureTypes<{n}_{p.name}_Args, {n}_{p.name}_Params, {n}_{p.name}_Result>"
                          for p in sorted(s.procedures, key=lambda p: p.id))
        out += [f"  using procedure_types = std::tuple<{types}>;", "",
                f"  virtual ~{n}() = default;"]
        for p in s.own_procedures():
            out += self.doc(p.doc, "  ")
            attrs = f"  // @{' @'.join(p.attributes)}" if p.attributes else ""
            out.append(f"  virtual ::ambience::Task<{self.result_cpp(p)}> {p.name}({self.sig(p)}) = 0;{attrs}")
        out += ["};", ""]
        # The sync server base.
        out += [f"// Implement {n} with plain (blocking) functions: each *_sync override is called from the",
                "// coroutine that serves the call.",
                f"class {n}Sync : public {n} {{", " public:"]
        for p in s.procedures:
            out.append(f"  virtual {self.result_cpp(p)} {p.name}_sync({self.sig(p)}) = 0;")
        out.append("")
        for p in s.procedures:
            args = ", ".join(x.name for x in p.params)
            if p.result is None:
                body = f"{p.name}_sync({args});\n    co_return;"
            else:
                body = f"co_return {p.name}_sync({args});"
            out += [f"  ::ambience::Task<{self.result_cpp(p)}> {p.name}({self.sig(p)}) final {{", f"    {body}", "  }"]
        out += ["};", ""]
        # Serializing client.
        out += [f"// Calls {s.fullname} through a Transport (the serializing path: other node, or any byte pipe).",
                "// The interface methods return a default value on failure and record the Status in",
                "// last_status(); call_<procedure>() returns the Status explicitly.  Concurrent calls are",
                "// queued (FIFO) because they share the two message buffers.",
                f"template <{L}::Transport T>",
                f"class {n}RpcClient final : public {n} {{", " public:",
                f"  {n}RpcClient(T& transport, {L}::MessageBuffer& request_buffer, {L}::MessageBuffer& reply_buffer)",
                "      : _transport(transport), _request(request_buffer), _reply(reply_buffer) {}",
                "  ::ambience::Status last_status() const { return _last_status; }",
                "  // How often an @idempotent procedure is re-sent after timeout/peer_restarted (default 2).",
                "  void set_retries(unsigned retries) { _retries = retries; }", ""]
        for p in s.procedures:
            base = f"{n}_{p.name}"
            args_init = "{" + ", ".join(f"&{x.name}" for x in p.params) + "}"
            retries = "_retries" if "idempotent" in p.attributes else "0"
            if p.result is None:
                out += [f"  ::ambience::Task<::ambience::Status> call_{p.name}({self.sig(p)}) {{",
                        "    co_await _gate.acquire();", f"    const {L}::CallGate::Held held(_gate);",
                        f"    const {base}_Args _args{args_init};", f"    {base}_Result _result;",
                        f"    co_return co_await {L}::rpc_call_retrying(_transport, _request, _reply, schema_hash, "
                        f"{p.id}, _next_call_id, _args, _result, {retries});", "  }",
                        f"  ::ambience::Task<void> {p.name}({self.sig(p)}) override {{",
                        f"    _last_status = co_await call_{p.name}({', '.join(x.name for x in p.params)});", "  }"]
            else:
                rc = self.result_cpp(p)
                out += [f"  ::ambience::Task<::ambience::Result<{rc}>> call_{p.name}({self.sig(p)}) {{",
                        "    co_await _gate.acquire();", f"    const {L}::CallGate::Held held(_gate);",
                        f"    const {base}_Args _args{args_init};", f"    {base}_Result _result;",
                        f"    const ::ambience::Status _status = co_await {L}::rpc_call_retrying(_transport, _request, "
                        f"_reply, schema_hash, {p.id}, _next_call_id, _args, _result, {retries});",
                        f"    if (_status != ::ambience::Status::ok) co_return ::ambience::Result<{rc}>(_status);",
                        f"    co_return ::ambience::Result<{rc}>(std::move(_result.value));", "  }",
                        f"  ::ambience::Task<{rc}> {p.name}({self.sig(p)}) override {{",
                        f"    auto _r = co_await call_{p.name}({', '.join(x.name for x in p.params)});",
                        "    _last_status = _r.status();",
                        f"    if (!_r.ok()) co_return {rc}{{}};",
                        "    co_return std::move(_r.value());", "  }"]
        out += ["", " private:", "  T& _transport;", f"  {L}::MessageBuffer& _request;",
                f"  {L}::MessageBuffer& _reply;",
                f"  {L}::CallGate _gate;  // one call at a time owns _request/_reply",
                "  std::uint32_t _next_call_id = 1;", "  unsigned _retries = 2;",
                "  ::ambience::Status _last_status = ::ambience::Status::ok;", "};", ""]
        # Zero-copy client.
        out += [f"// Calls {s.fullname} through a ZeroCopyChannel: passes pointers to the arguments and to a result",
                "// slot that the callee fills (same node, other group).",
                f"template <{L}::ZeroCopyChannel C>",
                f"class {n}ZeroCopyClient final : public {n} {{", " public:",
                f"  explicit {n}ZeroCopyClient(C& channel) : _channel(channel) {{}}",
                "  ::ambience::Status last_status() const { return _last_status; }", ""]
        for p in s.procedures:
            base = f"{n}_{p.name}"
            args_init = "{" + ", ".join(f"&{x.name}" for x in p.params) + "}"
            rc = self.result_cpp(p)
            out += [f"  ::ambience::Task<{rc}> {p.name}({self.sig(p)}) override {{",
                    f"    const {base}_Args _args{args_init};", f"    {base}_Result _result{{}};",
                    f"    _last_status = co_await _channel.invoke({p.id}, &_args, &_result);"]
            out += ["    co_return;" if p.result is None else "    co_return std::move(_result.value);", "  }"]
        out += ["", " private:", "  C& _channel;", "  ::ambience::Status _last_status = ::ambience::Status::ok;", "};",
                ""]
        # Dispatchers.
        out += ["// Serves one serialized request: checks the envelope (schema hash, procedure id), validates the",
                "// parameters, calls `impl` and writes the reply (or a status reply) into `reply`.  Returns",
                "// Status::ok when a reply was written.  `request` must stay valid until the task completes.",
                f"inline ::ambience::Task<::ambience::Status> dispatch([[maybe_unused]] {n}& impl,",
                "                                                   std::span<const std::byte> request,",
                f"                                                   {L}::MessageBuffer& reply) {{",
                "  ::ambience::Status written = ::ambience::Status::ok;",
                f"  const auto check = {L}::check_request(request, {n}::schema_hash, {n}::procedure_count, reply, "
                "written);",
                "  if (!check.ok) co_return written;",
                "  switch (check.header.procedure) {"]
        for p in s.procedures:
            base = f"{n}_{p.name}"
            call = f"impl.{p.name}({', '.join('params.' + x.name for x in p.params)})"
            out += [f"    case {p.id}: {{", f"      {base}_Params params;",
                    f"      if (!{L}::read_params(request, params))",
                    f"        co_return {L}::write_status_reply(reply, check.header, {n}::schema_hash, "
                    f"{L}::WireStatus::bad_message);",
                    f"      {base}_Result result;"]
            out.append(f"      co_await {call};" if p.result is None else f"      result.value = co_await {call};")
            out += [f"      co_return {L}::write_result_reply(reply, check.header, {n}::schema_hash, result);", "    }"]
        out += ["  }",
                f"  co_return {L}::write_status_reply(reply, check.header, {n}::schema_hash, "
                f"{L}::WireStatus::unknown_procedure);", "}", "",
                "// Serves one zero-copy call: `args` points to the procedure's _Args block, `result` to its _Result.",
                f"inline ::ambience::Task<::ambience::Status> dispatch_zero_copy([[maybe_unused]] {n}& impl,",
                "                                                             std::uint16_t procedure,",
                "                                                             [[maybe_unused]] const void* args,",
                "                                                             [[maybe_unused]] void* result) {",
                "  switch (procedure) {"]
        for p in s.procedures:
            base = f"{n}_{p.name}"
            call = f"impl.{p.name}({', '.join('*a.' + x.name for x in p.params)})"
            out += [f"    case {p.id}: {{",
                    f"      [[maybe_unused]] const auto& a = *static_cast<const {base}_Args*>(args);"]
            if p.result is None:
                out += ["      (void)result;", f"      co_await {call};"]
            else:
                out.append(f"      static_cast<{base}_Result*>(result)->value = co_await {call};")
            out += ["      co_return ::ambience::Status::ok;", "    }"]
        out += ["  }", "  co_return ::ambience::Status::not_found;", "}"]
        return out

    def service_codecs(self, s: t.RService) -> list[str]:
        out = []
        nsq = "::" + self.ns
        for p in s.procedures:
            base = f"{nsq}::{s.name}_{p.name}"
            fields = [(x.name, self.cpp(x.type)) for x in p.params]
            out += self.codec_struct(f"{base}_Params", "template <>\n", fields, bitwise=False, plain_assert=False,
                                     padded=True, view=None)
            out += self.codec_struct(f"{base}_Args", "template <>\n", fields, bitwise=False, plain_assert=False,
                                     padded=True, view=None, access="*v.{}", read=False)
            rf = [("value", self.cpp(p.result))] if p.result is not None else []
            out += self.codec_struct(f"{base}_Result", "template <>\n", rf, bitwise=False, plain_assert=False,
                                     padded=True, view=None)
        return out

    # --- file -------------------------------------------------------------------------------
    def generate(self) -> str:
        f = self.file
        types = [d for d in f.decls if not isinstance(d, t.RService)]
        services = [d for d in f.decls if isinstance(d, t.RService)]
        ordered = self.ordered(types)
        out = [f"// Generated by lidlc from {f.source}. Do not edit.", "#pragma once", ""]
        out += [f"#include <{h}>" for h in ("array", "cstddef", "cstdint", "cstring", "optional", "span",
                                             "string", "string_view", "tuple", "utility", "variant", "vector")]
        out += ["", '#include "lidl/runtime/wire.hpp"']
        if services:
            out += ['#include "kernel/core/status.hpp"', '#include "kernel/core/task.hpp"',
                    '#include "lidl/runtime/rpc.hpp"']
        for dep in f.imports:
            out.append(f'#include "{cpp_header(self.schema.files[dep].source)}"')
        out += ["", f"namespace {self.ns} {{", ""]
        for d in ordered:
            if isinstance(d, (t.RStruct, t.RUnion)):
                out.append((self.template_head(d) if isinstance(d, t.RStruct) else "").replace("\n", " ")
                           + f"struct {d.name};")
        for d in ordered:
            if isinstance(d, (t.RStruct, t.RUnion)):
                out.append((self.template_head(d) if isinstance(d, t.RStruct) else "").replace("\n", " ")
                           + f"class {d.name}View;")
        out.append("")
        generators: dict[type, Callable[[Any], list[str]]] = {
            t.REnum: self.enum, t.RStruct: self.struct, t.RUnion: self.union}
        for d in ordered:
            out += generators[type(d)](d) + [""]
        for s in services:
            out += self.service_structs(s)
        out += [f"}}  // namespace {self.ns}", "", "namespace ambience::lidl {", ""]
        for d in ordered:
            if isinstance(d, (t.RStruct, t.RUnion)):
                out += self.codec_for(d) + [""]
        for s in services:
            out += self.service_codecs(s) + [""]
        out += ["}  // namespace ambience::lidl", "", f"namespace {self.ns} {{", ""]
        for d in ordered:
            if isinstance(d, (t.RStruct, t.RUnion)):
                out += self.view_class(d) + [""]
        for s in services:
            out += self.service(s) + [""]
        out += [f"}}  // namespace {self.ns}", ""]
        late = [d for d in ordered if isinstance(d, t.RUnion) or (isinstance(d, t.RStruct) and not d.params)]
        if late:
            out += ["namespace ambience::lidl {", ""]
            for d in late:
                q = qual(d.fullname)
                out.append(f"inline Codec<{q}>::View Codec<{q}>::view(const std::byte* base, std::size_t at) "
                           "{ return View(base, at); }")
            out += ["", "}  // namespace ambience::lidl", ""]
        return "\n".join(out).rstrip("\n") + "\n"


def ns_cpp_q(ns: str) -> str:
    return "::" + ns_cpp(ns)


def generate_cpp(schema: t.Schema, path: str) -> str:
    return _CppGen(schema, path).generate()
