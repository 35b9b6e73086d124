"""Fuzzes the lidl parser, checker and generators: for any text the only allowed outcomes are a
checked schema (whose C++, Python and JSON generate, the Python compiling) or LidlError with
located diagnostics (`file:line:col` inside the file it names). Anything else is a failure.

    python3 -m lidl.fuzz.lidl_fuzz --seconds 60          (PYTHONPATH=repo root)
    bazel run //lidl:lidl_fuzz -- --seconds 60

Seeds: copies of checked-in .lidl files under lidl/fuzz/seeds/, laid out as in the repository
(the search path, so their imports resolve); the input is checked as
lidl/testdata/fuzz_input.lidl. Mutations: lidl tokens deleted, repeated, swapped or replaced by
keywords, types, extreme integers, comment and string openers; lines spliced from other seeds.
"""
from __future__ import annotations

import os
import random
import re
import sys
import tempfile

from lidl.checker import Options, check_files
from lidl.diagnostics import Diagnostic, LidlError
from lidl.fuzz import driver
from lidl.gen_cpp import generate_cpp
from lidl.gen_json import generate_json
from lidl.gen_py import generate_py

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
INPUT = os.path.join(SEEDS, "lidl", "testdata", "fuzz_input.lidl")
# As the lidl_library rule runs lidlc: generated code names files relative to the root.
OPTIONS = Options(search_paths=(SEEDS,), strip_prefixes=(SEEDS,))

_TOKEN = re.compile(r'///?[^\n]*|/\*|\*/|"(?:[^"\\\n]|\\.)*"?|-?0[xX][0-9a-fA-F]+|-?\d+|[A-Za-z_]\w*|\s+|.',
                    re.S)
WORDS = [
    "namespace", "import", "struct", "enum", "union", "service", "extends", "u8", "u16", "u32", "u64", "i8",
    "i64", "bool", "f32", "f64", "string", "bytes", "vector", "array", "optional", "string_view", "span",
    "vector<", "array<u8, 4>", "optional<", "span<u8>", "<", ">", "{", "}", "(", ")", ";", ":", ",", "=", ".",
    "->", "@", "@idempotent", "@oneway", "@timeout_ms(", "0", "-1", "255", "256", "65536", "0x7fffffffffffffff",
    "0xffffffffffffffff", "18446744073709551616", "-9223372036854775809", "99999999999999999999999",
    '"', '""', '"base.lidl"', '"../x.lidl"', '"/etc/passwd"', '"lidl"', "/*", "*/", "/* /* */", "//", "///",
    "////", "_x", "self", "class", "def", "None", "T", "T: plain", "Frame", "base.Service", "a.b.c", "\t", "\n",
    "\r\n", "\u00e9", "\x00", "\ufeff",
]
LINE_SNIPPETS = [
    "struct S { a: u8; }", "struct S<T> { a: T; }", "struct R { r: R; }", "struct V { v: vector<V>; }",
    "enum E : u8 { a = 1, b = 1 }", "enum E : u64 { a = 0xffffffffffffffff }", "union U { a: u8; b: string; }",
    "service X extends X { p() -> u8; }", "service Y { @idempotent get(a: string_view) -> span<u8>; }",
    "import \"lidl/testdata/fuzz_input.lidl\";", "import \"\";", "import \"services/motion/motion.lidl\";",
    "namespace a.b;", "struct A { a: array<u8, 0>; b: array<array<u64, 65535>, 65535>; }",
    "struct O { o: optional<optional<u8>>; }", "service Z { p(x: vector<string_view>) -> u8; }",
]


def _seeds() -> list[bytes]:
    out = []
    for root, _, files in sorted(os.walk(SEEDS)):
        for f in sorted(files):
            if f.endswith(".lidl"):
                with open(os.path.join(root, f), "rb") as fh:
                    out.append(fh.read())
    return out


