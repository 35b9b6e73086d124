"""Hosted nodes whose groups are processes: supervisor and group entry points in one
executable (the supervisor re-executes it once per group, kernel/arch/hosted_linux/node.hpp).
The kernel group stays in the supervisor process; each other group is a sandboxed process
reached over its ring."""
from __future__ import annotations

import json

from ambience.codegen.connectors import NodeContext, construct_instance, group_storage, route_relay_target, tag
from ambience.codegen.cxx import (
    HOSTED_RPC_HPP,
    HOSTED_RUNTIME_HPP,
    NODE_RUNTIME_HPP,
    c_string,
    cxx_name,
    head,
    hosted_rpc_start,
    mask,
    namespace_open,
    network_tables,
    plural,
    route_literal,
    serve_by_schema,
    serve_remote_fn,
    served_interfaces,
    served_objects_table,
    served_remotely,
    start_group_fn,
    started_message,
)
from ambience.plan_json import NodeDocument
from ambience.plan_model import GroupPlan


class HostedNode:
    """The facts of the plan the hosted skeleton needs, derived once."""

    def __init__(self, doc: NodeDocument):
        self.doc = doc
        self.ctx = ctx = NodeContext.of(doc)
        self.user_groups = [g for g in doc.groups if not g.kernel]
        edges = [(i, d) for i in doc.instances for d in i.dependencies]
        self.ipc_callees = sorted({d.target for _, d in edges if d.path == "ipc"})
        self.rpc_served = served_remotely(doc)
        # instances a group process serves serialized on its ring: RPC targets the supervisor hands over
        self.ring_served = sorted(n for n in self.rpc_served if ctx.group_id(ctx.group_of[n]) >= 0)
        # (instance, interface): served zero-copy by the instance's group process (to the supervisor,
        # or to other groups through the supervisor's SharingRelay)
        self.shared_served = sorted({(d.target, d.interface) for _, d in edges
                                     if d.connector in ("share_down", "share_across")})
        # (instance in a group process, interface): a SharingRelay in the supervisor each
        self.relayed = sorted({(d.target, d.interface) for _, d in edges if d.connector == "share_across"})
        # (caller, dependency): RPC calls a group process sends through the supervisor's RouteRelay
        self.route_relays = [(i, d) for i, d in edges if d.connector == "route_relay"]
        # group id -> ids of the groups calling into it: it maps their arenas read-only
        self.callers_of: dict[int, list[int]] = {}
        for i, d in edges:
            if d.connector == "share_across":
                self.callers_of.setdefault(self.gid(d.target), []).append(ctx.group_id(i.group))
        # (kernel instance, interface, caller group id): a supervisor-side SharingServer each
        self.served_up = sorted({(d.target, d.interface, ctx.group_id(i.group)) for i, d in edges
                                 if d.connector == "share_up"})

        # groups of Python services: Python group processes (runtime/hosted/python), not C++ code here
        self.python = {i.name for i in doc.instances if i.language == "python"}
        self.python_groups = [g for g in self.user_groups if g.instances and all(n in self.python for n in g.instances)]
        self.cpp_groups = [g for g in doc.groups if g not in self.python_groups]

    def gid(self, instance: str) -> int:
        return self.ctx.group_id(self.ctx.group_of[instance])


def sharing_target(object_id: int, interface: int, caller_group: int = -1) -> int:
    """runtime/hosted/hosted_node.hpp's sharing_target()."""
    return 0x40000000 | ((caller_group + 1) << 20) | (object_id << 8) | interface


