"""The plan's protected pairs and the keys the build derives for them (protection.py, keygen.py)."""
from __future__ import annotations

import re

from ambience import keygen, keys
from ambience.plan_json import load_node_plan_text, plan_documents
from ambience.testlib import camera_trap_manifest, plan_of

MASTER = bytes(range(32))


def _pairs(node: str) -> set[tuple[str, str, bool]]:
    p = plan_of(camera_trap_manifest())
    return {(x.principal, x.callee_node, x.encrypt) for x in p.nodes[node].protection}


def test_encryption_left_out_only_where_every_network_is_encrypted():
    # motion -> camera crosses only the XBee radio (encrypted = True): a tag, no encryption.
    assert ("node:motion", "camera", False) in _pairs("motion")
    # camera -> edge over the LAN and edge -> cloud over the internet: encrypted.
    assert ("node:camera", "edge", True) in _pairs("camera")
    assert ("node:edge", "cloud", True) in _pairs("cloud")


def test_each_node_lists_only_pairs_it_is_an_end_of():
    motion = _pairs("motion")
    assert {c for _, c, _ in motion} <= {"motion", "camera"}
    assert not any(p == "node:edge" for p, _, _ in motion)
    # The edge relays nothing here, but it is an end of camera->edge and edge->cloud.
    assert {(p, c) for p, c, _ in _pairs("edge")} == {("node:camera", "edge"), ("node:edge", "cloud"),
                                                       ("console", "edge")}


def test_console_pairs_always_encrypt():
    for node in ("motion", "camera", "edge", "cloud"):
        assert ("console", node, True) in _pairs(node)


def test_explain_says_why():
    from ambience import report
    text = report.explain(plan_of(camera_trap_manifest()), "motion_sensor")
    assert text is not None
    assert "authenticated end to end with the motion->camera key" in text
    assert "tag only, no encryption" in text


def _doc(node: str):
    return load_node_plan_text(plan_documents(plan_of(camera_trap_manifest()))[node])


def test_keys_file_holds_exactly_the_pair_keys_of_the_node():
    doc = _doc("camera")
    cc = keygen.node_keys_cc(doc, MASTER)
    label = "//deployments/camera_trap"
    got = re.findall(r"\{(0x[0-9a-f]{2}(?:, 0x[0-9a-f]{2}){31})\}", cc)
    want = {keys.pair_key(MASTER, label, p.principal, p.callee_node) for p in doc.protection}
    assert {bytes(int(b, 16) for b in row.split(", ")) for row in got} == want
    assert len(got) == len(doc.protection) == 3
    assert MASTER.hex() not in cc.replace("0x", "").replace(", ", "")
    # A transit key of another pair is not there.
    other = keys.pair_key(MASTER, label, "node:edge", "cloud")
    assert other not in {bytes(int(b, 16) for b in row.split(", ")) for row in got}


def test_rotating_the_master_changes_every_key_and_nothing_else():
    doc = _doc("edge")
    a = keygen.node_keys_cc(doc, MASTER)
    b = keygen.node_keys_cc(doc, bytes(32))
    assert a != b
    strip = re.compile(r"\{0x[0-9a-f]{2}(?:, 0x[0-9a-f]{2}){31}\}")
    assert strip.sub("K", a) == strip.sub("K", b)
    assert keygen.node_keys_cc(doc, MASTER) == a  # deterministic: reproducible images


def test_no_doors_no_door_secrets():
    doc = _doc("cloud")
    text = keygen.door_keys_json(doc, MASTER)
    assert '"doors": {}' in text and "token_public_key" not in text
