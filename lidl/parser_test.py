"""Positive parser/checker behaviour: comments, doc comments, imports via search paths, hashing."""
from __future__ import annotations

import pytest

from lidl import schema as t
from lidl.checker import Options, check_files, check_source
from lidl.schema import RService, RStruct, canon


def test_doc_comments_attach_to_the_next_declaration():
    s = check_source(
        "namespace d;\n"
        "/// First line.\n"
        "///   indented second line\n"
        "struct A {\n"
        "  //// four slashes: an ordinary comment\n"
        "  x: u8; /// trailing: not a doc comment of y\n"
        "  y: u8;\n"
        "  /// Doc of z.\n"
        "  z: u8;\n"
        "}\n"
        "/// Service doc.\n"
        "service S {\n"
        "  /// Proc doc.\n"
        "  @idempotent\n"
        "  f() -> void;\n"
        "}\n")
    a = s.decls["d.A"]
    assert isinstance(a, RStruct)
    assert a.doc == "First line.\n  indented second line"
    assert [f.doc for f in a.fields] == ["", "", "Doc of z."]
    svc = s.decls["d.S"]
    assert isinstance(svc, RService)
    assert svc.doc == "Service doc." and svc.procedures[0].doc == "Proc doc."


def test_block_comments():
    s = check_source(
        "namespace d; /* one-line */\n"
        "/* multi\n * line with * stars ** and // slashes\n**/\n"
        "struct A { x: /* inside */ u8; }\n"
        "/***/ struct B { }\n")
    assert set(s.decls) == {"d.A", "d.B"}


def test_enum_values_continue_from_the_previous_one():
    s = check_source("namespace d;\nenum E : i8 { a = -2, b, c = 10, d }\n")
    e = s.decls["d.E"]
    assert isinstance(e, t.REnum)
    assert [(v.name, v.value) for v in e.values] == [("a", -2), ("b", -1), ("c", 10), ("d", 11)]


def test_import_through_search_path(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "base.lidl").write_text("namespace base;\nstruct Id { v: u64; }\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.lidl").write_text(
        'namespace app;\nimport "lib/base.lidl";\nstruct Thing { id: base.Id; ids: vector<base.Id>; }\n')
    monkeypatch.chdir(tmp_path)
    s = check_files(["app/app.lidl"], Options(search_paths=(".",)))
    thing = s.decls["app.Thing"]
    assert isinstance(thing, t.RStruct)
    assert [canon(f.type) for f in thing.fields] == ["base.Id", "vector<base.Id>"]


def _hash(text: str) -> int:
    service = check_source(text).decls["h.S"]
    assert isinstance(service, t.RService)
    return service.schema_hash


BASE = "namespace h;\nstruct P { x: u32; }\nservice S { f(p: P) -> u8; }\n"


def test_schema_hash_ignores_docs_and_layout_but_not_types():
    h = _hash(BASE)
    assert h == _hash("namespace h;\n/// doc\nstruct P {\n  x: u32; // c\n}\nservice S {\n  f(p: P) -> u8;\n}\n")
    assert h != _hash(BASE.replace("x: u32", "x: u64"))
    assert h != _hash(BASE.replace("-> u8", "-> u16"))
    assert h != _hash(BASE.replace("f(p: P)", "g(p: P)"))
    assert h != _hash(BASE.replace("f(p", "@idempotent f(p"))


@pytest.mark.parametrize("src", [
    "namespace a.b.c;\nstruct<T> Box { v: T; }\nstruct U { b: Box<Box<array<u8, 4>>>; }\n",
    "namespace a;\nstruct Tree { kids: vector<Tree>; }\nunion V { t: Tree; n: u8; }\n",
    "namespace a;\nservice B { f() -> void; }\nservice C extends B { }\nservice D extends B, C { }\n",
])
def test_valid_sources(src):
    check_source(src)


def test_diamond_inheritance_keeps_one_copy_and_stable_ids():
    s = check_source("namespace a;\nservice B { f() -> void; }\nservice C extends B { g() -> void; }\n"
                     "service D extends B, C { h() -> void; }\n")
    d = s.decls["a.D"]
    assert isinstance(d, t.RService)
    assert [(p.id, p.name, p.declared_in) for p in d.procedures] == [
        (0, "f", "a.B"), (1, "g", "a.C"), (2, "h", "a.D")]



def test_an_unterminated_block_comment_over_many_lines_is_reported_at_once():
    # Found by lidl/fuzz: the block-comment pattern (.|\n)*? with DOTALL matched each newline two
    # ways, so a failing match backtracked 2^lines times (a 17-line comment took minutes).
    import time

    from lidl.diagnostics import LidlError
    from lidl.parser import parse
    start = time.monotonic()
    with pytest.raises(LidlError) as err:
        check_source("namespace a;\nstruct A { x: u8; }\n/* never closed\n" + "text\n" * 200)
    assert [(d.loc.line, d.loc.col, d.message) for d in err.value.diagnostics] == [
        (3, 1, "unterminated block comment")]
    assert parse("namespace a;\n/*" + "\n" * 100000, "x.lidl")[1][0].message == "unterminated block comment"
    assert time.monotonic() - start < 5



@pytest.mark.parametrize("bad,col", [("\x00", 10), ("\r", 10), ("\x1b", 10), ("\x7f", 10)])
def test_control_characters_are_located_errors(bad, col):
    # Found by lidl/fuzz: a doc comment carried a NUL into the generated Python (which then did
    # not compile), and a lone CR ended its `#:` comment line, running the rest as code.
    from lidl.diagnostics import LidlError
    with pytest.raises(LidlError) as err:
        check_source(f"namespace a;\nstruct A {{\n  /// doc{bad}print('x')\n  x: u8;\n}}\n")
    [d] = err.value.diagnostics
    assert (d.loc.line, d.loc.col) == (3, col) and d.message.startswith(f"control character U+{ord(bad):04X}")


def test_crlf_line_ends_and_tabs_are_fine():
    check_source("namespace a;\r\n/// doc\tcomment\r\nstruct A {\r\n\tx: u8;\r\n}\r\n")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
