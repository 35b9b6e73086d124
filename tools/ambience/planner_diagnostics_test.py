"""Planner diagnostics: one pinned message per mistake, located in the BUILD file."""
from __future__ import annotations

from typing import Any

import pytest

from ambience.testlib import F, ManifestBuilder, errors_of, small

# ----------------------------------------------------------------------------- negative, pinned


def case(fn):
    CASES.append(pytest.param(fn, id=fn.__name__))
    return fn


CASES: list[Any] = []  # pytest.param per case


@case
def duplicate_network():
    b = small()
    l = b.network("lan", "udp")
    return b, [f"{F}:{l}:1: error: duplicate network 'lan'"]


@case
def bad_call_timeouts():
    b = small()
    b.node("cloud", networks={"lan": "10.0.0.2"})
    l1 = b.instance("recognition", "//services/recognition", {"log": "database"}, timeouts={"lg": "2s"})
    l2 = b.instance("other", "//services/recognition", {"log": "database"}, timeouts={"log": "2 sec"})
    l3 = b.instance("third", "//services/recognition", {"log": "database"}, timeouts={"log": "0ms"})
    l4 = b.instance("fourth", "//services/recognition", {"log": "database"}, timeouts={"log": "2h"})
    b.instance("database", "//services/database")
    b.deploy("host", ["recognition", "other", "third", "fourth"])
    b.deploy("cloud", ["database"])
    units = "write a number and a unit: us, ms or s (e.g. \"250ms\", \"2s\")"
    return b, [f"{F}:{l1}:1: error: instance 'recognition': timeout for unknown dependency 'lg' (dependencies: log)",
               f"{F}:{l2}:1: error: instance 'other': timeout of dependency 'log' is '2 sec': {units}",
               f"{F}:{l3}:1: error: instance 'third': timeout of dependency 'log' is '0ms': a call needs a "
               "deadline after it starts: more than zero",
               f"{F}:{l4}:1: error: instance 'fourth': timeout of dependency 'log' is '2h': {units}"]


@case
def duplicate_node():
    b = small()
    l = b.node("host")
    return b, [f"{F}:{l}:1: error: duplicate node 'host'"]


@case
def duplicate_instance():
    b = small()
    b.instance("database", "//services/database")
    l = b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    return b, [f"{F}:{l}:1: error: duplicate instance 'database'"]


@case
def duplicate_group():
    b = small()
    b.instance("database", "//services/database")
    b.group("g", ["database"])
    l = b.group("g", ["database"])
    b.deploy("host", ["g"])
    return b, [f"{F}:{l}:1: error: duplicate group 'g'"]


@case
def bad_network_kind():
    b = small()
    l = b.network("radio", "carrier_pigeon")
    return b, [f"{F}:{l}:1: error: network 'radio': unknown kind 'carrier_pigeon' (expected one of: serial, udp)"]


@case
def bad_hop_cost():
    b = small()
    l = b.network("radio", "serial", hop_cost=0)
    return b, [f"{F}:{l}:1: error: network 'radio': attribute 'hop_cost' must be an integer >= 1, got 0"]


@case
def invalid_name():
    b = small()
    l = b.network("my-net", "udp")
    return b, [f"{F}:{l}:1: error: network name 'my-net' is not a valid identifier (letters, digits, '_'; not starting with a digit)"]


@case
def too_long_name():
    # Found by manifest_fuzz: a 300-character node name was planned, and writing
    # <node>_main.cc failed with ENAMETOOLONG (a traceback from the compile action).
    b = small()
    l = b.node("n" * 300, networks={"lan": "10.0.0.9"})
    b.deploy("n" * 300, [])
    return b, [f"{F}:{l}:1: error: node name '{'n' * 40}...' is 300 characters long, more than 128 (names become file names and C++ identifiers)"]


@case
def unknown_board():
    b = small()
    l = b.node("n2", board="//platforms/boards:arduino_uno")
    return b, [f"{F}:{l}:1: error: node 'n2': unknown board '//platforms/boards:arduino_uno'"]


