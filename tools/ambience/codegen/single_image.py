"""Single-image nodes: every group in one privileged image (hosted nodes with only a kernel
group; MCU nodes whose groups the planner did not isolate, with the reason in a comment)."""
from __future__ import annotations

from ambience.codegen.connectors import NodeContext, construct_instance, group_storage, tag
from ambience.codegen.cxx import (
    HOSTED_RPC_HPP,
    HOSTED_RUNTIME_HPP,
    MCU_RPC_HPP,
    NODE_RUNTIME_HPP,
    c_string,
    head,
    hosted_rpc_start,
    mcu_rpc_start,
    namespace_open,
    network_tables,
    plural,
    region_checks,
    regions,
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


def section(doc: NodeDocument, group: GroupPlan) -> str:
    if doc.node.kind != "mcu" or group.kernel:
        return ""
    return f'__attribute__((section(".ambience.group.{group.name}"))) '


def main_cc(doc: NodeDocument) -> str:
    ctx = NodeContext.of(doc)
    is_mcu = doc.node.kind == "mcu"
    includes = ["<cstddef>", "<cstring>", "kernel/core/console.hpp", "kernel/core/scheduler.hpp",
                "kernel/core/task.hpp", NODE_RUNTIME_HPP]
    if is_mcu:
        includes.append("kernel/arch/cortex_m/groups.hpp")
        if doc.endpoints:
            includes.append(MCU_RPC_HPP)
    elif doc.endpoints:
        includes += [HOSTED_RUNTIME_HPP, HOSTED_RPC_HPP]
    out = head(doc, includes)
    reason = doc.runtime.reason
    if reason and reason != "no user group":
        out += ["", f"// The groups of this node run in one privileged image, not MPU-isolated: {reason}."]
    out += region_checks(doc)
    out += namespace_open(doc, ["namespace rt = ::ambience::node;"]) + [""]

    regs = regions(doc)
    for g in doc.groups:
        where = " (kernel group: privileged, shares the kernel's domain)" if g.kernel else ""
        if g.name in regs:
            r = regs[g.name]
            where = f" (MPU region 0x{r.base:08x}, {r.size} bytes, {r.needed} needed)"
        out.append(f"// ---- group '{g.name}'{where}")
        out += group_storage(ctx, g.instances, section(doc, g))
        out.append("")

    for g in doc.groups:
        name = g.name
        out.append(f"// Builds group '{name}': its instances in start order, each after its clients.")
        out.append(f"void construct_group_{name}() {{")
        if is_mcu and name in regs:
            out.append(f"  std::memset(__ambience_group_{name}_start, 0, static_cast<std::size_t>("
                       f"__ambience_group_{name}_end - __ambience_group_{name}_start));")
        for inst in g.instances:
            out += construct_instance(ctx, inst)
        out += ["}", ""] + start_group_fn(g)

    served = served_remotely(doc)
    for name in served:
        body = serve_by_schema(name, served_interfaces(doc, name, ("rpc",)))
        out += serve_remote_fn(doc, name, f"serve_{name}", body)
    out += ["", "}  // namespace", "", "namespace ambience::generated {", ""]
    out += served_objects_table(doc, served, "serve_")
    out += network_tables(doc)
    out.append("// Builds and starts every group in the plan's group order.")
    out.append("::ambience::Task<void> start_node() {")
    for g in doc.groups:
        out.append(f"  construct_group_{g.name}();")
        out.append(f"  co_await start_group_{g.name}();")
    n_groups = sum(1 for g in doc.groups if g.instances)
    msg = started_message(doc, f" in {plural(n_groups, 'group')}")
    out.append(f"  ::ambience::print({c_string(msg)});  // one write: lines of group processes do not interleave")
    out += ["  co_return;", "}", "", "}  // namespace ambience::generated", ""]
    if not is_mcu and doc.endpoints:
        # On a network: serve and forward until asked to stop, like a node with group processes.
        out += ["int main(int argc, char** argv) {"] + hosted_rpc_start(doc) + [
            "  if (::ambience::spawn(::ambience::generated::start_node()) != ::ambience::Status::ok) return 2;",
            "  return ::ambience::node::run_until_exit_requested(argc, argv);", "}"]
        return "\n".join(out) + "\n"
    out += ["int main() {"] + (mcu_rpc_start(doc) if is_mcu else []) + [
            "  if (::ambience::spawn(::ambience::generated::start_node()) != ::ambience::Status::ok) return 2;"]
    if is_mcu and (served_remotely(doc) or doc.next_hops):
        # Serves other nodes (or forwards for them): the loop never idles out; asleep (WFI)
        # until an interrupt or a timer whenever nothing is ready.
        out.append("  ::ambience::Scheduler::current().hold();  // serves other nodes: for ever")
    out.append("  ::ambience::Scheduler::current().run_until_idle();")
    # What each capability-checked channel between groups let through and refused.
    for planned in doc.instances:
        for d in planned.dependencies:
            if d.connector == "local_channel":
                t = tag(planned, d)
                out.append(f"  ::ambience::println(\"ambience: channel {planned.name}.{d.dependency} -> {d.target} "
                           f"calls \", {t}_channel.get().calls(), \" denied \", {t}_channel.get().denied());")
    out += ["  return 0;", "}"]
    return "\n".join(out) + "\n"
