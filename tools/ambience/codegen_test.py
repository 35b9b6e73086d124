"""Node code generation: the client each dependency gets follows the plan's call path."""
from __future__ import annotations

from dataclasses import replace

from ambience.backend import Runtime
from ambience.codegen import groups_ld, main_cc
from ambience.plan_json import NodeDocument, load_node_plan_text, plan_documents
from ambience.planner import make_plan
from ambience.testlib import camera_trap_interfaces, camera_trap_manifest


def docs_of(b) -> dict[str, NodeDocument]:
    dep, rep = b.model()
    rep.check()
    return {n: load_node_plan_text(t) for n, t in plan_documents(make_plan(dep, camera_trap_interfaces())).items()}


def test_direct_dependency_passes_the_implementation():
    cc = main_cc(docs_of(camera_trap_manifest())["camera"])
    assert "  i_camera_manager.emplace(i_detection.get());" in cc
    # start order inside the group: detection before camera_manager
    assert cc.index("co_await rt::start_service(i_detection.get());") < cc.index(
        "co_await rt::start_service(i_camera_manager.get());")


def test_rpc_dependency_gets_serializing_client_over_route():
    cc = main_cc(docs_of(camera_trap_manifest())["camera"])
    assert 'constexpr rt::Route d_detection__next_route{"lan", "udp", "10.0.0.1", 4800, "edge", 1, 2, 0x0ull};' in cc
    # the numbers the envelopes carry: nodes by name, and who may call this node's objects
    assert '    {1, "camera"},' in cc and '    {3, "edge"},' in cc and '"cloud"}' not in cc
    assert 'constexpr ::ambience::rpc::CallerName kRpcCallers[] = {' in cc
    # detection runs in an isolated group: its client talks to the kernel's relay, which owns the route
    assert "rt::RouteTransport d_detection__next_relay_transport{d_detection__next_route};" in cc
    assert ("rt::Slot<::camera_trap::FrameHandlerRpcClient<rt::RingTransport>> d_detection__next_client;") in cc
    assert "  i_detection.emplace(d_detection__next_client.get());" in cc


def test_ipc_dependency_gets_zero_copy_client_with_grant():
    b = camera_trap_manifest()
    b.group("g2", ["detection"])  # detection leaves camera_group... make it a second group
    b.group("camera_group", ["camera_manager"])
    b.declarations = [d for d in b.declarations if not (d["decl"] == "group" and d["name"] == "camera_group"
                                                        and d["instances"] == ["camera_manager", "detection"])]
    b.deploy("camera", ["g2"])
    doc = docs_of(b)["camera"]
    assert doc.runtime.kind == "mcu_isolated"
    # The plan as it is for a node the planner keeps in one image (e.g. beyond the supervisor's
    # ring instances): the same edge becomes a capability-checked local channel.
    doc.runtime = Runtime("mcu_single", "more than 16 ring instances", doc.runtime.group_ids)
    doc.instances = [replace(i, dependencies=tuple(
                         replace(d, connector={"ipc": "local_channel", "rpc": "route"}.get(d.path, d.connector))
                         for d in i.dependencies)) for i in doc.instances]
    cc = main_cc(doc)
    assert "not MPU-isolated: more than 16 ring instances." in cc
    assert "rt::Slot<rt::LocalChannel<::camera_trap::FrameHandler>> d_camera_manager__frames_channel;" in cc
    assert "  d_camera_manager__frames_channel.emplace(i_detection.get(), rt::Grant{0x1ull});" in cc
    assert "  i_camera_manager.emplace(d_camera_manager__frames_client.get());" in cc
    # what each channel let through and refused is printed when the node stops
    assert ('  ::ambience::println("ambience: channel camera_manager.frames -> detection calls ", '
            'd_camera_manager__frames_channel.get().calls(), " denied ", '
            'd_camera_manager__frames_channel.get().denied());') in cc
    # g2 (the callee) is built and started before camera_group (the caller)
    assert cc.index("construct_group_g2();") < cc.index("construct_group_camera_group();")


