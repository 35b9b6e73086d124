"""Which doors the runner starts, with what, and a door process started and stopped (a stand-in
program that prints the door's ready line)."""
from __future__ import annotations

import json
import socket
import stat
import sys

from ambience.cluster import doors
from ambience.cluster.plan import NodeImage, cluster_plan
from ambience.codegen.doors import doors_json
from ambience.plan_json import load_node_plan_text, plan_documents
from ambience.testlib import plan_of, small


def _cluster(tmp_path):
    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    b.export("database", "lan", port=80, http=8480)
    doc = load_node_plan_text(plan_documents(plan_of(b))["host"])
    img = NodeImage("host", "hosted", "/bin/true", doc)
    plan = cluster_plan([img], str(tmp_path), [41000, 41001])
    config = tmp_path / "host_doors.json"
    config.write_text(doors_json(doc))
    return plan, img, str(config)


def test_a_door_needs_its_keys_file(tmp_path):
    plan, img, config = _cluster(tmp_path)
    specs, notes = doors.plan_doors(plan, [img], {"host": config}, {})
    assert specs == [] and len(notes) == 1 and "door database@lan of node 'host' not started" in notes[0]
    specs, notes = doors.plan_doors(plan, [img], {"host": config}, {"host": "/k.json"})
    assert notes == [] and len(specs) == 1
    s = specs[0]
    console = {m.node: f"{m.host}:{m.host_port}" for m in plan.udp_map if m.network == "console"}
    assert (s.name, s.keys, s.entry, s.console) == ("database@lan", "/k.json", console["host"], console["console"])


def test_a_taken_port_is_replaced_by_a_free_one():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        port = doors.free_tcp_port(taken)
        assert port != taken and port > 0


def test_doors_start_listen_and_stop(tmp_path):
    program = tmp_path / "door"
    program.write_text(f"#!{sys.executable}\nimport sys, time\nprint('http_door: x listening on "
                       "http://127.0.0.1:1/database/<procedure>', flush=True)\ntime.sleep(60)\n")
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    spec = doors.DoorSpec("host", "database@lan", "c.json", "k.json", 1, "127.0.0.1:2", "127.0.0.1:3")
    d = doors.Doors(str(program), "/lidl", ["a.lidl"], None, str(tmp_path))
    assert d.argv(spec)[-2:] == ["/lidl", "--lidl=a.lidl"]
    assert d.start([spec]) is None
    assert d.status()["database@lan"]["state"] == "listening"
    d.stop()
    assert d.status()["database@lan"]["state"].startswith("exited")
    assert "listening on" in (tmp_path / "door_database@lan.log").read_text()


def test_a_door_that_fails_is_reported(tmp_path):
    program = tmp_path / "door"
    program.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('http_door: error: bad keys\\n')\n"
                       "sys.exit(1)\n")
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    spec = doors.DoorSpec("host", "database@lan", "c.json", "k.json", 1, "127.0.0.1:2", "127.0.0.1:3")
    d = doors.Doors(str(program), "/lidl", [], None, None)
    err = d.start([spec])
    assert err is not None and "door database@lan of node 'host' ended" in err and "bad keys" in err
    d.stop()
    assert json.dumps(d.status())
