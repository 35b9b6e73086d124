"""The cluster plan, without processes: argv of every node, serial lines, the UDP address map."""
from __future__ import annotations

from dataclasses import replace

import pytest

from ambience.cluster.plan import ClusterPlanError, NodeImage, cluster_plan, console_endpoints
from ambience.plan_json import load_node_plan_text, plan_documents
from ambience.plan_model import Endpoint
from ambience.testlib import ManifestBuilder, camera_trap_manifest, camera_trap_services, plan_of

MACHINES = {"//platforms/boards:mps2_an386": "mps2-an386", "//platforms/boards:mps2_an500": "mps2-an500"}


def images(b):
    out = []
    for name, text in plan_documents(plan_of(b)).items():
        doc = load_node_plan_text(text)
        mcu = doc.node.kind == "mcu"
        out.append(NodeImage(name, "mcu" if mcu else "hosted", f"/img/{name}{'.elf' if mcu else ''}", doc,
                             MACHINES.get(doc.node.board, "")))
    return out


def by_node(plan):
    return {p.node: p for p in plan.processes}


def test_camera_trap():
    plan = cluster_plan(images(camera_trap_manifest()), "/run/c")
    assert plan.deployment == "camera_trap"
    assert [m.arg() for m in plan.udp_map] == [
        # the console network: the console (node 0) and the hosted nodes (edge 2, cloud 3... by number)
        "127.0.0.1:7700=127.0.0.1:7700", "127.0.0.1:7702=127.0.0.1:7702", "127.0.0.1:7703=127.0.0.1:7703",
        "cloud:4800=127.0.1.1:4800", "edge:4800=127.0.1.2:4800",
        "10.0.0.2:4800=127.0.1.3:4800",
        "10.0.0.1:4800=127.0.0.1:4800",  # the camera's QEMU host address: slirp delivers to 127.0.0.1
    ]
    p = by_node(plan)
    assert p["edge"].argv() == ["/img/edge", "--udp-map", ",".join(m.arg() for m in plan.udp_map),
                                "--storage-dir", "/run/c/storage/edge"]
    assert p["cloud"].argv(exit_after_ms=500)[-2:] == ["--exit-after-ms", "500"]
    assert p["camera"].argv() == [
        "qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none",
        "-semihosting-config", "enable=on,target=native", "-kernel", "/img/camera.elf",
        "-serial", "mon:stdio",
        "-chardev", "socket,id=uart1,path=/run/c/xbee.camera", "-serial", "chardev:uart1",
        "-serial", "null", "-serial", "null",
        "-chardev", "socket,id=uart4,path=/run/c/sensor.camera,server=on,wait=off", "-serial", "chardev:uart4",
        "-nic", "user,model=lan9118,net=10.0.0.0/24,dhcpstart=10.0.0.2,host=10.0.0.1,"
                "hostfwd=udp:127.0.1.3:4800-10.0.0.2:4800",
    ]
    assert p["motion"].argv()[-14:] == [
        "-serial", "mon:stdio", "-chardev", "socket,id=uart1,path=/run/c/xbee.motion", "-serial", "chardev:uart1",
        "-serial", "null", "-serial", "null",
        "-chardev", "socket,id=uart4,path=/run/c/sensor.motion,server=on,wait=off", "-serial", "chardev:uart4"]
    [line] = plan.lines
    assert line.network == "xbee" and [(e.node, e.kind, e.uart) for e in line.ends] == [
        ("camera", "socket", 1), ("motion", "socket", 1)]
    assert plan.notes == ()


def test_preloaded_files_reach_qemu_before_the_serial_lines():
    plan = cluster_plan(images(camera_trap_manifest()), "/run/c",
                        preloads={"camera": (("/f/frames.bin", 0x60000000),)})
    argv = by_node(plan)["camera"].argv()
    i = argv.index("-device")
    assert argv[i:i + 2] == ["-device", "loader,file=/f/frames.bin,addr=0x60000000,force-raw=on"]
    assert i < argv.index("-serial")
    assert "-device" not in by_node(plan)["motion"].argv()


def hello(channel_board="2", extra_udp=False):
    b = ManifestBuilder(name="hello")
    camera_trap_services(b)
    b.network("uart", kind="serial", hop_cost=10)
    nets = {"uart": "1"}
    if extra_udp:
        b.network("lan", kind="udp")
        nets["lan"] = "10.1.0.1"
    b.node("host", networks=nets)
    b.node("board", board="//platforms/boards:mps2_an386", networks={"uart": channel_board})
    if extra_udp:
        b.node("host2", networks={"lan": "10.1.0.2"})
    b.instance("database", "//services/database")
    b.instance("recognition", "//services/recognition", {"log": "database"})
    b.deploy("host", ["database"])
    b.deploy("board", ["recognition"])
    return b


def test_hosted_node_gets_its_pty_and_the_map():
    plan = cluster_plan(images(hello(extra_udp=True)), "/run/h")
    p = by_node(plan)
    [line] = plan.lines
    host_end = next(e for e in line.ends if e.node == "host")
    assert host_end.kind == "pty"
    console = "127.0.0.1:7700=127.0.0.1:7700,127.0.0.1:7702=127.0.0.1:7702,127.0.0.1:7703=127.0.0.1:7703,"
    assert p["host"].argv({host_end.id: "/dev/pts/9"}) == [
        "/img/host", "--udp-map", console + "10.1.0.1:4800=127.0.1.1:4800,10.1.0.2:4800=127.0.1.2:4800",
        "--serial", "uart=/dev/pts/9", "--storage-dir", "/run/h/storage/host"]
    with pytest.raises(ClusterPlanError, match="no pty"):
        p["host"].argv({})
    assert "-nic" not in p["board"].argv()


