"""CLI tests: subcommands on an inputs bundle, exit codes, and diagnostics instead of tracebacks."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from ambience.cli import main
from ambience.testlib import TESTDATA, ManifestBuilder, camera_trap_manifest


def write_bundle(tmp_path, b: ManifestBuilder) -> str:
    lidl = []
    for f in ("base.lidl.json", "camera_trap.lidl.json"):
        with open(os.path.join(TESTDATA, f), encoding="utf-8") as fh:
            lidl.append({"origin": f, "doc": json.load(fh)})
    path = tmp_path / f"{b.name}.inputs.json"
    path.write_text(json.dumps({"ambience_inputs": 1, "description": b.description(), "services": b.services,
                                "lidl": lidl}))
    (tmp_path / b.package).mkdir(parents=True, exist_ok=True)
    (tmp_path / b.build_file).write_text(b.source())
    return str(path)


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("BUILD_WORKSPACE_DIRECTORY", str(tmp_path))
    return write_bundle(tmp_path, camera_trap_manifest())


def test_plan_table(bundle, capsys):
    assert main(["plan", bundle]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["node", "board", "group", "instances", "reaches"]
    # each call of a group on its own line: which instance, which dependency, to what, how
    assert out[1].split() == ["camera", "mps2_an500", "camera_group", "camera_manager,", "detection",
                              "camera_manager.frames", "->", "detection", "(direct)"]
    assert out[2].split() == ["detection.next", "->", "recognition", "via", "lan", "(RPC)"]
    assert any(line.split()[:3] == ["motion", "mps2_an386", "motion_sensor"]
               and line.endswith("motion_sensor.handler -> camera_manager via xbee (RPC)") for line in out)
    assert any(line.endswith("database exported on internet:4898") for line in out)


def test_plan_json_and_node(bundle, capsys):
    assert main(["plan", bundle, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["start_order"][0] == "database"
    assert main(["plan", bundle, "--node", "edge"]) == 0
    assert json.loads(capsys.readouterr().out)["node"]["name"] == "edge"
    assert main(["plan", bundle, "--node", "nowhere"]) == 1
    assert "has no node 'nowhere'" in capsys.readouterr().err


def test_explain(bundle, capsys):
    assert main(["explain", bundle, "detection"]) == 0
    out = capsys.readouterr().out
    assert "runs in group 'camera_group'" in out
    assert "next (camera_trap.FrameHandler) -> recognition: 'recognition' runs on node 'edge': RPC" in out
    assert "camera_manager on camera via direct: handle" in out
    assert main(["explain", bundle, "nobody"]) == 1
    capsys.readouterr()
    assert main(["explain", bundle, "detection", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["node"]["name"] == "camera" and doc["instance"]["dependencies"][0]["path"] == "rpc"
    assert [c["caller"] for c in doc["callers"]] == ["camera_manager", "console"]


def test_sizes(bundle, capsys):
    assert main(["sizes", bundle, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["camera"]["regions"] == [{"group": "camera_group", "base": 0x20038000, "size": 16384, "needed": 11520,
                                       "waste": 4864}]
    assert main(["sizes", bundle]) == 0
    assert "group camera_group (MPU)" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed")
def test_graph_svg(bundle, tmp_path, capsys):
    assert main(["graph", bundle, "-o", str(tmp_path / "g.svg")]) == 0
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "camera_manager" in svg and "xbee" in svg
    assert main(["graph", bundle]) == 0
    assert capsys.readouterr().out.startswith('digraph "camera_trap"')
    assert main(["graph", bundle, "-o", "x.gif"]) == 1


def test_user_errors_exit_1_with_diagnostic(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BUILD_WORKSPACE_DIRECTORY", str(tmp_path))
    b = camera_trap_manifest()
    b.instance("extra", "//services/database")
    path = write_bundle(tmp_path, b)
    assert main(["plan", path]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("error: instance 'extra' is not deployed on any node "
                           "(add it, or a group containing it, to a deploy())")
    assert err[1] == 'instance(name = "extra", service = "//services/database", dependencies = {})'
    assert err[2] == "^"
    assert main(["plan", str(tmp_path / "missing.json")]) == 1
    (tmp_path / "bad.json").write_text("{")
    assert main(["plan", str(tmp_path / "bad.json")]) == 1
    assert "bad.json:1:2: error: invalid JSON" in capsys.readouterr().err


def test_help_everywhere(capsys):
    for cmd in (["--help"], ["plan", "--help"], ["graph", "--help"], ["sizes", "--help"], ["explain", "--help"],
                ["compile", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(cmd)
        assert e.value.code == 0
    assert "usage: ambience" in capsys.readouterr().out


def test_compile_writes_reproducible_plans(tmp_path, capsys):
    b = camera_trap_manifest()
    d = tmp_path / "desc.json"
    d.write_text(json.dumps(b.description()))
    svc = []
    for k, s in enumerate(b.services):
        p = tmp_path / f"s{k}.json"
        p.write_text(json.dumps(s))
        svc += ["--service", str(p)]
    lidl = [x for f in ("base.lidl.json", "camera_trap.lidl.json") for x in ("--lidl", os.path.join(TESTDATA, f))]
    outs = []
    for run in ("a", "b"):
        args = ["compile", "--description", str(d), *svc, *lidl, "--plan-dir", str(tmp_path / run),
                "--expect-nodes", "camera,cloud,edge,motion"]
        assert main(args) == 0
        outs.append({f: (tmp_path / run / f).read_bytes() for f in sorted(os.listdir(tmp_path / run))})
    assert outs[0] == outs[1] and sorted(outs[0]) == ["camera.plan.json", "cloud.plan.json", "edge.plan.json",
                                                      "motion.plan.json"]


def test_token_issue(tmp_path, monkeypatch, capsys):
    from ambience import keys, tokens
    from ambience.testlib import small

    monkeypatch.setenv("BUILD_WORKSPACE_DIRECTORY", str(tmp_path))
    b = small()
    b.instance("database", "//services/database")
    b.instance("db2", "//services/database")
    b.deploy("host", ["database", "db2"])
    b.export("database", "lan", port=80, http=8480)
    b.export("db2", "lan", port=81)
    path = write_bundle(tmp_path, b)
    store = str(tmp_path / "keys")
    label = "//deployments/test"
    keys.init_store(store, label)
    assert main(["token", "issue", path, "database", "--procedures", "ping", "--expires", "30m",
                 "--store", store]) == 0
    token = capsys.readouterr().out.strip()
    _, public = keys.token_keys(keys.load_master(store, label), label)
    t = tokens.check(token, public, label, "database", "ping")
    assert t.procedures == ("ping",)
    with pytest.raises(tokens.TokenError):
        tokens.check(token, public, label, "database", "range")
    assert main(["token", "issue", path, "database", "--store", store]) == 0
    assert tokens.check(capsys.readouterr().out.strip(), public, label, "database", "range").procedures is None
    # refusals: not exported, exported without a door, unknown procedure, bad expiry, no master
    for argv, said in [(["detection"], "'detection' is not exported by //deployments/test (exported: database, db2)"),
                       (["db2"], "'db2' has no HTTP door"),
                       (["database", "--procedures", "ping,drop"], "no such procedure drop"),
                       (["database", "--expires", "soon"], "--expires soon: not a duration")]:
        assert main(["token", "issue", path, *argv, "--store", store]) == 1
        assert said in capsys.readouterr().err
    assert main(["token", "issue", path, "database", "--store", str(tmp_path / "empty")]) == 1
    assert "no master key for //deployments/test" in capsys.readouterr().err