@case
def node_unknown_network():
    b = small()
    l = b.node("n2", networks={"wifi": "10.0.0.9"})
    return b, [f"{F}:{l}:1: error: node 'n2': unknown network 'wifi'"]


@case
def address_conflict():
    b = small()
    l = b.node("n2", networks={"lan": "10.0.0.1"})
    return b, [f"{F}:{l}:1: error: node 'n2': address '10.0.0.1' on network 'lan' is already used by node 'host'"]


@case
def bad_serial_address():
    b = small()
    b.network("radio", "serial")
    l = b.node("n2", networks={"radio": "0x12"})
    return b, [f"{F}:{l}:1: error: node 'n2': address '0x12' on serial network 'radio' is not a channel number 0..65535"]


@case
def bad_udp_address():
    b = small()
    l = b.node("n2", networks={"lan": "10.0.0.1:80"})
    return b, [f"{F}:{l}:1: error: node 'n2': address '10.0.0.1:80' on udp network 'lan' is not an IP address or host name"]


@case
def memory_budget_larger_than_board():
    b = small()
    l = b.node("mcu", board="//platforms/boards:mps2_an386", memory="8M")
    return b, [f"{F}:{l}:1: error: node 'mcu': memory budget 8388608 bytes exceeds the RAM of board 'mps2_an386' (262144 bytes)"]


@case
def bad_memory_value():
    b = small()
    l = b.node("n2", memory="lots")
    return b, [f"{F}:{l}:1: error: node 'n2': attribute 'memory' must be a size in bytes like 4096 or \"64K\", got 'lots'"]


@case
def unknown_service():
    b = small()
    l = b.instance("x", "//services/nope")
    b.deploy("host", ["x"])
    return b, [f"{F}:{l}:1: error: instance 'x': unknown service '//services/nope:nope' (not an ambience_service this deployment depends on)"]


@case
def service_unknown_interface():
    b = small()
    b.service("//services/odd:odd", "camera_trap.Nope", {"x": "camera_trap.AlsoNope"})
    b.instance("odd", "//services/odd")
    b.deploy("host", ["odd"])
    return b, [f"{F}:{len(b.lines) - 1}:1: error: instance 'odd': dependency 'x' (camera_trap.AlsoNope) of service '//services/odd:odd' is not bound",
               "services/odd/BUILD.bazel:3:1: error: service '//services/odd:odd': dependency 'x' requires unknown interface 'camera_trap.AlsoNope' (is its lidl_library in `implements` or `interfaces`?)",
               "services/odd/BUILD.bazel:3:1: error: service '//services/odd:odd': unknown interface 'camera_trap.Nope' (not in the lidl_library of `implements`)"]


@case
def missing_binding():
    b = small()
    l = b.instance("detection", "//services/detection")
    b.deploy("host", ["detection"])
    return b, [f"{F}:{l}:1: error: instance 'detection': dependency 'next' (camera_trap.FrameHandler) of service '//services/detection:detection' is not bound"]


@case
def extra_binding():
    b = small()
    l = b.instance("database", "//services/database", {"cache": "database"})
    b.deploy("host", ["database"])
    return b, [f"{F}:{l}:1: error: instance 'database': service '//services/database:database' has no dependency 'cache' (its dependencies: none)"]


@case
def binding_to_unknown_instance():
    b = small()
    l = b.instance("recognition", "//services/recognition", {"log": "db"})
    b.deploy("host", ["recognition"])
    return b, [f"{F}:{l}:1: error: instance 'recognition': dependency 'log' is bound to unknown instance 'db'"]


@case
def wrong_interface():
    b = small()
    l = b.instance("detection", "//services/detection", {"next": "database"})
    b.instance("database", "//services/database")
    b.deploy("host", ["detection", "database"])
    return b, [f"{F}:{l}:1: error: instance 'detection': dependency 'next' is bound to 'database' (camera_trap.EventLog), but the service requires camera_trap.FrameHandler"]


