"""Text -> lidl.model.SourceFile.  Syntax errors become Diagnostics (never a lark traceback)."""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import lark
from lark import Token, Transformer, v_args

from lidl import model as m
from lidl.diagnostics import Diagnostic, Loc

_GRAMMAR = Path(__file__).with_name("grammar.lark")

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "STRING": "a string",
    "$END": "end of file",
}


# The lexer is built once with a fixed callback table; each parse points this slot at its own
# doc-comment collector.
_DOC_SINK: list[Callable[[Token], Token]] = [lambda tok: tok]


@functools.lru_cache(maxsize=1)
def _parser_and_terminals() -> tuple[lark.Lark, dict[str, str]]:
    parser = lark.Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        lexer_callbacks={"DOC_COMMENT": lambda tok: _DOC_SINK[0](tok)},
        propagate_positions=True,
        maybe_placeholders=False,
    )
    names: dict[str, str] = {}
    for term in parser.terminals:
        if isinstance(term.pattern, lark.lexer.PatternStr):
            names[term.name] = f"'{term.pattern.value}'"
    return parser, names


def _describe_terminal(name: str, names: dict[str, str]) -> str:
    return _TERMINAL_WORDS.get(name) or names.get(name) or name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NAME":
        return f"name '{tok.value}'"
    if tok.type == "INT":
        return f"integer {tok.value}"
    if tok.type == "STRING":
        return f"string {tok.value}"
    return f"'{tok.value}'"


class _Docs:
    """Doc comments (`///`) keyed by line; a declaration takes the contiguous block above it."""

    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.by_line: dict[int, str] = {}

    def collect(self, tok: Token) -> Token:
        assert tok.line is not None and tok.column is not None  # the lexer positions every token
        line_text = self.lines[tok.line - 1]
        if line_text[: tok.column - 1].strip() == "":  # only whole-line doc comments attach
            body = tok.value[3:]
            self.by_line[tok.line] = body[1:] if body.startswith(" ") else body
        return tok

    def above(self, line: int) -> str:
        out: list[str] = []
        ln = line - 1
        while ln in self.by_line:
            out.append(self.by_line[ln])
            ln -= 1
        return "\n".join(reversed(out))


def _int(text: str) -> int:
    neg = text.startswith("-")
    body = text[1:] if neg else text
    value = int(body, 16) if body[:2].lower() == "0x" else int(body, 10)
    return -value if neg else value