_SEED_LINES: list[str] = []


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Token-level mutations of lidl text (the driver adds byte-level ones)."""
    text = data.decode("utf-8", "replace")
    toks = _TOKEN.findall(text) or [""]
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(toks))
        op = rng.randrange(7)
        if op == 0 and len(toks) > 1:
            del toks[i:i + rng.randint(1, 3)]
        elif op == 1:
            toks.insert(i, toks[rng.randrange(len(toks))])
        elif op == 2:
            j = rng.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        elif op == 3:
            toks[i] = rng.choice(WORDS)
        elif op == 4:
            toks.insert(i, " " + rng.choice(WORDS) + " ")
        elif op == 5:
            toks.insert(i, "\n" + rng.choice(LINE_SNIPPETS + _SEED_LINES or LINE_SNIPPETS) + "\n")
        else:
            depth = rng.randint(1, 80)
            toks.insert(i, "vector<" * depth + "u8" + ">" * depth)
    return "".join(toks).encode("utf-8", "surrogatepass")[:driver.MAX_LEN]


def _check_located(d: Diagnostic, sources: dict[str, str]) -> None:
    assert d.loc.file, f"a diagnostic without a file: {d}"
    assert d.loc.line >= 1 and d.loc.col >= 1, f"a diagnostic without a position: {d.loc}: {d.message}"
    text = sources.get(d.loc.file)
    if text is not None:
        lines = text.split("\n")
        assert d.loc.line <= len(lines), f"{d.loc} is past the end of the file ({len(lines)} lines): {d.message}"
        assert d.loc.col <= len(lines[d.loc.line - 1]) + 1, f"{d.loc} is past the end of its line: {d.message}"
    for n in d.notes:
        _check_located(n, sources)


_HEADER = re.compile(r"^.+:\d+:\d+: (error|note): .")
_scratch = tempfile.mkdtemp(prefix="lidl-fuzz-")


def target(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # as lidlc reads a file: from disk
        path = os.path.join(_scratch, "input.lidl")
        with open(path, "wb") as f:
            f.write(data)
        try:
            check_files([path], OPTIONS)
        except LidlError as e:
            assert e.diagnostics and all(d.loc.file for d in e.diagnostics)
            e.render()
        else:
            raise AssertionError("a file that is not UTF-8 was accepted")
        return
    try:
        schema = check_files([INPUT], OPTIONS, {os.path.normpath(INPUT): text})
    except LidlError as e:
        assert e.diagnostics, "LidlError without diagnostics"
        for d in e.diagnostics:
            _check_located(d, e.sources)
        rendered = e.render()
        headers = [ln for ln in rendered.split("\n") if ln and ln.startswith(SEEDS)]
        assert headers, f"no located diagnostic line in:\n{rendered}"
        for ln in headers:
            assert _HEADER.match(ln), f"not file:line:col: error|note: {ln!r}"
        return
    path = os.path.normpath(INPUT)
    generate_json(schema, path)
    generate_cpp(schema, path)
    try:
        py = generate_py(schema, path)
    except LidlError as e:  # a file name Python cannot import: located at that file
        for d in e.diagnostics:
            _check_located(d, {})
        return
    try:
        compile(py, "fuzz_input_lidl.py", "exec")
    except SyntaxError as e:
        lines = py.split("\n")
        raise AssertionError(f"the generated Python does not compile: {e.msg}, line {e.lineno}: "
                             f"{lines[(e.lineno or 1) - 1]!r}") from e


def _setup() -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))  # as lidlc does
    for s in _seeds():
        _SEED_LINES.extend(ln for ln in s.decode("utf-8").split("\n") if ln.strip())


def main(argv: list[str] | None = None) -> int:
    return driver.main("lidl", target, _seeds(), mutate, argv, setup=_setup, instrument=["lidl", "lark"],
                       max_len=8192)  # the largest checked-in .lidl file has 3 KB


if __name__ == "__main__":
    sys.exit(main())