@case
def base_where_derived_required():
    # FrameHandler does not conform to Recognizer (inheritance goes one way).
    b = small()
    b.service("//services/trainer:trainer", "camera_trap.EventLog", {"model": "camera_trap.Recognizer"})
    l = b.instance("trainer", "//services/trainer", {"model": "detection"})
    b.instance("detection", "//services/detection", {"next": "detection"})
    b.deploy("host", ["trainer", "detection"])
    return b, [f"{F}:{l}:1: error: instance 'trainer': dependency 'model' is bound to 'detection' (camera_trap.FrameHandler), but the service requires camera_trap.Recognizer",
               f"{F}:{l + 1}:1: error: start-order cycle: detection -> detection (each depends on the next)"]


@case
def wrong_interface_of_import():
    b = small()
    b.import_service("remote", "camera_trap.FrameHandler", "lan", "10.0.0.50")
    l = b.instance("recognition", "//services/recognition", {"log": "remote"})
    b.deploy("host", ["recognition"])
    return b, [f"{F}:{l}:1: error: instance 'recognition': dependency 'log' is bound to 'remote' (camera_trap.FrameHandler), but the service requires camera_trap.EventLog"]


@case
def group_unknown_instance():
    b = small()
    l = b.group("g", ["ghost"])
    return b, [f"{F}:{l}:1: error: group 'g': unknown instance 'ghost'"]


@case
def empty_group():
    b = small()
    l = b.group("g", [])
    b.deploy("host", ["g"])
    return b, [f"{F}:{l}:1: error: group 'g' has no instances"]


@case
def instance_in_two_groups():
    b = small()
    b.instance("database", "//services/database")
    b.group("g1", ["database"])
    l = b.group("g2", ["database"])
    b.deploy("host", ["g1", "g2"])
    return b, [f"{F}:{l}:1: error: instance 'database' is in two groups: 'g1' and 'g2'"]


@case
def instance_not_deployed():
    b = small()
    l = b.instance("database", "//services/database")
    return b, [f"{F}:{l}:1: error: instance 'database' is not deployed on any node (add it, or a group containing it, to a deploy())"]


@case
def group_not_deployed():
    b = small()
    b.instance("database", "//services/database")
    l = b.group("g", ["database"])
    return b, [f"{F}:{l}:1: error: group 'g' is not deployed on any node"]


@case
def default_group_name_taken():
    b = small()
    b.instance("database", "//services/database")
    l = b.instance("other", "//services/database")
    b.group("other", ["database"])
    b.deploy("host", ["other"])
    return b, [f"{F}:{l}:1: error: instance 'other' is in no group, and its default group name 'other' is taken by another group"]


@case
def group_on_two_nodes():
    b = small()
    b.node("n2", networks={"lan": "10.0.0.2"})
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    l = b.deploy("n2", ["database"])
    return b, [f"{F}:{l}:1: error: group 'database' is deployed on two nodes: 'host' and 'n2'"]


@case
def group_on_node_twice():
    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    l = b.deploy("host", ["database"])
    return b, [f"{F}:{l}:1: error: group 'database' is deployed on node 'host' twice"]


@case
def group_on_two_nodes_via_members():
    b = small()
    b.node("n2", networks={"lan": "10.0.0.2"})
    b.instance("recognition", "//services/recognition", {"log": "database"})
    b.instance("database", "//services/database")
    b.group("app", ["recognition", "database"])
    b.deploy("host", ["database"])
    l = b.deploy("n2", ["recognition"])
    return b, [f"{F}:{l}:1: error: group 'app' is deployed on two nodes: 'host' and 'n2'"]


@case
def deploy_unknown_node():
    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    l = b.deploy("hots", [])
    return b, [f"{F}:{l}:1: error: deploy: unknown node 'hots'"]


@case
def deploy_unknown_group():
    b = small()
    l = b.deploy("host", ["databse"])
    return b, [f"{F}:{l}:1: error: deploy on 'host': unknown instance or group 'databse'"]


