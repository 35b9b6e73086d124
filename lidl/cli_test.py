"""The lidlc command line: exit codes, diagnostics on stderr, no tracebacks, --help everywhere."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lidl", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_check_ok():
    r = run("check", str(ROOT / "lidl/testdata/frames.lidl"))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_check_error_exit_1_without_traceback(tmp_path):
    (tmp_path / "bad.lidl").write_text("namespace a;\nstruct A { x: Nope; y: vector; }\n")
    r = run("check", "bad.lidl", cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("bad.lidl:2:15: error: unknown type 'Nope'\n")
    assert r.stderr.endswith("2 errors generated.\n")


def test_missing_file_is_a_user_error(tmp_path):
    r = run("check", "nope.lidl", cwd=tmp_path)
    assert r.returncode == 1
    assert "nope.lidl:1:1: error: cannot open 'nope.lidl': no such file" in r.stderr


def test_gen_py_of_an_import_that_is_no_python_module_name_is_a_user_error(tmp_path):
    # Found by lidl/fuzz: the generated Python imported `my-dir.a-b_lidl`, a syntax error.
    (tmp_path / "my-dir").mkdir()
    (tmp_path / "my-dir/a-b.lidl").write_text("namespace x;\nstruct A { a: u8; }\n")
    (tmp_path / "main.lidl").write_text('namespace y;\nimport "my-dir/a-b.lidl";\nstruct B { a: x.A; }\n')
    r = run("gen", "--lang", "py", "main.lidl", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("my-dir/a-b.lidl:1:1: error: the generated Python module of this file would be "
                               "'my-dir.a-b_lidl'")
    assert run("gen", "--lang", "cpp", "main.lidl", cwd=tmp_path).returncode == 0


def test_json_diagnostics(tmp_path):
    (tmp_path / "bad.lidl").write_text("namespace a;\nstruct A { x: Nope; }\n")
    r = run("check", "--json", "bad.lidl", cwd=tmp_path)
    assert r.returncode == 1
    d = json.loads(r.stderr.splitlines()[0])
    assert (d["line"], d["col"], d["message"]) == (2, 15, "unknown type 'Nope'")


def test_gen_json_contract():
    r = run("gen", "--lang", "json", "lidl/testdata/frames.lidl", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["lidl_json"] == 1 and d["source"] == "lidl/testdata/frames.lidl" and d["namespace"] == "camera_trap"
    frame = d["types"][0]
    assert frame["name"] == "camera_trap.Frame" and frame["kind"] == "struct"
    assert frame["fields"][0] == {"name": "width", "type": "u16", "doc": ""}
    species = d["types"][1]
    assert species["underlying"] == "u8" and species["values"][1]["name"] == "cat"
    log = d["services"][1]
    assert log["name"] == "camera_trap.EventLog" and len(log["schema_hash"]) == 16
    rng = log["procedures"][1]
    assert rng["name"] == "range" and rng["id"] == 1 and rng["declared_in"] == "camera_trap.EventLog"
    assert rng["result"] == "vector<camera_trap.Sighting>" and rng["attributes"] == ["idempotent"]
    assert rng["params"] == [{"name": "first", "type": "u64"}, {"name": "count", "type": "u32"}]
    assert rng["has_views"] is False


def test_inherited_procedures_have_stable_ids():
    r = run("gen", "--lang", "json", "lidl/testdata/everything.lidl", cwd=ROOT)
    store = json.loads(r.stdout)["services"][0]
    assert store["extends"] == ["demo.base.Named"]
    assert [(p["id"], p["name"], p["declared_in"]) for p in store["procedures"]][:2] == [
        (0, "name", "demo.base.Named"), (1, "put", "demo.Store")]
    assert store["procedures"][-1]["has_views"] is True


@pytest.mark.parametrize("sub", [[], ["check"], ["gen"]])
def test_help(sub):
    r = run(*sub, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
