"""Planner tests: positive plans for the flagship deployment and pinned diagnostics for mistakes."""
from __future__ import annotations

import json

import pytest

from ambience.diagnostics import DiagnosticError, format_all
from ambience.plan_json import load_node_plan_text, plan_documents
from ambience.plan_model import Capability, Endpoint, ProcedureRef
from ambience.planner import make_plan
from ambience.testlib import (
    F,
    ManifestBuilder,
    camera_trap_interfaces,
    camera_trap_manifest,
    camera_trap_services,
    errors_of,
    plan_of,
    small,
)

# ----------------------------------------------------------------------------- positive


def test_camera_trap_call_paths():
    p = plan_of(camera_trap_manifest())
    paths = {(e.caller, e.dependency): (e.path, e.target_node, [h.network for h in e.route]) for e in p.edges}
    assert paths == {
        ("motion_sensor", "handler"): ("rpc", "camera", ["xbee"]),
        ("camera_manager", "frames"): ("direct", "camera", []),
        ("detection", "next"): ("rpc", "edge", ["lan"]),
        ("recognition", "log"): ("rpc", "cloud", ["internet"]),
    }
    assert p.start_order == ["database", "recognition", "detection", "camera_manager", "motion_sensor"]


def test_default_groups_and_kernel_group():
    p = plan_of(camera_trap_manifest())
    assert [(g.name, g.kernel, g.instances) for g in p.nodes["camera"].groups] == [
        ("kernel", True, []), ("camera_group", False, ["detection", "camera_manager"])]
    assert [(g.name, g.implicit) for g in p.nodes["edge"].groups] == [("kernel", True), ("recognition", True)]


def test_two_groups_on_one_node_use_ipc():
    b = small()
    b.instance("detection", "//services/detection", {"next": "recognition"})
    b.instance("recognition", "//services/recognition", {"log": "database"})
    b.instance("database", "//services/database")
    b.group("front", ["detection", "recognition"])
    b.deploy("host", ["front", "database"])
    p = plan_of(b)
    assert {(e.caller, e.path) for e in p.edges} == {("detection", "direct"), ("recognition", "ipc")}
    assert [g.name for g in p.nodes["host"].groups] == ["kernel", "database", "front"]


def test_deploy_by_member_name_means_its_group():
    b = small()
    b.instance("recognition", "//services/recognition", {"log": "database"})
    b.instance("database", "//services/database")
    b.group("app", ["recognition", "database"])
    b.deploy("host", ["database"])
    b.deploy("host", ["recognition"])
    p = plan_of(b)
    assert [g.name for g in p.nodes["host"].groups] == ["kernel", "app"] and p.edges[0].path == "direct"


def test_node_provided_service_is_the_one_on_the_callers_node():
    b = ManifestBuilder()
    camera_trap_services(b)
    b.network("lan", "udp")
    b.node("a", networks={"lan": "10.0.0.1"}, provides={"log": "//services/database"})
    b.node("b", board="//platforms/boards:mps2_an386", networks={"lan": "10.0.0.2"},
           provides={"log": "//services/database"})
    b.instance("r1", "//services/recognition", {"log": "log"})
    b.instance("r2", "//services/recognition", {"log": "log"})
    b.deploy("a", ["r1"])
    b.deploy("b", ["r2"])
    p = plan_of(b)
    assert {(e.caller, e.target, e.path) for e in p.edges} == {("r1", "a_log", "ipc"), ("r2", "b_log", "ipc")}
    assert [(g.name, g.kernel, g.instances) for g in p.nodes["b"].groups] == [
        ("kernel", True, ["b_log"]), ("r2", False, ["r2"])]
    assert p.provided_by == {"a_log": "a", "b_log": "b"}
    assert p.start_order.index("a_log") < p.start_order.index("r1")