@case
def two_kernel_groups():
    b = small()
    b.instance("database", "//services/database")
    b.instance("db2", "//services/database")
    b.group("k1", ["database"], kernel=True)
    b.group("k2", ["db2"], kernel=True)
    l = b.deploy("host", ["k1", "k2"])
    return b, [f"{F}:{l}:1: error: node 'host' has two kernel groups: 'k1' and 'k2'"]


@case
def no_network_path():
    b = small()
    b.network("radio", "serial")
    b.node("island", networks={"radio": "1"})
    b.instance("recognition", "//services/recognition", {"log": "database"})
    l = b.instance("database", "//services/database")
    b.deploy("island", ["recognition"])
    b.deploy("host", ["database"])
    return b, [f"{F}:{l - 1}:1: error: instance 'recognition': dependency 'log' is bound to 'database' on node 'host', but node 'island' has no network path to node 'host'"]


@case
def no_path_to_import():
    b = small()
    b.network("radio", "serial")
    b.import_service("remote", "camera_trap.EventLog", "radio", "7")
    l = b.instance("recognition", "//services/recognition", {"log": "remote"})
    b.deploy("host", ["recognition"])
    return b, [f"{F}:{l}:1: error: instance 'recognition': dependency 'log' is bound to import 'remote' on network 'radio', but node 'host' has no network path to it"]


@case
def start_order_cycle():
    b = small()
    b.service("//services/ping:ping", "camera_trap.FrameHandler", {"peer": "camera_trap.FrameHandler"})
    l = b.instance("a", "//services/ping", {"peer": "b"})
    b.instance("b", "//services/ping", {"peer": "c"})
    b.instance("c", "//services/ping", {"peer": "a"})
    b.deploy("host", ["a", "b", "c"])
    return b, [f"{F}:{l}:1: error: start-order cycle: a -> b -> c -> a (each depends on the next)"]


@case
def groups_call_each_other():
    b = small()
    b.service("//services/ping:ping", "camera_trap.FrameHandler", {"peer": "camera_trap.FrameHandler"})
    b.service("//services/pong:pong", "camera_trap.FrameHandler")
    l = b.instance("a", "//services/ping", {"peer": "c"})
    b.instance("b", "//services/ping", {"peer": "d"})
    b.instance("c", "//services/pong")
    b.instance("d", "//services/pong")
    b.group("g1", ["a", "d"])
    b.group("g2", ["b", "c"])
    b.deploy("host", ["g1", "g2"])
    return b, [f"{F}:{l}:1: error: node 'host': groups 'g1', 'g2' call each other (a -> c; b -> d), so none can start first; merge them with group()"]


@case
def memory_budget_exceeded_hosted():
    b = small()
    l = b.node("tiny", networks={"lan": "10.0.0.2"}, memory="4M")
    b.instance("database", "//services/database")
    b.deploy("tiny", ["database"])
    return b, [f"{F}:{l}:1: error: node 'tiny': memory budget exceeded: needs 8454144 bytes, budget is 4194304 bytes"]


@case
def memory_budget_exceeded_mcu():
    b = small()
    l = b.node("mcu", board="//platforms/boards:mps2_an386", networks={"lan": "10.0.0.2"}, memory="64K")
    b.instance("database", "//services/database", memory="40K")
    b.deploy("mcu", ["database"])
    # 32K kernel + (40K + 2K rings -> a 64K MPU region, 64K-aligned below the 8K stack: 56K gap) + 8K stack.
    return b, [f"{F}:{l}:1: error: node 'mcu': memory budget exceeded: needs 163840 bytes, budget is 65536 bytes"]


@case
def too_many_isolated_groups():
    b = small()
    l = b.node("mcu", board="//platforms/boards:mps2_an386", networks={"lan": "10.0.0.2"})
    names = [f"db{i}" for i in range(7)]
    for n in names:
        b.instance(n, "//services/database", memory="1K")
    b.deploy("mcu", names)
    return b, [f"{F}:{l}:1: error: node 'mcu': 7 isolated groups, but the Cortex-M supervisor runs at most 6 (kMaxGroups); merge groups with group()"]


