"""Python services in the planner: where they may run (pinned diagnostics), what the plan says
about them, and the node table the code generator writes for their group processes."""
from __future__ import annotations

import json
from typing import Any

from ambience.codegen import hosted
from ambience.plan_json import node_document
from ambience.testlib import F, ManifestBuilder, errors_of, plan_of, small

RECOGNITION = "//services/recognition:recognition_py"


def with_python_recognition() -> ManifestBuilder:
    b = small()
    b.python_service(RECOGNITION, "camera_trap.Recognizer", {"log": "camera_trap.EventLog"})
    return b


def test_a_python_service_on_a_microcontroller_is_refused_at_its_deploy():
    b = with_python_recognition()
    b.node("board", board="//platforms/boards:mps2_an386")
    li = b.instance("recognition", RECOGNITION, {"log": "database"})
    b.instance("database", "//services/database")
    b.deploy("board", ["database"])
    ld = b.deploy("board", ["recognition"])
    assert errors_of(b) == [
        f"{F}:{ld}:1: error: instance 'recognition' is a Python service ({RECOGNITION}), but node 'board' is a "
        f"microcontroller (mps2_an386): Python services run on hosted nodes only"]
    dep, _ = b.model()
    from ambience.diagnostics import DiagnosticError  # noqa: PLC0415
    from ambience.planner import make_plan  # noqa: PLC0415
    from ambience.testlib import camera_trap_interfaces  # noqa: PLC0415
    try:
        make_plan(dep, camera_trap_interfaces())
    except DiagnosticError as e:
        notes = [n.loc.line for d in e.diagnostics for n in d.notes]
        assert notes == [li]  # and it points at the instance
    else:
        raise AssertionError("planned")


def test_python_and_cpp_services_in_one_group_are_refused():
    b = with_python_recognition()
    b.instance("recognition", RECOGNITION, {"log": "database"})
    b.instance("database", "//services/database")
    lg = b.group("app", ["recognition", "database"])
    b.deploy("host", ["app"])
    assert errors_of(b) == [
        f"{F}:{lg}:1: error: group 'app' mixes Python ('recognition') and C++ ('database') services: a group "
        f"process runs one language; put them in separate groups"]


def test_a_python_service_in_the_kernel_group_is_refused():
    b = with_python_recognition()
    b.instance("recognition", RECOGNITION, {"log": "database"})
    b.instance("database", "//services/database")
    b.group("k", ["recognition"], kernel=True)
    b.deploy("host", ["database"])
    ld = b.deploy("host", ["k"])
    assert errors_of(b) == [
        f"{F}:{ld}:1: error: group 'k' is the kernel group of node 'host', which runs in the supervisor's C++ "
        f"process: Python services ('recognition') need a group of their own"]


def test_a_python_service_without_module_or_class_is_refused():
    b = small()
    b.python_service(RECOGNITION, "camera_trap.Recognizer", {"log": "camera_trap.EventLog"})
    b.services[-1]["py_class"] = ""
    b.instance("recognition", RECOGNITION, {"log": "database"})
    b.instance("database", "//services/database")
    b.deploy("host", ["recognition", "database"])
    assert errors_of(b) == [
        f"services/recognition/BUILD.bazel:9:1: error: service '{RECOGNITION}': a Python service needs py_module "
        f"and py_class"]


def planned_host() -> tuple[dict[str, Any], str]:
    b = with_python_recognition()
    b.service("//services/detection:detection", "camera_trap.FrameHandler", {"next": "camera_trap.FrameHandler"})
    b.instance("recognition", RECOGNITION, {"log": "database"})
    b.instance("database", "//services/database")
    b.deploy("host", ["recognition", "database"])
    plan = plan_of(b)
    doc = node_document(plan, plan.nodes["host"])
    return {"doc": doc}, hosted.main_cc(doc)


def test_the_plan_names_the_language_module_class_and_lidl_modules():
    d, _ = planned_host()
    doc = d["doc"]
    rec = next(i for i in doc.instances if i.name == "recognition")
    assert (rec.language, rec.py_module, rec.py_class) == ("python", "services.recognition.recognition_py",
                                                           "RecognitionPy")
    db = next(i for i in doc.instances if i.name == "database")
    assert db.language == "cpp"
    assert doc.python_interfaces == {"camera_trap.EventLog": "services.camera_trap.frames_lidl",
                                     "camera_trap.Recognizer": "services.camera_trap.frames_lidl"}


def test_the_node_hands_its_python_group_a_table_and_the_python_launcher():
    d, main = planned_host()
    doc = d["doc"]
    assert '#include "runtime/hosted/python/python_group.hpp"' in main
    assert 'node.add_group(rt::python_group_options("recognition"))' in main
    assert "rt::set_python_groups(kPythonGroups)" in main
    assert "i_recognition" not in main  # no C++ object for the Python instance
    table = json.loads(hosted.python_groups_json(hosted.HostedNode(doc)))
    (inst,) = table["groups"]["recognition"]["instances"]
    db = next(i for i in doc.instances if i.name == "database")
    # -> database (group 'database') through the supervisor's relay: sharing_target(object id, 0)
    assert inst["dependencies"] == [{"name": "log", "kind": "shared", "target": 0x40000000 | (db.object_id << 8),
                                     "module": "services.camera_trap.frames_lidl", "service": "EventLog"}]
    assert (inst["module"], inst["class"]) == ("services.recognition.recognition_py", "RecognitionPy")


def test_explain_says_how_each_python_edge_is_reached():
    from ambience.report import explain  # noqa: PLC0415

    b = with_python_recognition()
    b.instance("recognition", RECOGNITION, {"log": "database"})
    b.instance("database", "//services/database")
    b.deploy("host", ["recognition", "database"])
    text = explain(plan_of(b), "recognition")
    assert text is not None
    assert "written in Python (services.recognition.recognition_py.RecognitionPy)" in text
    assert ("log (camera_trap.EventLog) -> database: 'database' is in group 'database' on the same node: IPC through "
            "the kernel's rings; Python -> C++: a zero-copy call block over the ring, through the supervisor") in text