def test_mcu_groups_live_in_their_region_sections():
    docs = docs_of(camera_trap_manifest())
    cc = main_cc(docs["camera"])
    assert ('__attribute__((section(".ambience.group.camera_group"))) '
            'rt::Slot<camera_trap::Detection> i_detection;') in cc
    ld = groups_ld(docs["camera"])
    assert "  .ambience_group_camera_group 0x20038000 (NOLOAD) : ALIGN(8)" in ld
    assert "ASSERT(end <= 0x20038000," in ld
    assert "__attribute__((section" not in main_cc(docs["edge"])  # hosted: no MPU sections


def test_served_objects_carry_caller_grants():
    cc = main_cc(docs_of(camera_trap_manifest())["cloud"])
    assert '{"external:internet", rt::Grant{0x7ull}},' in cc
    assert '{"recognition@edge", rt::Grant{0x7ull}},' in cc
    assert '{1, "database", &serve_database, database_grants},' in cc


def test_generated_code_is_deterministic():
    a = {n: main_cc(d) for n, d in docs_of(camera_trap_manifest()).items()}
    b = {n: main_cc(d) for n, d in docs_of(camera_trap_manifest()).items()}
    assert a == b


def test_hosted_groups_become_processes_called_zero_copy_through_checked_relays():
    from ambience.testlib import ManifestBuilder, camera_trap_services

    b = ManifestBuilder()
    camera_trap_services(b)
    b.network("lan", "udp")
    b.node("host", networks={"lan": "10.0.0.1"})
    b.instance("recognition", "//services/recognition", {"log": "database"})
    b.instance("database", "//services/database")
    b.deploy("host", ["recognition", "database"])
    doc = docs_of(b)["host"]
    assert doc.runtime.kind == "hosted_processes"
    cc = main_cc(doc)
    # database is group 0 and maps the arena of its caller's group 1; the relay admits only group 1
    assert 'node.add_group(rt::hosted_group_options("database", {1}));  // 0' in cc
    assert "    {1, rt::Grant{0x7ull}},  // recognition (camera_trap.EventLog)" in cc
    assert "  d_recognition__log_sharing.emplace(to_kernel, rt::sharing_target(1, 0));" in cc
    assert "rt::SharingRelay s_database_0{nullptr, rt::sharing_target(1, 0), 0, g_database_grants};" in cc
    assert ("  if (!node.services().add(s_database_0.target, &rt::relay_sharing, &s_database_0)) "
            "::ambience::fatal(\"service table full: cannot relay to 'database'\");") in cc
    # Nothing serialized inside the node: lidl messages are served only to the network, where the
    # operator's console is the one caller.
    assert "rt::HostedRelay" not in cc
    assert [line.split("{")[1].split(",")[0] for line in cc.splitlines() if "@" in line and "rt::Grant" in line] == [
        '"console@console"', '"console@console"']


def test_forwarding_tables_on_intermediate_nodes():
    b = camera_trap_manifest()
    b.instance("watcher", "//services/motion", {"handler": "camera_manager"})
    b.deploy("cloud", ["watcher"])

    cc = main_cc(docs_of(b)["edge"])
    assert '    {"camera", {"lan", "udp", "10.0.0.2", 4800, "camera", 0}},' in cc
    assert '    {"cloud", {"internet", "udp", "cloud", 4800, "cloud", 0}},' in cc
    assert "// Forwarders (kernel group): internet > lan for camera; lan > internet for cloud" in cc
    assert '    {"internet", "udp", "edge", 4800},' in cc


def two_group_mcu_manifest():
    """The camera node with only the camera_manager -> detection edge: two user groups, no RPC."""
    from ambience.testlib import ManifestBuilder, camera_trap_services
    b = ManifestBuilder(name="iso", package="deployments/iso")
    camera_trap_services(b)
    b.node("camera", board="//platforms/boards:mps2_an500")
    b.instance("camera_manager", "//services/camera", {"frames": "detection"})
    b.instance("detection", "//services/detection", {"next": "recognition"})
    b.instance("recognition", "//services/recognition", {"log": "database"})
    b.instance("database", "//services/database", memory="8K")
    b.deploy("camera", ["camera_manager"])
    b.deploy("camera", ["detection"])
    b.group("backend", ["recognition", "database"])
    b.deploy("camera", ["backend"])
    return b