def python_groups_json(h: HostedNode) -> str:
    """The table a node's Python group processes build their instances from (runtime/hosted/python/group.py):
    per instance its module and class, the ring targets it serves, its dependencies in constructor order."""
    ctx, doc = h.ctx, h.doc

    def ref(interface: str) -> dict[str, str]:
        return {"module": doc.python_interfaces.get(interface, ""), "service": interface.rsplit(".", 1)[-1]}

    groups: dict[str, object] = {}
    for g in h.python_groups:
        instances = []
        for name in g.instances:
            inst = ctx.insts[name]
            by_dep = {d.dependency: d for d in inst.dependencies}
            deps: list[dict[str, object]] = []
            for arg in inst.constructor_args:
                d = by_dep[arg]
                entry: dict[str, object] = {"name": d.dependency}
                if d.connector == "direct":
                    entry.update(kind="direct", instance=d.target)
                elif d.connector in ("share_up", "share_across"):
                    target = ctx.insts[d.target]
                    caller = ctx.group_id(inst.group) if d.connector == "share_up" else -1
                    entry.update(kind="shared", target=sharing_target(target.object_id,
                                                                      ctx.sharing_index(d.target, d.interface), caller))
                    entry.update(ref(d.interface))
                elif d.connector == "route_relay":
                    k = [x.dependency for x in inst.dependencies].index(d.dependency)
                    entry.update(kind="lidl", target=0x20000000 | (inst.object_id << 8) | k)
                    entry.update(ref(d.interface))
                else:
                    raise ValueError(f"instance '{name}': no Python connector for '{d.connector}'")
                deps.append(entry)
            serves = [{"target": sharing_target(inst.object_id, ctx.sharing_index(name, i)), **ref(i)}
                      for t, i in h.shared_served if t == name]
            spec: dict[str, object] = {"name": name, "module": inst.py_module, "class": inst.py_class,
                                       "object_id": inst.object_id, "serves": serves, "dependencies": deps}
            if name in h.ring_served:
                spec["lidl"] = [ref(i) for i in served_interfaces(doc, name, ("rpc",))]
            instances.append(spec)
        groups[g.name] = {"instances": instances}
    return json.dumps({"deployment": doc.deployment, "node": doc.node.name, "groups": groups}, sort_keys=True)


def main_cc(doc: NodeDocument) -> str:
    h = HostedNode(doc)
    ctx = h.ctx
    python = ["runtime/hosted/python/python_group.hpp"] if h.python_groups else []
    out = head(doc, ["<cstddef>", "<string_view>", "kernel/arch/hosted_linux/node.hpp", "kernel/core/console.hpp",
                     "kernel/core/scheduler.hpp", "kernel/core/task.hpp", HOSTED_RUNTIME_HPP, HOSTED_RPC_HPP,
                     NODE_RUNTIME_HPP] + python)
    out += namespace_open(doc, ["namespace rt = ::ambience::node;", "namespace hosted = ::ambience::hosted;"])
    out += ["hosted::Node* g_node = nullptr;  // the supervisor (null in group processes)", ""]
    if h.python_groups:
        out += ["// The Python groups' table (runtime/hosted/python/group.py): their instances, what each serves",
                "// under which ring target, how each dependency is reached.",
                f"constexpr const char kPythonGroups[] = {c_string(python_groups_json(h))};", ""]
    out.append("// Group ids in the supervisor: " + ", ".join(f"{g.name} = {ctx.group_id(g.name)}"
                                                            for g in h.user_groups)
               + "; the kernel group (-1) stays in the supervisor process.")
    out.append("")
    out += _storage(h)
    out += _construct(h)
    out += _install(h)
    out += _supervisor_tables(h)
    for name in h.rpc_served:
        if h.gid(name) < 0:
            body = serve_by_schema(name, served_interfaces(doc, name, ("rpc",)))
        else:
            body = [f"  co_return co_await rt::channel_round_trip(g_node->channel({h.gid(name)}), "
                    f"{ctx.insts[name].object_id}, request, reply);"]
        out += serve_remote_fn(doc, name, f"serve_{name}", body)
    out += ["", "}  // namespace", "", "namespace ambience::generated {", ""]
    out += served_objects_table(doc, h.rpc_served, "serve_")
    out += network_tables(doc)
    kernel = next(g for g in doc.groups if g.kernel)
    msg = started_message(doc, f", {plural(len(h.user_groups), 'group process', 'group processes')}")
    out += ["::ambience::Task<void> start_kernel_group() {",
            f"  co_await start_group_{kernel.name}();",
            f"  ::ambience::print({c_string(msg)});  // one write: lines of group processes do not interleave",
            "}", "", "}  // namespace ambience::generated", ""]
    out += _main(h, kernel)
    return "\n".join(out) + "\n"


