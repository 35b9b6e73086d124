"""The planner's board table is the target facts document: limits come from the kernel's headers."""
from __future__ import annotations

import copy
import json

import pytest

from ambience import boards
from ambience.diagnostics import DiagnosticError, format_all
from ambience.planner import make_plan
from ambience.plan_json import plan_documents
from ambience.testlib import F, camera_trap_interfaces, small

MCU = "//platforms/boards:mps2_an386"


def mcu_node_with_groups(count: int):
    b = small()
    line = b.node("mcu", board=MCU, networks={"lan": "10.0.0.2"})
    names = [f"db{i}" for i in range(count)]
    for n in names:
        b.instance(n, "//services/database", memory="1K")
    b.deploy("mcu", names)
    dep, rep = b.model()
    rep.check()
    return dep, line


@pytest.fixture
def facts():
    """A copy of the committed facts; the board table is restored afterwards."""
    doc = boards.load_facts()
    yield copy.deepcopy(doc)
    boards.use_facts(doc)


def test_every_mcu_limit_is_a_kernel_fact():
    doc = boards.load_facts()
    for d in doc["boards"]:
        b = boards.find_board(d["label"])
        assert b is not None and b.ram_size == d["ram_bytes"]
        if d["kind"] == "mcu":
            k = d["kernel"]
            assert (b.max_groups, b.max_ring_instances, b.group_stack, b.mpu_regions_needed, b.mpu_min_region) == (
                k["max_groups"], k["max_ring_instances"], k["group_stack_bytes"], k["mpu_regions_needed"],
                k["mpu_min_region_bytes"])
            # groups.hpp's group_needed_bytes(stack, 0): stack, 64-aligned ring region, boot block.
            assert b.group_overhead == k["group_stack_bytes"] + k["ring_region_bytes"] + k["boot_block_bytes"]
        for alias in d.get("aliases", []):
            assert boards.find_board(alias) == b


def test_as_many_isolated_groups_as_the_supervisor_has_slots():
    limit = boards.find_board(MCU).max_groups
    dep, _ = mcu_node_with_groups(limit)
    doc = json.loads(plan_documents(make_plan(dep, camera_trap_interfaces()))["mcu"])
    assert doc["runtime"]["kind"] == "mcu_isolated"
    assert len([g for g in doc["groups"] if not g["kernel"]]) == limit


def test_the_group_limit_follows_the_facts(facts):
    for d in facts["boards"]:
        if d["kind"] == "mcu":
            d["kernel"]["max_groups"] = 2
    boards.use_facts(facts)
    dep, line = mcu_node_with_groups(3)
    with pytest.raises(DiagnosticError) as e:
        make_plan(dep, camera_trap_interfaces())
    assert format_all(e.value.diagnostics, []) == (
        f"{F}:{line}:1: error: node 'mcu': 3 isolated groups, but the Cortex-M supervisor runs at most 2 "
        f"(kMaxGroups); merge groups with group()")


def test_a_board_whose_mpu_is_too_small_cannot_isolate_groups(facts):
    for d in facts["boards"]:
        if d["kind"] == "mcu":
            d["mpu_regions"] = 4
    boards.use_facts(facts)
    dep, line = mcu_node_with_groups(1)
    with pytest.raises(DiagnosticError) as e:
        make_plan(dep, camera_trap_interfaces())
    assert format_all(e.value.diagnostics, []) == (
        f"{F}:{line}:1: error: node 'mcu': isolated groups need 8 MPU regions, but board 'mps2_an386' "
        f"(cortex-m4) has 4; put every instance in the kernel group")


def test_a_document_without_a_kernel_fact_is_refused(facts):
    del facts["boards"][0]["kernel"]["max_groups"]
    with pytest.raises(boards.FactsError, match="missing fact 'max_groups'"):
        boards.use_facts(facts)


def test_compile_plans_with_the_facts_it_is_given_and_bundles_them(tmp_path, capsys, monkeypatch, facts):
    import os

    from ambience.cli import main
    from ambience.testlib import TESTDATA

    for d in facts["boards"]:
        if d["kind"] == "mcu":
            d["kernel"]["max_groups"] = 2
    f = tmp_path / "target_facts.json"
    f.write_text(json.dumps(facts))
    b = small()
    line = b.node("mcu", board=MCU, networks={"lan": "10.0.0.2"})
    for n in ("db0", "db1", "db2"):
        b.instance(n, "//services/database", memory="1K")
    b.deploy("mcu", ["db0", "db1", "db2"])
    d = tmp_path / "desc.json"
    d.write_text(json.dumps(b.description()))
    args = ["compile", "--description", str(d), "--facts", str(f), "--inputs-out", str(tmp_path / "in.json")]
    for k, s in enumerate(b.services):
        p = tmp_path / f"s{k}.json"
        p.write_text(json.dumps(s))
        args += ["--service", str(p)]
    for name in ("base.lidl.json", "camera_trap.lidl.json"):
        args += ["--lidl", os.path.join(TESTDATA, name)]
    want = f"{F}:{line}:1: error: node 'mcu': 3 isolated groups, but the Cortex-M supervisor runs at most 2"
    assert main(args) == 1
    assert want in capsys.readouterr().err
    assert json.loads((tmp_path / "in.json").read_text())["facts"] == facts
    # The CLI re-plans the bundle with the bundled facts, whatever the table holds now.
    boards.use_facts(boards.load_facts())
    monkeypatch.setenv("BUILD_WORKSPACE_DIRECTORY", str(tmp_path))
    assert main(["plan", str(tmp_path / "in.json")]) == 1
    assert want in capsys.readouterr().err