def test_forwarder_on_intermediate_node():
    b = camera_trap_manifest()
    b.instance("watcher", "//services/motion", {"handler": "camera_manager"})
    b.deploy("cloud", ["watcher"])
    p = plan_of(b)
    e = next(e for e in p.edges if e.caller == "watcher")
    assert [(h.src, h.network, h.dst) for h in e.route] == [("cloud", "internet", "edge"), ("edge", "lan", "camera")]
    assert e.cost == 6
    fw = [(f.from_network, f.to_network, f.destinations) for f in p.nodes["edge"].forwarders]
    assert fw == [("internet", "lan", ["camera"]), ("lan", "internet", ["cloud"])]
    hops = {h.destination: (h.hop.network, h.hop.address, h.hop.port) for h in p.nodes["edge"].next_hops}
    # plus the console's: its own network, and the way on to the motion board (console via edge)
    assert hops == {"camera": ("lan", "10.0.0.2", 4800), "cloud": ("internet", "cloud", 4800),
                    "console": ("console", "127.0.0.1", 7700), "motion": ("lan", "10.0.0.2", 4800)}


def test_route_prefers_least_cost_not_fewest_hops():
    b = ManifestBuilder()
    camera_trap_services(b)
    b.network("slow", "udp", hop_cost=20)
    b.network("a", "udp", hop_cost=2)
    b.network("b", "udp", hop_cost=3)
    b.node("n1", networks={"slow": "10.0.0.1", "a": "10.1.0.1"})
    b.node("n2", networks={"a": "10.1.0.2", "b": "10.2.0.2"})
    b.node("n3", networks={"slow": "10.0.0.3", "b": "10.2.0.3"})
    b.instance("recognition", "//services/recognition", {"log": "database"})
    b.instance("database", "//services/database")
    b.deploy("n1", ["recognition"])
    b.deploy("n3", ["database"])
    e = plan_of(b).edges[0]
    assert [h.network for h in e.route] == ["a", "b"] and e.cost == 5


def test_inherited_interface_is_accepted():
    # recognition implements Recognizer, which extends FrameHandler.
    p = plan_of(camera_trap_manifest())
    assert any(e.target == "recognition" and e.interface == "camera_trap.FrameHandler" for e in p.edges)


def test_capabilities_list_procedures_of_required_interface():
    p = plan_of(camera_trap_manifest())
    caps = p.nodes["edge"].capabilities
    # the operator's console may call everything (its whole interface), a node only what it requires
    assert caps == [Capability("console", "console", "recognition", "camera_trap.Recognizer", "rpc",
                               (ProcedureRef("handle", 0, "camera_trap.FrameHandler"),
                                ProcedureRef("reset", 1, "camera_trap.Recognizer"))),
                    Capability("detection", "camera", "recognition", "camera_trap.FrameHandler", "rpc",
                               (ProcedureRef("handle", 0, "camera_trap.FrameHandler"),))]
    cloud = p.nodes["cloud"].capabilities
    assert [c.caller for c in cloud] == ["console", "external:internet", "recognition"]
    assert [c.token_required for c in cloud] == [False, True, False]
    assert [x.name for x in cloud[2].procedures] == ["ping", "append", "range"]


def test_export_port_and_endpoint_allocation():
    b = camera_trap_manifest()
    b.export("database", "internet", port=4800)  # collides with the default endpoint port
    errs = errors_of(b)
    assert errs == [f"deployments/camera_trap/BUILD.bazel:{len(b.lines)}:1: error: instance 'database' is exported "
                    f"on network 'internet' twice"]
    b2 = camera_trap_manifest()
    b2.instance("other_db", "//services/database")
    b2.deploy("cloud", ["other_db"])
    b2.export("other_db", "internet", port=4800)
    p = plan_of(b2)
    assert p.nodes["cloud"].endpoints == [Endpoint("internet", "udp", "cloud", 4801),
                                          Endpoint("console", "udp", "127.0.0.1", 7702)]


def test_export_through_gateway():
    b = camera_trap_manifest()
    b.export("detection", "internet", port=5000)
    p = plan_of(b)
    ex = p.nodes["edge"].exports
    assert ex[0].instance == "detection" and ex[0].node == "camera"
    assert [h.dst for h in ex[0].route] == ["camera"]