def _storage(h: HostedNode) -> list[str]:
    """Every process has all slots; each fills only its own group's."""
    ctx = h.ctx
    out = []
    for g in h.python_groups:
        out.append(f"// ---- group '{g.name}' (a Python group process: {', '.join(g.instances)})")
        for name in g.instances:  # the routes the supervisor's relays send its RPC calls along
            inst = ctx.insts[name]
            out += [route_literal(h.doc, tag(inst, d), d, inst.object_id) for d in inst.dependencies
                    if d.connector == "route_relay"]
        out.append("")
    for g in h.cpp_groups:
        proc = "supervisor process" if g.kernel else f"process of group '{g.name}'"
        out.append(f"// ---- group '{g.name}' ({proc})")
        for name in g.instances:
            out += group_storage(ctx, [name], "")
            if name in h.ring_served:
                ifaces = served_interfaces(h.doc, name, ("rpc",))
                entries = ", ".join(f"{{{cxx_name(i)}::schema_hash, nullptr, &rt::dispatch_as<{cxx_name(i)}>}}"
                                    for i in ifaces)
                out.append(f"rt::LidlEntry t_{name}_entries[] = {{{entries}}};")
                out.append(f"rt::LidlTarget t_{name}{{t_{name}_entries}};")
            for target, interface in h.shared_served:
                if target == name:
                    out.append(f"rt::Slot<hosted::SharingServer<{cxx_name(interface)}>> "
                               f"z_{name}_{ctx.sharing_index(name, interface)};  // {interface}, zero-copy")
        out.append("")
    return out


def _construct(h: HostedNode) -> list[str]:
    out = []
    for g in h.cpp_groups:
        param = "hosted::Node& node" if g.kernel else "hosted::Channel& to_kernel"
        out.append(f"// Builds group '{g.name}': its instances in start order, each after its clients.")
        out.append(f"void construct_group_{g.name}([[maybe_unused]] {param}) {{")
        for name in g.instances:
            out += construct_instance(h.ctx, name)
            if name in h.ring_served:
                for k, i in enumerate(served_interfaces(h.doc, name, ("rpc",))):
                    out.append(f"  t_{name}_entries[{k}].impl = static_cast<{cxx_name(i)}*>(&i_{name}.get());")
        out += ["}", ""] + start_group_fn(g)
    return out


def _install(h: HostedNode) -> list[str]:
    """What each group process builds and serves (before its sandbox closes)."""
    ctx = h.ctx
    out = ["// Runs in a group process (before its sandbox closes): builds the group and serves it.",
           "void install(hosted::GroupRuntime& group) {"]
    if any(g not in h.python_groups for g in h.user_groups):
        out.append("  const std::string_view name = group.name();")
    else:
        out.append("  (void)group;  // every group process of this node is a Python group")
    for g in h.user_groups:
        if g in h.python_groups:
            continue
        out.append(f"  if (name == {c_string(g.name)}) {{")
        out.append(f"    construct_group_{g.name}(group.channel());")
        for name in g.instances:
            object_id = ctx.insts[name].object_id
            if name in h.ring_served:
                full = c_string(f"service table full: cannot serve '{name}' in group '{g.name}'")
                out.append(f"    if (!group.services().add({object_id}, &rt::serve_lidl, &t_{name})) "
                           f"::ambience::fatal({full});")
            for target, interface in h.shared_served:
                if target != name:
                    continue
                k = ctx.sharing_index(name, interface)
                out.append(f"    z_{name}_{k}.emplace(static_cast<{cxx_name(interface)}&>(i_{name}.get()), "
                           f"&group.arena());")
                full = c_string(f"service table full: cannot serve '{name}' zero-copy in group '{g.name}'")
                out.append(f"    if (!z_{name}_{k}.get().install(group.services(), "
                           f"rt::sharing_target({object_id}, {k}))) ::ambience::fatal({full});")
        out += [f"    (void)::ambience::spawn(start_group_{g.name}());", "    return;", "  }"]
    return out + ["}", ""]