@case
def too_many_targets_in_one_hosted_process():
    b = small()
    l = b.node("big", networks={"lan": "10.0.0.2"})
    names = [f"db{i}" for i in range(17)]
    for n in names:
        b.instance(n, "//services/database")
        b.instance(f"r{n}", "//services/recognition", {"log": n})
    b.group("dbs", names)
    b.deploy("big", ["dbs"] + [f"r{n}" for n in names])
    return b, [f"{F}:{l}:1: error: node 'big': 17 instances are called across groups, but the hosted supervisor relays for at most 16; merge groups with group()",
               f"{F}:{l}:1: error: node 'big': group 'dbs' serves 17 instances to other groups or nodes, but a hosted group process serves at most 16; split the group"]


@case
def provided_service_missing_on_callers_node():
    b = small()
    b.node("n2", networks={"lan": "10.0.0.2"}, provides={"log": "//services/database"})
    l = b.instance("recognition", "//services/recognition", {"log": "log"})
    b.deploy("host", ["recognition"])
    return b, [f"{F}:{l}:1: error: instance 'recognition': dependency 'log' is bound to 'log', which node 'host' does not provide (provided by: n2)"]


@case
def provided_service_with_dependencies():
    b = small()
    l = b.node("n2", networks={"lan": "10.0.0.2"}, provides={"fh": "//services/detection"})
    return b, [f"{F}:{l}:1: error: node 'n2': provided service 'fh' (//services/detection:detection) has dependencies (next); a node-provided service cannot"]


@case
def provided_service_wrong_interface():
    b = small()
    b.service("//services/sink:sink", "camera_trap.FrameHandler")
    b.node("n2", networks={"lan": "10.0.0.2"}, provides={"log": "//services/sink"})
    l = b.instance("recognition", "//services/recognition", {"log": "log"})
    b.deploy("n2", ["recognition"])
    return b, [f"{F}:{l}:1: error: instance 'recognition': dependency 'log' is bound to 'log' (camera_trap.FrameHandler), but the service requires camera_trap.EventLog"]


@case
def provided_name_clashes_with_instance():
    b = small()
    l = b.node("n2", networks={"lan": "10.0.0.2"}, provides={"database": "//services/database"})
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    return b, [f"{F}:{l}:1: error: node 'n2' provides 'database', which is also the name of an instance"]


@case
def provided_service_unknown():
    b = small()
    l = b.node("n2", networks={"lan": "10.0.0.2"}, provides={"log": "//services/nope"})
    return b, [f"{F}:{l}:1: error: node 'n2': provided service 'log': unknown service '//services/nope:nope' (not an ambience_service this deployment depends on)"]


@case
def provided_instance_listed_in_a_group():
    b = small()
    b.node("n2", networks={"lan": "10.0.0.2"}, provides={"log": "//services/database"})
    b.instance("recognition", "//services/recognition", {"log": "log"})
    l = b.group("g", ["recognition", "n2_log"])
    b.deploy("n2", ["g"])
    return b, [f"{F}:{l}:1: error: group 'g': 'n2_log' is provided by node 'n2' and runs in that node's kernel group"]


@case
def export_unknown_instance():
    b = small()
    l = b.export("ghost", "lan", port=80)
    return b, [f"{F}:{l}:1: error: export: unknown instance 'ghost'"]


@case
def export_unknown_network():
    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    l = b.export("database", "wan", port=80)
    return b, [f"{F}:{l}:1: error: export of 'database': unknown network 'wan'"]


@case
def export_port_conflict():
    b = small()
    b.instance("database", "//services/database")
    b.instance("db2", "//services/database")
    b.deploy("host", ["database", "db2"])
    b.export("database", "lan", port=80)
    l = b.export("db2", "lan", port=80)
    return b, [f"{F}:{l}:1: error: export of 'db2': port 80 on network 'lan' of node 'host' is already exported"]


@case
def export_port_out_of_range():
    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    l = b.export("database", "lan", port=70000)
    return b, [f"{F}:{l}:1: error: export of 'database': attribute 'port' must be an integer between 0 and 65535, got 70000"]