def test_mcu_user_groups_calling_each_other_run_isolated_over_kernel_rings():
    doc = docs_of(two_group_mcu_manifest())["camera"]
    assert doc.runtime.kind == "mcu_isolated"
    cc = main_cc(doc)
    # the caller's client makes typed calls through the kernel (its direct-call fast path), placed
    # in its region; the callee is called through one interface, so its ring server takes them
    assert ('__attribute__((section(".ambience.group.camera_manager"))) '
            "rt::Slot<::camera_trap::FrameHandlerZeroCopyClient<rt::RingZeroCopyChannel<::camera_trap::FrameHandler>>> "
            "d_camera_manager__frames_client;") in cc
    assert ("runtime.make<rt::RingServer>(runtime, &serve_detection, nullptr, "
            "rt::TypedCalls{&serve_typed_detection});") in cc
    assert ("    case 0: return rt::serve_procedure<::camera_trap::FrameHandler, 0>(runtime, call, "
            "[&](auto&... a) { return impl.handle(a...); });") in cc
    # the callee serves its ring; the kernel routes only what the plan's capabilities allow,
    # for lidl messages by the procedure in their envelope
    assert "  runtime.serve(0, s_detection->binding());" in cc
    assert "  supervisor.set_procedure_field(rt::kLidlProcedureField);" in cc
    assert "supervisor.allow(" in cc and "// camera_manager -> detection (camera_trap.FrameHandler)" in cc
    assert "supervisor.start();" in cc
    assert "if (!runtime.enable_core()) mcu::sys::exit(-11);" in cc
    assert "LocalChannel" not in cc  # no in-image shortcut between groups
    ld = groups_ld(doc)
    assert "ASSERT(ALIGN(__ambience_group_detection_end - __ambience_group_detection_start, 64) + " in ld


def test_mcu_isolation_gaps_are_named():
    docs = docs_of(camera_trap_manifest())
    assert docs["edge"].runtime.kind == "hosted_processes"
    assert docs["camera"].runtime.kind == "mcu_isolated"


def test_mcu_user_group_served_over_the_network_is_reached_through_its_ring():
    cc = main_cc(docs_of(camera_trap_manifest())["camera"])
    # the network request for camera_manager goes into its group's ring (ring id 0)
    assert "  rt::GroupCallTransport transport(mcu::Supervisor::instance(), 0);" in cc
    assert "  supervisor.bind_group_instance(0, 0);  // camera_manager" in cc
    assert "  runtime.serve(0, s_camera_manager->binding());" in cc


def test_mcu_rpc_from_a_user_group_goes_through_a_kernel_relay():
    doc = docs_of(camera_trap_manifest())["motion"]
    assert doc.runtime.kind == "mcu_isolated"
    cc = main_cc(doc)
    # the group's client sends over its ring to ring id 1 (0 is motion_sensor itself, served to
    # the operator's console), the kernel's relay over the route; it names motion_sensor as the
    # caller, whose requests are held while it calls
    assert "  d_motion_sensor__handler_transport.emplace(runtime, 1, 0);" in cc
    assert ("rt::KernelRingServer d_motion_sensor__handler_relay{&rt::relay_over_route, "
            "&d_motion_sensor__handler_relay_transport};") in cc
    assert ("  supervisor.bind_kernel_instance(1, d_motion_sensor__handler_relay.binding());  "
            "// relay for motion_sensor.handler") in cc
    assert "  supervisor.allow(0, 1);" in cc


def test_doors_json_lists_the_nodes_doors():
    from ambience.codegen.doors import doors_doc
    from ambience.plan_json import load_node_plan_text, plan_documents
    from ambience.testlib import plan_of, small

    b = small()
    b.instance("database", "//services/database")
    b.deploy("host", ["database"])
    b.export("database", "lan", port=80, http=8480)
    doc = doors_doc(load_node_plan_text(plan_documents(plan_of(b))["host"]))
    assert doc["deployment"] == "//deployments/test" and doc["node"] == "host"
    assert doc["entry_endpoint"] == f"127.0.0.1:{7700 + doc['node_number']}"
    [door] = doc["doors"]
    assert (door["instance"], door["network"], door["door"], door["http"], door["interface"]) == \
        ("database", "lan", 1, 8480, "camera_trap.EventLog")
    assert [(p["name"], p["id"], p["idempotent"]) for p in door["procedures"]] == \
        [("ping", 0, True), ("append", 1, False), ("range", 2, True)]