def _supervisor_tables(h: HostedNode) -> list[str]:
    """The plan's grants per IPC callee, and the supervisor's capability-checked servers and relays."""
    ctx = h.ctx
    out = ["// Calls between the groups of this node use the generated zero-copy client: span, string_view and",
           "// bytes arguments stay in the caller's arena (rt::SupervisorSharing, rt::GroupSharing). The",
           "// supervisor checks every call a group makes against the plan's grants, on the procedure of its",
           "// private copy of the call block: a SharingServer per caller group for instances of the kernel",
           "// group (allow hook rt::allow_sharing), a SharingRelay for instances of other groups (the callee",
           "// group maps its callers' arenas read-only and reads the arguments in place)."]
    for name in h.ipc_callees:
        out.append(f"constexpr rt::GroupGrant g_{name}_grants[] = {{")
        for c in h.doc.capabilities:
            if c.callee == name and c.path == "ipc":
                out.append(f"    {{{h.gid(c.caller)}, rt::Grant{{{mask(c.procedures)}}}}},  "
                           f"// {c.caller} ({c.interface})")
        out.append("};")
        for target, interface in h.relayed:
            if target == name:
                k = ctx.sharing_index(name, interface)
                out.append(f"rt::SharingRelay s_{name}_{k}{{nullptr, rt::sharing_target({ctx.insts[name].object_id}, "
                           f"{k}), {h.gid(name)}, g_{name}_grants}};  // {interface}, zero-copy")
        for target, interface, caller in h.served_up:
            if target == name:
                z = f"zk_{name}_{ctx.sharing_index(name, interface)}_{caller}"
                out.append(f"rt::Slot<hosted::SharingServer<{cxx_name(interface)}>> {z};  // {interface} for group "
                           f"{caller}, zero-copy")
                out.append(f"rt::SharingGrants {z}_grants{{nullptr, {caller}, g_{name}_grants}};")
    for inst, d in h.route_relays:
        t = tag(inst, d)
        out.append(f"rt::RouteRelay r_{t}{{&{t}_route, nullptr, {ctx.group_id(inst.group)}}};  "
                   f"// {inst.name}.{d.dependency} -> {d.target_node or 'the network'}")
    return out + [""]


def _main(h: HostedNode, kernel: GroupPlan) -> list[str]:
    ctx = h.ctx
    out = ["int main(int argc, char** argv) {",
           "  hosted::run_group_if_requested(argc, argv, &install);  // group processes never return",
           "  hosted::Node node;", "  g_node = &node;"]
    for g in h.user_groups:
        gid = ctx.group_id(g.name)
        callers = sorted(set(h.callers_of.get(gid, [])))
        reads = (", {" + ", ".join(str(c) for c in callers) + "}") if callers else ""
        note = f"; maps the arenas of its callers {callers}" if callers else ""
        options = "python_group_options" if g in h.python_groups else "hosted_group_options"
        note += "; Python" if g in h.python_groups else ""
        out.append(f"  node.add_group(rt::{options}({c_string(g.name)}{reads}));  // {gid}{note}")
    out.append(f"  construct_group_{kernel.name}(node);")
    for name in h.ipc_callees:
        object_id = ctx.insts[name].object_id
        for target, interface in h.relayed:
            if target != name:
                continue
            s = f"s_{name}_{ctx.sharing_index(name, interface)}"
            full = c_string(f"service table full: cannot relay to '{name}'")
            out.append(f"  {s}.node = &node;")
            out.append(f"  if (!node.services().add({s}.target, &rt::relay_sharing, &{s})) ::ambience::fatal({full});")
        for target, interface, caller in h.served_up:
            if target != name:
                continue
            k = ctx.sharing_index(name, interface)
            z = f"zk_{name}_{k}_{caller}"
            out.append(f"  {z}.emplace(static_cast<{cxx_name(interface)}&>(i_{name}.get()), &node.arena({caller}));")
            out.append(f"  {z}_grants.node = &node;")
            out.append(f"  {z}.get().set_allow(&rt::allow_sharing, &{z}_grants);")
            full = c_string(f"service table full: cannot serve '{name}' zero-copy to group {caller}")
            out.append(f"  if (!{z}.get().install(node.services(), rt::sharing_target({object_id}, "
                       f"{k}, {caller}))) ::ambience::fatal({full});")
    out += hosted_rpc_start(h.doc)
    for inst, d in h.route_relays:
        t = tag(inst, d)
        full = c_string(f"service table full: cannot relay {inst.name}.{d.dependency} to the network")
        out.append(f"  r_{t}.node = &node;")
        out.append(f"  if (!node.services().add({route_relay_target(inst, d)}, &rt::relay_over_route, &r_{t})) "
                   f"::ambience::fatal({full});")
    if h.python_groups:
        failed_py = c_string(f"ambience: node '{h.doc.node.name}': cannot hand the Python groups their table\n")
        out += ["  // Inherited by the Python group processes (and their restarts).",
                "  if (!rt::set_python_groups(kPythonGroups)) {", f"    ::ambience::print({failed_py});",
                "    return 2;", "  }"]
    failed = c_string(f"ambience: node '{h.doc.node.name}': the group processes did not start\n")
    out += ["  if (node.start() != ::ambience::Status::ok) {", f"    ::ambience::print({failed});", "    return 2;",
            "  }",
            "  if (::ambience::spawn(::ambience::generated::start_kernel_group()) != ::ambience::Status::ok) return 2;",
            "  return rt::run_supervisor(node, argc, argv);", "}"]
    return out