def test_import_service():
    b = small()
    b.import_service("remote_log", "camera_trap.EventLog", "lan", "10.0.0.99", port=7000)
    b.instance("recognition", "//services/recognition", {"log": "remote_log"})
    b.deploy("host", ["recognition"])
    p = plan_of(b)
    e = p.edges[0]
    assert e.path == "rpc" and e.target_kind == "import"
    assert [(h.dst, h.address, h.port) for h in e.route] == [("import:remote_log", "10.0.0.99", 7000)]


def test_mcu_layout_regions_are_power_of_two_and_aligned():
    b = camera_trap_manifest()
    p = plan_of(b)
    lay = p.nodes["camera"].layout
    assert lay is not None
    for r in lay.regions:
        assert r.size & (r.size - 1) == 0 and r.base % r.size == 0 and r.size >= r.needed
    # Below the 8 KiB stack at the top of 256 KiB RAM, 16 KiB-aligned: an 8 KiB gap above the region.
    # needed = state (2 instances x 4 KiB) + ring region 1728 + boot block 64 + stack 1536, as
    # kernel/arch/cortex_m's group_needed_bytes computes it
    assert lay.regions[0].needed == 2 * 4096 + 1728 + 64 + 1536 and lay.regions[0].size == 16384
    assert lay.regions[0].base == 0x20038000 and lay.kernel_size == 0x38000 and lay.waste == 4864 + 8192


def test_plan_json_is_byte_reproducible_and_order_independent():
    a = plan_documents(plan_of(camera_trap_manifest()))
    b2 = camera_trap_manifest()
    b2.declarations.reverse()
    b2.services.reverse()
    b = plan_documents(plan_of(b2))
    assert a == b
    for text in a.values():
        json.loads(text)


def test_many_errors_in_one_run():
    b = small()
    l1 = b.instance("detection", "//services/detection", {"next": "nobody"})
    l2 = b.instance("recognition", "//services/recognition", {})
    l3 = b.deploy("ghost", ["detection"])
    errs = errors_of(b)
    assert errs == [
        f"{F}:{l1}:1: error: instance 'detection': dependency 'next' is bound to unknown instance 'nobody'",
        f"{F}:{l2}:1: error: instance 'recognition' is not deployed on any node "
        "(add it, or a group containing it, to a deploy())",
        f"{F}:{l2}:1: error: instance 'recognition': dependency 'log' (camera_trap.EventLog) of service "
        "'//services/recognition:recognition' is not bound",
        f"{F}:{l3}:1: error: deploy: unknown node 'ghost'",
    ]


def test_formatted_diagnostic_has_source_line_and_caret(tmp_path):
    b = small()
    b.instance("detection", "//services/detection", {"next": "database"})
    b.instance("database", "//services/database")
    b.deploy("host", ["detection", "database"])
    (tmp_path / "deployments/test").mkdir(parents=True)
    (tmp_path / F).write_text(b.source())
    dep, _ = b.model()
    with pytest.raises(DiagnosticError) as e:
        make_plan(dep, camera_trap_interfaces())
    text = format_all(e.value.diagnostics, [str(tmp_path)])
    assert text.splitlines() == [
        f"{F}:5:1: error: instance 'detection': dependency 'next' is bound to 'database' (camera_trap.EventLog), "
        "but the service requires camera_trap.FrameHandler",
        'instance(name = "detection", service = "//services/detection", dependencies = {"next": "database"})',
        "^",
    ]