class _ToModel(Transformer[Token, Any]):
    def __init__(self, path: str, docs: _Docs):
        super().__init__()
        self.path = path
        self.docs = docs

    def _loc(self, tok_or_meta) -> Loc:
        return Loc(self.path, tok_or_meta.line, tok_or_meta.column)

    # --- type expressions -------------------------------------------------------------
    def qualified_name(self, toks):
        return (".".join(str(t) for t in toks), self._loc(toks[0]))

    def int_arg(self, toks):
        return m.IntArg(_int(toks[0]), self._loc(toks[0]))

    def type_args(self, args):
        return list(args)

    def type_expr(self, children):
        name, loc = children[0]
        args = children[1] if len(children) > 1 else []
        return m.TypeExpr(name, args, loc, has_args=len(children) > 1)

    # --- declarations -----------------------------------------------------------------
    @v_args(meta=True)
    def field(self, meta, children):
        name, type_ = children
        return m.Field(str(name), type_, self.docs.above(meta.line), self._loc(name))

    @v_args(meta=True)
    def param(self, meta, children):
        name, type_ = children
        return m.Param(str(name), type_, self._loc(name))

    def type_param(self, children):
        name = children[0]
        kind = children[1] if len(children) > 1 else None
        return m.TypeParam(str(name), str(kind) if kind is not None else None, self._loc(name),
                           self._loc(kind) if kind is not None else None)

    def type_params(self, children):
        return list(children)

    @v_args(meta=True)
    def struct_decl(self, meta, children):
        params: list[m.TypeParam] = []
        if children and isinstance(children[0], list):
            params = children[0]
            children = children[1:]
        name = children[0]
        fields = list(children[1:])
        return m.StructDecl(str(name), params, fields, self.docs.above(meta.line), self._loc(name))

    def enum_underlying(self, children):
        return children[0]

    @v_args(meta=True)
    def enum_value(self, meta, children):
        name = children[0]
        value = _int(children[1]) if len(children) > 1 else None
        vloc = self._loc(children[1]) if len(children) > 1 else None
        return m.EnumValue(str(name), value, self.docs.above(meta.line), self._loc(name), vloc)

    @v_args(meta=True)
    def enum_decl(self, meta, children):
        name = children[0]
        rest = children[1:]
        underlying = None
        if rest and isinstance(rest[0], Token):
            underlying = rest[0]
            rest = rest[1:]
        values = [v for v in rest if isinstance(v, m.EnumValue)]
        return m.EnumDecl(str(name), str(underlying) if underlying else None,
                          self._loc(underlying) if underlying else None, values,
                          self.docs.above(meta.line), self._loc(name))

    @v_args(meta=True)
    def union_decl(self, meta, children):
        name = children[0]
        return m.UnionDecl(str(name), list(children[1:]), self.docs.above(meta.line), self._loc(name))

    def service_extends(self, children):
        return [m.BaseRef(n, loc) for n, loc in children]

    def attribute_args(self, children):
        out: list[int | str] = []
        for c in children:
            if isinstance(c, Token) and c.type == "INT":
                out.append(_int(c))
            elif isinstance(c, Token) and c.type == "STRING":
                out.append(c.value[1:-1].replace('\\"', '"').replace("\\\\", "\\"))
            else:
                out.append(str(c))
        return ("args", out)

    @v_args(meta=True)
    def attribute(self, meta, children):
        name = children[0]
        has_args = len(children) > 1
        args = children[1][1] if has_args else []
        return m.Attribute(str(name), args, self._loc(meta), has_args)  # at the '@'


    @v_args(meta=True)
    def procedure(self, meta, children):
        attrs = [c for c in children if isinstance(c, m.Attribute)]
        rest = [c for c in children if not isinstance(c, m.Attribute)]
        name = rest[0]
        params = [p for p in rest[1:-1] if isinstance(p, m.Param)]
        return m.Procedure(str(name), params, rest[-1], attrs, self.docs.above(meta.line),
                           self._loc(name))

    @v_args(meta=True)
    def service_decl(self, meta, children):
        name = children[0]
        extends: list[m.BaseRef] = []
        procs = []
        for c in children[1:]:
            if isinstance(c, list):
                extends = c
            else:
                procs.append(c)
        return m.ServiceDecl(str(name), extends, procs, self.docs.above(meta.line), self._loc(name))

    def namespace_decl(self, children):
        name, loc = children[0]
        return m.Namespace(name, loc)

    def import_decl(self, children):
        tok = children[0]
        return m.Import(tok.value[1:-1].replace('\\"', '"').replace("\\\\", "\\"), self._loc(tok))

    def start(self, items):
        sf = m.SourceFile(self.path)
        for it in items:
            if isinstance(it, m.Namespace):
                if sf.late_namespace_loc is None and (sf.imports or sf.decls):
                    sf.late_namespace_loc = it.loc  # a namespace that follows other items
                sf.namespaces.append(it)
            elif isinstance(it, m.Import):
                sf.imports.append(it)
            else:
                sf.decls.append(it)
        return sf


def _syntax_diagnostic(path: str, text: str, exc: lark.exceptions.LarkError) -> Diagnostic:
    _, names = _parser_and_terminals()
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        loc = Loc(path, exc.line, exc.column)
        pos = cast(int, exc.pos_in_stream)  # lark declares it None on the base class; the lexer sets it
        if text.startswith("/*", pos):
            return Diagnostic(loc, "unterminated block comment")
        ch = text[pos] if pos < len(text) else ""
        if ch == '"':
            return Diagnostic(loc, "unterminated string literal")
        return Diagnostic(loc, f"unexpected character {ch!r}")
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            lines = text.split("\n")
            # Point just past the last non-blank character: where the missing text belongs.
            ln = len(lines)
            while ln > 1 and lines[ln - 1].strip() == "":
                ln -= 1
            loc = Loc(path, ln, len(lines[ln - 1].rstrip()) + 1)
        else:
            loc = Loc(path, tok.line, tok.column)
        try:
            accepted = set(exc.interactive_parser.accepts())
        except Exception:  # pragma: no cover - lark could not simulate; fall back to its guess
            accepted = set(exc.expected)
        # '.' and '<' only continue a name; mentioning them buries the useful suggestion.
        if accepted - {"DOT", "LESSTHAN"}:
            accepted -= {"DOT", "LESSTHAN"}
        expected = sorted({_describe_terminal(t, names) for t in accepted} or {"nothing"})
        if tok.type != "$END" and _follows_nested_comment(text, tok.start_pos):
            return Diagnostic(loc, f"unexpected {_describe_token(tok)} after a block comment that "
                              "contains '/*' (block comments do not nest)")
        if len(expected) <= 4:
            want = ", ".join(expected[:-1]) + (" or " if len(expected) > 1 else "") + expected[-1]
            return Diagnostic(loc, f"unexpected {_describe_token(tok)}, expected {want}")
        return Diagnostic(loc, f"unexpected {_describe_token(tok)}")
    if isinstance(exc, lark.exceptions.UnexpectedEOF):
        lines = text.split("\n")
        return Diagnostic(Loc(path, len(lines), len(lines[-1]) + 1), "unexpected end of file")
    return Diagnostic(Loc(path, 1, 1), f"syntax error: {exc}")


