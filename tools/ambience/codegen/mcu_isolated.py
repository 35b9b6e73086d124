"""Isolated MCU nodes: every user group runs unprivileged in its planned MPU region under the
kernel/arch/cortex_m supervisor. Each group's entry builds its objects (in its region), gets its
own scheduler, frame arena and heap (GroupRuntime::enable_core), starts its services and serves
its ring. Every call a user group makes goes through the kernel, which checks the caller's
capability (per procedure) first: a typed call to an instance of another group that is called
through one interface (the kernel's direct-call fast path when the callee waits), else a lidl
message on its ring to another group, to a kernel-group instance (served in place), or to a
network relay (the RPC dependencies)."""
from __future__ import annotations

from ambience.codegen.connectors import NodeContext, construct_instance, group_storage, typed_ring_interface
from ambience.codegen.cxx import (
    MCU_RPC_HPP,
    MCU_RUNTIME_HPP,
    NODE_RUNTIME_HPP,
    c_string,
    cxx_name,
    head,
    mask,
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
)
from ambience.plan_json import NodeDocument
from ambience.plan_model import GroupPlan


def main_cc(doc: NodeDocument) -> str:
    ctx = NodeContext.of(doc)
    rt = doc.runtime
    groups = [g for g in doc.groups if g.instances]
    user = [g for g in groups if not g.kernel]
    regs = regions(doc)
    in_kernel = {n: ctx.group_id(ctx.group_of[n]) < 0 for n in ctx.insts}
    out = head(doc, ["<cstddef>", "<cstdint>", "<span>", "kernel/arch/cortex_m/group_runtime.hpp",
                     "kernel/arch/cortex_m/groups.hpp", "kernel/core/arch.hpp", "kernel/core/console.hpp",
                     "kernel/core/scheduler.hpp",
                     "kernel/core/task.hpp", MCU_RUNTIME_HPP, NODE_RUNTIME_HPP]
               + ([MCU_RPC_HPP] if doc.endpoints else []))
    out += region_checks(doc)
    out += namespace_open(doc, ["namespace rt = ::ambience::node;", "namespace mcu = ::ambience::mcu;"]) + [""]
    if rt.ring_ids or rt.relay_ids:
        names = [f"{n} = {k}" for n, k in rt.ring_ids.items()]
        names += [f"relay {r} = {k}" for r, k in rt.relay_ids.items()]
        out += ["// Ring instance ids (the kernel routes by these): " + ", ".join(names) + ".", ""]

    for g in groups:
        where = " (kernel group: privileged)"
        section = ""
        if not g.kernel:
            r = regs[g.name]
            where = f" (unprivileged, MPU region 0x{r.base:08x}, {r.size} bytes, {r.needed} needed)"
            section = f'__attribute__((section(".ambience.group.{g.name}"))) '
        out.append(f"// ---- group '{g.name}'{where}")
        out += group_storage(ctx, g.instances, section)
        out.append("")

    for name in rt.ring_ids:
        where = "the kernel, in place" if in_kernel[name] else "its group"
        out.append(f"// Serves a request from a group's ring for '{name}' (runs in {where}).")
        out.append(f"::ambience::Task<::ambience::Status> serve_{name}(void*, std::span<const std::byte> request, "
                   f"::ambience::lidl::MessageBuffer& reply) {{")
        out += serve_by_schema(name, served_interfaces(doc, name, ("ipc", "rpc")))
        out.append("}")
        if in_kernel[name]:
            out.append(f"rt::KernelRingServer ks_{name}{{&serve_{name}}};")
        out.append("")
        typed = typed_ring_interface(ctx, name)
        if typed:
            out += _typed_serve_fn(doc, name, typed)

    for g in groups:
        param = "" if g.kernel else "[[maybe_unused]] mcu::GroupRuntime& runtime"
        out.append(f"// Builds group '{g.name}': its instances in start order, each after its clients.")
        out.append(f"void construct_group_{g.name}({param}) {{")
        for name in g.instances:
            out += construct_instance(ctx, name)
        out += ["}", ""] + start_group_fn(g)

    for g in user:
        gname = g.name
        out.append(f"// Entry of group '{gname}' (unprivileged, at every (re)start; the kernel zeroed its region).")
        out.append(f"void entry_{gname}(const mcu::GroupBoot* boot) {{")
        out.append("  mcu::GroupRuntime& runtime = mcu::GroupRuntime::create(boot);")
        for name in g.instances:
            if name not in rt.ring_ids:
                continue
            typed_arg = f", nullptr, rt::TypedCalls{{&serve_typed_{name}}}" if typed_ring_interface(ctx, name) else ""
            out.append(f"  rt::RingServer* s_{name} = runtime.make<rt::RingServer>(runtime, &serve_{name}{typed_arg});")
            out.append(f"  if (s_{name} == nullptr) mcu::sys::exit(-10);")
            out.append(f"  runtime.serve({rt.ring_ids[name]}, s_{name}->binding());")
        out += ["  // The rest of the state area: this group's coroutine frames and heap.",
                "  if (!runtime.enable_core()) mcu::sys::exit(-11);",
                f"  construct_group_{gname}(runtime);",
                f"  if (runtime.run(start_group_{gname}()) != ::ambience::Status::ok) mcu::sys::exit(-12);",
                "  runtime.serve_forever();", "}", ""]

    # Served to other nodes: kernel-group instances in place, user-group ones through their ring.
    served = served_remotely(doc)
    for name in served:
        if in_kernel[name]:
            body = serve_by_schema(name, served_interfaces(doc, name, ("rpc",)))
        else:
            body = [f"  rt::GroupCallTransport transport(mcu::Supervisor::instance(), {rt.ring_ids[name]});",
                    "  co_return co_await transport.call(request, reply);"]
        out += serve_remote_fn(doc, name, f"serve_remote_{name}", body)
    out += ["}  // namespace", "", "namespace ambience::generated {", ""]
    out += served_objects_table(doc, served, "serve_remote_")
    out += network_tables(doc)
    out.append("::ambience::Task<void> start_kernel_group() {")
    out += [f"  co_await start_group_{g.name}();" for g in groups if g.kernel]
    out += ["  co_return;", "}", "", "}  // namespace ambience::generated", ""]
    out += _main(doc, ctx, groups, user, in_kernel)
    return "\n".join(out) + "\n"


