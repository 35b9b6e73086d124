"""The plan document's loader is the writer's inverse: what codegen and the CLI read is what the
planner wrote, field for field."""
from __future__ import annotations

import json

import pytest

from ambience.plan_json import document_json, dumps, load_node_plan, load_node_plan_text, node_document, plan_documents
from ambience.planner import make_plan
from ambience.testlib import camera_trap_interfaces, camera_trap_manifest, random_deployment


def _plans():
    b = camera_trap_manifest()
    b.instance("watcher", "//services/motion", {"handler": "camera_manager"})  # a relayed route
    b.deploy("cloud", ["watcher"])
    yield b
    yield camera_trap_manifest()
    for seed in (1, 2, 3):
        yield random_deployment(8, seed)


@pytest.mark.parametrize("builder", list(_plans()))
def test_loaded_document_writes_back_byte_identical(builder):
    dep, rep = builder.model()
    rep.check()
    plan = make_plan(dep, camera_trap_interfaces())
    for name, text in plan_documents(plan).items():
        doc = load_node_plan_text(text)
        assert dumps(document_json(doc)) == text
        # the loaded document equals the one the planner built (runtime connectors included)
        assert doc == node_document(plan, plan.nodes[name])


def test_loader_refuses_another_format():
    with pytest.raises(ValueError, match="not an ambience plan document"):
        load_node_plan(json.loads('{"ambience_plan": 2}'))