def test_the_console_reaches_every_node_through_the_nearest_hosted_node():
    b = camera_trap_manifest()
    b.node("loner", board="//platforms/boards:mps2_an386")  # on no network: the console cannot reach it
    p = plan_of(b)
    assert {n: np.console_entry for n, np in p.nodes.items()} == {
        "camera": "edge", "cloud": "cloud", "edge": "edge", "loner": "", "motion": "edge"}
    hops = {n: {h.destination: (h.hop.network, h.hop.dst, h.hop.address, h.hop.port) for h in np.next_hops}
            for n, np in p.nodes.items()}
    # every hosted node has a console endpoint (CONSOLE_PORT + its number) and the next hop back
    assert [e for e in p.nodes["edge"].endpoints if e.network == "console"] == [
        Endpoint("console", "udp", "127.0.0.1", 7703)]
    assert hops["edge"]["console"] == hops["cloud"]["console"] == ("console", "console", "127.0.0.1", 7700)
    # the console's requests for motion go edge > camera > motion; camera sends the replies to edge
    assert hops["edge"]["motion"] == ("lan", "camera", "10.0.0.2", 4800)
    assert hops["camera"] == {"console": ("lan", "edge", "10.0.0.1", 4800), "motion": ("xbee", "motion", "1", 1)}
    assert hops["motion"] == {}  # it answers the peer a request came from
    # every instance of a reachable node grants the console its whole interface; loner grants nothing
    for name, np in p.nodes.items():
        granted = sorted(c.callee for c in np.capabilities if c.caller == "console")
        assert granted == (sorted(np.instances) if np.console_entry else []), name
    motion = p.nodes["motion"].runtime
    assert motion is not None and motion.rpc_callers == [("console", "console", 0)]


def test_a_dependency_timeout_reaches_the_route_of_a_cross_node_call():
    b = camera_trap_manifest()
    b.instance("watcher", "//services/motion", {"handler": "camera_manager"}, timeouts={"handler": "1.5s"})
    b.instance("local", "//services/recognition", {"log": "database"}, timeouts={"log": "250ms"})
    b.deploy("cloud", ["watcher", "local"])
    p = plan_of(b)
    edge = {(e.caller, e.dependency): e for e in p.edges}
    assert (edge[("watcher", "handler")].path, edge[("watcher", "handler")].timeout_us) == ("rpc", 1_500_000)
    # in-node (cloud's own database): no RPC deadline, the timeout has no effect there
    assert (edge[("local", "log")].path, edge[("local", "log")].timeout_us) == ("ipc", 0)
    assert all(e.timeout_us == 0 for k, e in edge.items() if k[0] not in ("watcher", "local"))
    [dep] = [d for i in load_node_plan_text(plan_documents(p)["cloud"]).instances if i.name == "watcher"
             for d in i.dependencies]
    assert dep.timeout_us == 1_500_000
    from ambience.report import explain
    text = explain(p, "watcher")
    assert text is not None and "each call ends by 1500 ms (the manifest's timeout)" in text



def test_http_doors_are_numbered_and_written_to_the_plan():
    b = small()
    b.instance("database", "//services/database")
    b.instance("db2", "//services/database")
    b.deploy("host", ["database", "db2"])
    b.export("db2", "lan", port=81, http=8081)
    b.export("database", "lan", port=80, http=8080)
    p = plan_of(b)
    doc = load_node_plan_text(plan_documents(p)["host"])
    assert [(x.instance, x.http, x.door) for x in doc.exports] == [("database", 8080, 1), ("db2", 8081, 2)]
    raw = json.loads(plan_documents(p)["host"])["exports"]
    assert [(x["http"], x["door"]) for x in raw] == [(8080, 1), (8081, 2)]


def test_exports_without_a_door_write_no_door_fields():
    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    b.export("database", "lan", port=80)
    raw = json.loads(plan_documents(plan_of(b))["host"])["exports"]
    assert raw and "http" not in raw[0] and "door" not in raw[0]


def test_door_numbers_match_the_protected_pairs():
    b = small()
    b.node("cloud", networks={"lan": "10.0.0.2"})
    b.instance("database", "//services/database")
    b.instance("db2", "//services/database")
    b.instance("aaa", "//services/database")
    b.deploy("host", ["database", "db2"])
    b.deploy("cloud", ["aaa"])
    b.export("db2", "lan", port=81, http=8081)
    b.export("database", "lan", port=80, http=8080)
    b.export("aaa", "lan", port=82, http=8082)
    p = plan_of(b)
    for node in ("host", "cloud"):
        doc = load_node_plan_text(plan_documents(p)[node])
        pairs = {x.principal: x.caller_instance for x in doc.protection if x.principal.startswith("door:")}
        assert {f"door:{x.instance}@{x.network}": x.door for x in doc.exports} == pairs
    numbers = sorted(x.door for n in ("host", "cloud") for x in load_node_plan_text(plan_documents(p)[n]).exports)
    assert numbers == [1, 2, 3]