def test_the_console_network_goes_to_the_ports_the_runner_found_free():
    imgs = images(hello(extra_udp=True))
    assert console_endpoints(imgs) == 3  # the console and the two hosted nodes; the board has none
    plan = cluster_plan(imgs, "/run/h", [41000, 41001, 41002])
    assert [m.arg() for m in plan.udp_map if m.network == "console"] == [
        "127.0.0.1:7700=127.0.0.1:41000", "127.0.0.1:7702=127.0.0.1:41001", "127.0.0.1:7703=127.0.0.1:41002"]
    assert [m.node for m in plan.udp_map if m.network == "console"] == ["console", "host", "host2"]
    with pytest.raises(ClusterPlanError, match="3 console ports needed, 1 given"):
        cluster_plan(imgs, "/run/h", [41000])


def test_unused_uarts_below_a_used_one_are_null():
    imgs = images(hello())
    board = next(i for i in imgs if i.name == "board")
    doc = replace(board.doc, endpoints=[replace(e, port=3) for e in board.doc.endpoints])
    imgs = [replace(i, doc=doc) if i.name == "board" else i for i in imgs]
    argv = by_node(cluster_plan(imgs, "/r"))["board"].argv()
    i = argv.index("mon:stdio")
    assert argv[i + 1:] == ["-serial", "null", "-serial", "null", "-chardev", "socket,id=uart3,path=/r/uart.board",
                            "-serial", "chardev:uart3",
                            "-chardev", "socket,id=uart4,path=/r/sensor.board,server=on,wait=off",
                            "-serial", "chardev:uart4"]
    doc0 = replace(board.doc, endpoints=[Endpoint("uart", "serial", "2", 0)])
    with pytest.raises(ClusterPlanError, match="UART0"):
        cluster_plan([replace(i, doc=doc0) if i.name == "board" else i for i in images(hello())], "/r")


def test_rejects_inconsistent_inputs():
    imgs = images(hello())
    with pytest.raises(ClusterPlanError, match="no node images"):
        cluster_plan([], "/r")
    with pytest.raises(ClusterPlanError, match="was given the plan of node"):
        cluster_plan([replace(imgs[0], name="other")] + imgs[1:], "/r")
    with pytest.raises(ClusterPlanError, match="no QEMU machine"):
        cluster_plan([replace(i, machine="") for i in imgs], "/r")


def test_callees_start_before_their_callers_and_cycles_do_not_deadlock() -> None:
    from ambience.cluster.plan import ProcessPlan, start_order

    def p(name: str, *after: str) -> ProcessPlan:
        return ProcessPlan(name, "hosted", (name,), after=after)

    order = [x.node for x in start_order([p("front", "middle", "back"), p("middle", "back"), p("back")])]
    assert order == ["back", "middle", "front"]
    cyc = start_order([p("a", "b"), p("b", "a"), p("c", "a")])
    assert [x.node for x in cyc] == ["a", "b", "c"]
    assert cyc[0].after == ()  # nothing to wait for: b starts after it
    assert cyc[1].after == ("a",)


def test_an_emulated_udp_network_gets_a_relay_per_endpoint_and_the_nodes_move_behind_them():
    plan = cluster_plan(images(hello(extra_udp=True)), "/run/h", emulated_udp={"lan"})
    assert [(r.network, r.node, r.public, r.private, r.guests) for r in plan.relays] == [
        ("lan", "host", ("127.0.1.1", 4800), ("127.0.2.1", 4800), ()),
        ("lan", "host2", ("127.0.1.2", 4800), ("127.0.2.2", 4800), ())]
    p = by_node(plan)
    # Each node binds where it really is and sends to the others' relays; the console is not emulated.
    assert p["host2"].argv()[2].split(",")[-2:] == ["10.1.0.1:4800=127.0.1.1:4800", "10.1.0.2:4800=127.0.2.2:4800"]
    host_end = next(e for e in plan.lines[0].ends if e.node == "host")
    assert p["host"].argv({host_end.id: "/dev/pts/9"})[2].split(",")[-2:] == [
        "10.1.0.1:4800=127.0.2.1:4800", "10.1.0.2:4800=127.0.1.2:4800"]
    assert [m.arg() for m in plan.udp_map] == [m.arg() for m in cluster_plan(images(hello(extra_udp=True)),
                                                                             "/run/h").udp_map]
    with pytest.raises(ClusterPlanError, match="no UDP network uart, wan to emulate"):
        cluster_plan(images(hello(extra_udp=True)), "/run/h", emulated_udp={"wan", "uart"})


def test_a_board_behind_a_relay_forwards_its_ethernet_to_where_it_really_is():
    plan = cluster_plan(images(camera_trap_manifest()), "/run/c", emulated_udp={"lan"})
    relayed = {r.node: r for r in plan.relays}
    assert sorted(relayed) == ["camera", "edge"]
    assert relayed["camera"].public == ("127.0.1.3", 4800) and relayed["camera"].private[1] == 4800
    # The edge is the camera's QEMU host: what the camera sends arrives at 127.0.0.1 from QEMU's socket.
    assert relayed["edge"].public == ("127.0.0.1", 4800) and relayed["edge"].guests == ("camera",)
    nic = by_node(plan)["camera"].argv()[-1]
    assert nic.endswith(f"hostfwd=udp:{relayed['camera'].private[0]}:4800-10.0.0.2:4800")
    assert f"10.0.0.1:4800={relayed['edge'].private[0]}:4800" in by_node(plan)["edge"].argv()[2]
