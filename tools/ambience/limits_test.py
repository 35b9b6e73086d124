"""What no runtime can build is refused by the planner with a location, never by codegen."""
from __future__ import annotations

import json

import pytest

from ambience.diagnostics import DiagnosticError, Reporter, format_all
from ambience.interfaces import load_lidl_json
from ambience.planner import make_plan
from ambience.plan_json import plan_documents
from ambience.testlib import ManifestBuilder, camera_trap_interfaces, camera_trap_services

F = "deployments/test/BUILD.bazel"


def wide_interface(procedures: int) -> dict:
    """A lidl JSON document with one service of `procedures` procedures (ids 0..n-1)."""
    procs = [{"name": f"p{k}", "id": k, "declared_in": "wide.Wide", "params": [], "result": "void",
              "attributes": [], "has_views": False} for k in range(procedures)]
    return {"lidl_json": 1, "source": "wide.lidl", "namespace": "wide", "types": [],
            "services": [{"name": "wide.Wide", "extends": [], "doc": "", "schema_hash": "0123456789abcdef",
                          "procedures": procs}]}


def wide_deployment(procedures: int):
    reg = camera_trap_interfaces()
    rep = Reporter()
    load_lidl_json(wide_interface(procedures), "wide.lidl.json", reg, rep)
    rep.check()
    b = ManifestBuilder()
    camera_trap_services(b)
    b.service("//services/wide:wide", "wide.Wide")
    b.service("//services/caller:caller", "camera_trap.EventLog", {"wide": "wide.Wide"})
    b.node("host")
    line = b.instance("wide", "//services/wide")
    b.instance("caller", "//services/caller", {"wide": "wide"})
    b.deploy("host", ["wide", "caller"])
    dep, rep = b.model()
    rep.check()
    return dep, reg, line


def test_a_service_beyond_the_capability_mask_is_a_located_error():
    dep, reg, line = wide_deployment(65)
    with pytest.raises(DiagnosticError) as e:
        make_plan(dep, reg)
    text = format_all(e.value.diagnostics, [])
    assert (f"{F}:{line}:1: error: instance 'wide': interface 'wide.Wide' has 65 procedures (ids up to 64), but a "
            f"capability names at most 64 procedures (ids 0..63); split the interface") in text
    assert "services/wide/BUILD.bazel:3:1: note: service '//services/wide:wide' declared here" in text


def test_sixty_four_procedures_fit_and_the_mask_names_all_of_them():
    dep, reg, _ = wide_deployment(64)
    doc = json.loads(plan_documents(make_plan(dep, reg))["host"])
    cap = next(c for c in doc["capabilities"] if c["callee"] == "wide")
    assert [p["id"] for p in cap["procedures"]] == list(range(64))


def test_every_edge_names_its_connector_and_the_node_its_runtime():
    dep, reg, _ = wide_deployment(3)
    doc = json.loads(plan_documents(make_plan(dep, reg))["host"])
    assert doc["runtime"]["kind"] == "hosted_processes"
    assert doc["runtime"]["group_ids"] == {"caller": 1, "kernel": -1, "wide": 0}  # groups in start order
    caller = next(i for i in doc["instances"] if i["name"] == "caller")
    assert [(d["dependency"], d["path"], d["connector"]) for d in caller["dependencies"]] == [("wide", "ipc", "share_across")]