_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def _follows_nested_comment(text: str, pos: int) -> bool:
    """True if the text just before pos is a block comment whose body contains '/*'."""
    before = text[:pos].rstrip()
    if not before.endswith("*/"):
        return False
    for match in _BLOCK_COMMENT.finditer(text, 0, len(before)):
        if match.end() == len(before):
            return "/*" in match.group(0)[2:-2]
    return False


MAX_SYNTAX_ERRORS = 20
# Where parsing can resume after a syntax error: a top-level keyword at the start of a line.
_RESYNC = re.compile(r"^[ \t]*(?:struct|enum|union|service|import|namespace)\b", re.M)


def _error_offset(text: str, exc: lark.exceptions.UnexpectedInput) -> int:
    if isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type != "$END":
        return exc.token.start_pos or 0
    pos: int | None = getattr(exc, "pos_in_stream", None)
    return len(text) if pos is None else pos


MAX_TYPE_NESTING = 64


def _too_deep(parser: lark.Lark, text: str, path: str) -> Diagnostic | None:
    """Type arguments nested deeper than any real schema (the tree walk is recursive)."""
    depth = 0
    try:
        for tok in parser.lex(text, dont_ignore=False):
            if tok.value == "<":
                depth += 1
                if depth > MAX_TYPE_NESTING:
                    return Diagnostic(Loc(path, tok.line or 0, tok.column or 0),
                                      f"type arguments nested more than {MAX_TYPE_NESTING} levels deep")
            elif tok.value == ">":
                depth = max(0, depth - 1)
            elif tok.value in (";", "{", "}"):
                depth = 0
    except lark.exceptions.LarkError:
        return None  # the parser reports lexical errors with a better message
    return None


# C0 controls and DEL other than tab and line breaks (a CR only before LF). In a doc comment they
# would reach the generated code: a NUL makes the generated Python uncompilable, a lone CR ends a
# Python `#:` comment line, so the rest of the comment would run as code.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\r(?!\n)")


def _control_character(text: str, path: str) -> Diagnostic | None:
    found = _CONTROL.search(text.replace("\r\n", "\n "))  # keeps offsets; a CRLF is fine
    if found is None:
        return None
    pos = found.start()
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return Diagnostic(Loc(path, line, col), f"control character U+{ord(text[pos]):04X} in the source "
                      "(only tabs and line breaks are allowed)")


def parse(text: str, path: str) -> tuple[m.SourceFile | None, list[Diagnostic]]:
    """Parse one file.  Returns the model, or None and its syntax errors.

    After a syntax error, parsing resumes at the next line that starts a top-level declaration
    (everything before it is blanked, keeping line and column numbers), so one run reports the
    syntax errors of independent declarations instead of only the first.
    """
    parser, _ = _parser_and_terminals()
    control = _control_character(text, path)
    if control is not None:
        return None, [control]
    too_deep = _too_deep(parser, text, path)
    if too_deep is not None:
        return None, [too_deep]
    docs = _Docs(text)
    try:
        tree = _parse_with_docs(parser, text, docs)
        return _ToModel(path, docs).transform(tree), []
    except lark.exceptions.UnexpectedInput as exc:
        diags = [_syntax_diagnostic(path, text, exc)]
        at = _error_offset(text, exc)
        if diags[0].message == "unterminated block comment":
            return None, diags  # the rest of the file is inside the comment
    while len(diags) < MAX_SYNTAX_ERRORS:
        line_end = text.find("\n", at)
        if line_end < 0:
            break
        resync = _RESYNC.search(text, line_end + 1)
        if resync is None:
            break
        # Blank the prefix but keep newlines, so positions in the rest stay exact.
        rest = "".join(ch if ch == "\n" else " " for ch in text[: resync.start()]) + text[resync.start():]
        try:
            _parse_with_docs(parser, rest, _Docs(rest))
            break
        except lark.exceptions.UnexpectedInput as exc:
            d = _syntax_diagnostic(path, text, exc) if _error_offset(rest, exc) < len(rest) else None
            if d is None or d.loc.line <= diags[-1].loc.line:
                break
            diags.append(d)
            at = _error_offset(rest, exc)
    return None, diags


def _parse_with_docs(parser: lark.Lark, text: str, docs: _Docs):
    _DOC_SINK[0] = docs.collect
    try:
        return parser.parse(text)
    finally:
        _DOC_SINK[0] = lambda tok: tok