@case
def export_unreachable_network():
    b = small()
    b.network("radio", "serial")
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    l = b.export("database", "radio", port=3)
    return b, [f"{F}:{l}:1: error: export of 'database' on network 'radio': node 'host' is not attached to 'radio' and no node on 'radio' has a path to it"]


@case
def export_http_not_on_instance_node():
    b = small()
    b.network("wan", "udp")
    b.node("cloud", networks={"lan": "10.0.0.2"})
    b.node("edge", networks={"lan": "10.0.0.3", "wan": "edge"})
    b.instance("database", "//services/database")
    b.deploy("cloud", ["database"])
    l = b.export("database", "wan", port=80, http=8080)
    return b, [f"{F}:{l}:1: error: export of 'database': http = 8080 needs the gateway node to run 'database' "
               "itself, but the way in from 'wan' is node 'edge' and 'database' runs on 'cloud'; the door calls "
               "through its own node's console endpoint (deploy the instance on the gateway, or export it on a "
               "network of its node)"]


@case
def export_http_on_mcu():
    b = small()
    b.network("radio", "serial")
    b.node("board", board="//platforms/boards:mps2_an386", networks={"radio": "1"})
    b.instance("database", "//services/database")
    b.deploy("board", ["database"])
    l = b.export("database", "radio", port=3, http=8080)
    return b, [f"{F}:{l}:1: error: export of 'database': http = 8080 needs a hosted gateway node, and 'board' is "
               "an MCU (mps2_an386); the door calls through its own node's console endpoint, which only hosted "
               "nodes have"]


@case
def export_http_port_clash():
    b = small()
    b.network("wan", "udp")
    b.node("host2", networks={"lan": "10.0.0.2", "wan": "h2"})
    b.instance("database", "//services/database")
    b.instance("db2", "//services/database")
    b.deploy("host2", ["database", "db2"])
    b.export("database", "wan", port=8080)
    l1 = b.export("db2", "lan", port=81, http=8080)
    l2 = b.export("database", "lan", port=82, http=9000)
    l3 = b.export("db2", "wan", port=83, http=9000)
    return b, [f"{F}:{l1}:1: error: export of 'db2': http port 8080 of node 'host2' is already used by another "
               "export of the node",
               f"{F}:{l3}:1: error: export of 'db2': http port 9000 of node 'host2' is already used by another "
               "export of the node"] if l2 else []


@case
def export_http_out_of_range():
    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    l = b.export("database", "lan", port=80, http=0)
    return b, [f"{F}:{l}:1: error: export of 'database': attribute 'http' must be an integer between 1 and 65535, "
               "got 0"]


@case
def import_unknown_network_and_interface():
    b = small()
    l = b.import_service("remote", "camera_trap.Nope", "wan", "1.2.3.4")
    return b, [f"{F}:{l}:1: error: import 'remote': unknown interface 'camera_trap.Nope'",
               f"{F}:{l}:1: error: import 'remote': unknown network 'wan'"]


@case
def import_address_conflict():
    b = small()
    l = b.import_service("remote", "camera_trap.EventLog", "lan", "10.0.0.1")
    return b, [f"{F}:{l}:1: error: import 'remote': address '10.0.0.1' on network 'lan' is already used by node 'host'"]


@case
def import_named_like_instance():
    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    l = b.import_service("database", "camera_trap.EventLog", "lan", "10.0.0.5")
    return b, [f"{F}:{l}:1: error: import 'database' has the same name as an instance"]


@case
def missing_kind_attribute():
    b = small()
    l = b.network("n", kind=None)
    return b, [f"{F}:{l}:1: error: network 'n': missing attribute 'kind'"]


@case
def no_nodes():
    b = ManifestBuilder()
    return b, [f"{F}:3:1: error: deployment 'test' declares no node"]


@pytest.mark.parametrize("make", CASES)
def test_negative(make):
    b, expected = make()
    assert errors_of(b) == expected


def test_at_least_thirty_negative_cases():
    assert len(CASES) >= 30