def _typed_serve_fn(doc: NodeDocument, name: str, iface: str) -> list[str]:
    """Serves the typed calls of a ring instance: the procedure's method, run in its group."""
    procs = next(c.procedures for c in doc.capabilities
                 if c.callee == name and c.interface == iface and c.path == "ipc")
    t = cxx_name(iface)
    out = [f"// Serves a typed call for '{name}' ({iface}; method = procedure id) in its group.",
           f"::ambience::Status serve_typed_{name}(mcu::GroupRuntime& runtime, void*, mcu::ServiceCall& call) {{",
           f"  {t}& impl = i_{name}.get();",
           "  switch (call.method) {"]
    for p in sorted(procs, key=lambda p: p.id):
        out.append(f"    case {p.id}: return rt::serve_procedure<{t}, {p.id}>(runtime, call, "
                   f"[&](auto&... a) {{ return impl.{p.name}(a...); }});")
    out += ["  }", "  return ::ambience::Status::not_found;", "}", ""]
    return out


def _main(doc: NodeDocument, ctx: NodeContext, groups: list[GroupPlan], user: list[GroupPlan],
          in_kernel: dict[str, bool]) -> list[str]:
    """Registers groups, ring bindings and capabilities with the supervisor, then runs the node."""
    rt = doc.runtime
    regs = regions(doc)
    out = ["int main() {", "  mcu::Supervisor& supervisor = mcu::Supervisor::instance();"]
    for g in user:
        gname = g.name
        out.append(f"  supervisor.add_group({{{c_string(gname)}, reinterpret_cast<std::byte*>("
                   f"__ambience_group_{gname}_start), {g.stack_bytes}, {g.state_bytes}, &entry_{gname}, "
                   f"0, 0, 0, {regs[gname].size}, static_cast<std::uint32_t>(__ambience_group_{gname}_end - "
                   f"__ambience_group_{gname}_start)}});  // {ctx.group_id(gname)}")
    for name, k in rt.ring_ids.items():
        if in_kernel[name]:
            out.append(f"  supervisor.bind_kernel_instance({k}, ks_{name}.binding());  // {name} (kernel group)")
        else:
            out.append(f"  supervisor.bind_group_instance({k}, {ctx.group_id(ctx.group_of[name])});  // {name}")
    for relay, k in rt.relay_ids.items():
        caller, dep = relay.split(".")
        out.append(f"  supervisor.bind_kernel_instance({k}, d_{caller}__{dep}_relay.binding());  // relay for {relay}")
        out.append(f"  supervisor.allow({ctx.group_id(ctx.group_of[caller])}, {k});  // the relay forwards any "
                   f"procedure: the callee's node checks it")
    if rt.ring_ids:
        out.append("  // lidl messages carry their procedure in the envelope: where the kernel checks it.")
        out.append("  supervisor.set_procedure_field(rt::kLidlProcedureField);")
    for c in sorted(doc.capabilities, key=lambda c: (c.caller, c.callee, c.interface)):
        if c.path != "ipc" or in_kernel[c.caller]:
            continue
        out.append(f"  supervisor.allow({ctx.group_id(ctx.group_of[c.caller])}, {rt.ring_ids[c.callee]}, "
                   f"{mask(c.procedures)});  // {c.caller} -> {c.callee} ({c.interface})")
    out += [f"  construct_group_{g.name}();  // before any group can call it" for g in groups if g.kernel]
    msg = (f"ambience: node '{doc.node.name}' of '{doc.deployment}': "
           f"{plural(len(doc.instances), 'instance')} in {plural(len(groups), 'group')} started "
           f"({len(user)} MPU-isolated, unprivileged)\n")
    out += mcu_rpc_start(doc)
    out += ["  supervisor.start();",
            "  ::ambience::Scheduler& kernel = ::ambience::Scheduler::current();",
            "  if (::ambience::spawn(::ambience::generated::start_kernel_group()) != ::ambience::Status::ok) return 2;",
            f"  ::ambience::print({c_string(msg)});"]
    if served_remotely(doc) or doc.next_hops:
        # Serves other nodes (or forwards for them): runs for ever, asleep until an interrupt
        # (a byte on a line, a timer) or the kernel's next timer.
        return out + [
            "  // Serves other nodes: for ever, asleep (WFI) whenever nothing is ready.",
            "  for (;;) {",
            "    const std::uint32_t epoch = ::ambience::arch::wake_epoch();",
            "    const bool groups_ran = supervisor.run_once();",
            "    const bool kernel_ran = kernel.run_ready() != 0;",
            "    if (groups_ran || kernel_ran) continue;",
            "    ::ambience::arch::idle_wait(kernel.next_deadline_us(), epoch);",
            "  }",
            "}"]
    out += ["  // Until nothing can happen any more: no group has work, the kernel loop is idle (no timer,",
            "  // no driver holding it); asleep (WFI) while waiting for a timer or an interrupt.",
            "  for (;;) {",
            "    const std::uint32_t epoch = ::ambience::arch::wake_epoch();",
            "    const bool groups_ran = supervisor.run_once();",
            "    const bool kernel_ran = kernel.run_ready() != 0;",
            "    if (groups_ran || kernel_ran) continue;",
            "    if (kernel.has_work()) {",
            "      ::ambience::arch::idle_wait(kernel.next_deadline_us(), epoch);",
            "      continue;",
            "    }",
            "    for (int k = 0; k < supervisor.group_count(); ++k) {",
            "      const mcu::GroupStats& st = supervisor.stats(k);",
            "      ::ambience::println(\"ambience: group \", supervisor.name(k), \" faults \", st.faults, "
            "\" restarts \", st.restarts, \" calls \", st.calls_routed, \" denied \", st.denied);",
            "    }",
            "    return 0;",
            "  }",
            "}"]
    return out
