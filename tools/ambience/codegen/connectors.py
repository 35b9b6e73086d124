"""Connectors: the generated glue of one dependency edge, one small class per connector name
the planner assigns (ambience/backend.py documents the vocabulary).

Each connector writes three parts for an edge (caller instance `inst`, dependency `d`):
  declare   storage of its client objects (in the caller's group; MPU section on MCUs)
  construct statements building them in the caller group's construct function
  client    the expression passed to the caller's constructor
Kernel-side parts of a connector (relays, bindings, grants) are written by the backend from
the same plan facts, in its tables.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ambience.backend import Runtime
from ambience.codegen.cxx import cxx_name, mask, route_literal, served_interfaces
from ambience.plan_json import NodeDocument, PlannedDependency, PlannedInstance
from ambience.plan_model import Capability


@dataclass
class NodeContext:
    """What connectors read of one node's plan."""

    doc: NodeDocument
    insts: dict[str, PlannedInstance]
    group_of: dict[str, str]  # instance -> group
    capabilities: dict[tuple[str, str, str], Capability]  # (caller, callee, interface) ->
    runtime: Runtime

    @classmethod
    def of(cls, doc: NodeDocument) -> NodeContext:
        return cls(doc, {i.name: i for i in doc.instances}, {i.name: i.group for i in doc.instances},
                   {(c.caller, c.callee, c.interface): c for c in doc.capabilities}, doc.runtime)

    def group_id(self, group: str) -> int:
        return self.runtime.group_ids[group]

    def sharing_index(self, target: str, interface: str) -> int:
        """Which of the target's served interfaces a zero-copy server is for."""
        return served_interfaces(self.doc, target, ("ipc", "rpc")).index(interface)


def tag(inst: PlannedInstance, d: PlannedDependency) -> str:
    return f"d_{inst.name}__{d.dependency}"


class Connector:
    def declare(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency, section: str) -> list[str]:
        return []

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        return []

    def client(self, inst: PlannedInstance, d: PlannedDependency) -> str:
        return f"{tag(inst, d)}_client.get()"


class RpcClientConnector(Connector):
    """A generated `<Service>RpcClient<Transport>` with its request and reply buffers."""

    transport = ""
    buffer = "rt::RpcBuffer"

    def transport_args(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> str:
        raise NotImplementedError

    def extra_declarations(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        return []

    def declare(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency, section: str) -> list[str]:
        t, iface = tag(inst, d), cxx_name(d.interface)
        return self.extra_declarations(ctx, inst, d) + [
            f"{section}rt::Slot<{self.transport}> {t}_transport;",
            f"{section}rt::Slot<{self.buffer}> {t}_request;",
            f"{section}rt::Slot<{self.buffer}> {t}_reply;",
            f"{section}rt::Slot<{iface}RpcClient<{self.transport}>> {t}_client;"]

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        t = tag(inst, d)
        return [f"  {t}_transport.emplace({self.transport_args(ctx, inst, d)});",
                f"  {t}_request.emplace();",
                f"  {t}_reply.emplace();",
                f"  {t}_client.emplace({t}_transport.get(), {t}_request.get(), {t}_reply.get());"]


class Direct(Connector):
    def client(self, inst: PlannedInstance, d: PlannedDependency) -> str:
        return f"i_{d.target}.get()"


class NetworkClient(RpcClientConnector):
    """A client whose calls leave the node: the RPC layer re-sends @idempotent calls within the
    call's deadline, so the generated client does not retry on top (a call ends at its timeout)."""

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        return super().construct(ctx, inst, d) + [
            f"  {tag(inst, d)}_client.get().set_retries(0);  // the RPC layer re-sends within the deadline"]


class Route(NetworkClient):
    """Another node or an import: serialized over the route's first hop."""

    transport = "rt::RouteTransport"

    def extra_declarations(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        return [route_literal(ctx.doc, tag(inst, d), d, inst.object_id)]

    def transport_args(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> str:
        return f"{tag(inst, d)}_route"


class LocalChannel(Connector):
    """Single-image MCU, another group: lidl's zero-copy call with the capability's grant."""

    def declare(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency, section: str) -> list[str]:
        t, iface = tag(inst, d), cxx_name(d.interface)
        return [f"{section}rt::Slot<rt::LocalChannel<{iface}>> {t}_channel;",
                f"{section}rt::Slot<{iface}ZeroCopyClient<rt::LocalChannel<{iface}>>> {t}_client;"]

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        t = tag(inst, d)
        c = ctx.capabilities[(inst.name, d.target, d.interface)]
        return [f"  {t}_channel.emplace(i_{d.target}.get(), rt::Grant{{{mask(c.procedures)}}});",
                f"  {t}_client.emplace({t}_channel.get());"]


def typed_ring_interface(ctx: NodeContext, target: str) -> str | None:
    """The interface whose typed calls a user-group instance's ring server takes: the one it is
    called through over IPC that has the procedures of all the others (interfaces it extends;
    lidl keeps an inherited procedure's id), or None (lidl messages only: they name their
    interface). Typed calls are what the kernel hands over on its direct-call fast path."""
    if ctx.group_id(ctx.group_of[target]) < 0:
        return None
    procs: dict[str, set[tuple[str, str, int]]] = {}
    group_callers = False  # the kernel group calls with lidl messages (rt::GroupCallTransport)
    for c in ctx.doc.capabilities:
        if c.callee == target and c.path == "ipc":
            procs[c.interface] = {(p.declared_in, p.name, p.id) for p in c.procedures}
            group_callers |= ctx.group_id(ctx.group_of[c.caller]) >= 0
    if not group_callers:
        return None
    for iface in sorted(procs):
        if all(other <= procs[iface] for other in procs.values()):
            return iface
    return None


def ring_caller(ctx: NodeContext, inst: PlannedInstance) -> str:
    """The calling instance's own ring id as a transport's last argument, when it serves requests:
    while its call blocks the group, requests for it are held rather than run nested on top of
    the call (GroupRuntime::CallFrom)."""
    k = ctx.runtime.ring_ids.get(inst.name)
    return "" if k is None else f", {k}"


class RingMessages(RpcClientConnector):
    """Isolated MCU, user group -> any instance: a lidl message on the caller's ring."""

    transport = "rt::RingTransport"
    buffer = "rt::RingMessageBuffer"


class Ring(RingMessages):
    """Isolated MCU, user group -> an instance of another group. Typed calls (the generated
    zero-copy client over rt::RingZeroCopyChannel) if the callee's ring server takes them, else
    lidl messages; the kernel checks the procedure of either against the caller's grant."""

    def declare(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency, section: str) -> list[str]:
        if typed_ring_interface(ctx, d.target) is None:
            return super().declare(ctx, inst, d, section)
        t, iface = tag(inst, d), cxx_name(d.interface)
        return [f"{section}rt::Slot<rt::RingZeroCopyChannel<{iface}>> {t}_channel;",
                f"{section}rt::Slot<{iface}ZeroCopyClient<rt::RingZeroCopyChannel<{iface}>>> {t}_client;"]

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        if typed_ring_interface(ctx, d.target) is None:
            lines = super().construct(ctx, inst, d)
            lines[0] += f"  // -> {d.target}"
            return lines
        t = tag(inst, d)
        return [f"  {t}_channel.emplace({self.transport_args(ctx, inst, d)});  // -> {d.target}, typed calls",
                f"  {t}_client.emplace({t}_channel.get());"]

    def transport_args(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> str:
        return f"runtime, {ctx.runtime.ring_ids[d.target]}{ring_caller(ctx, inst)}"


class RingRelay(RingMessages, NetworkClient):
    """Isolated MCU, user group -> another node: its ring to a kernel relay over the route."""

    def extra_declarations(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        t = tag(inst, d)
        return [route_literal(ctx.doc, t, d, inst.object_id),
                f"rt::RouteTransport {t}_relay_transport{{{t}_route}};",
                f"rt::KernelRingServer {t}_relay{{&rt::relay_over_route, &{t}_relay_transport}};"]

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        lines = NetworkClient.construct(self, ctx, inst, d)
        lines[0] += f"  // -> the kernel's relay to {d.target_node or 'the network'}"
        return lines

    def transport_args(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> str:
        return f"runtime, {ctx.runtime.relay_ids[inst.name + '.' + d.dependency]}{ring_caller(ctx, inst)}"


class KernelToGroup(RpcClientConnector):
    """Isolated MCU, kernel group -> user group: through Supervisor::submit."""

    transport = "rt::GroupCallTransport"
    buffer = "rt::RingMessageBuffer"

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        lines = super().construct(ctx, inst, d)
        lines[0] += f"  // -> {d.target} (group '{ctx.group_of[d.target]}')"
        return lines

    def transport_args(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> str:
        return f"mcu::Supervisor::instance(), {ctx.runtime.ring_ids[d.target]}"


class ShareDown(Connector):
    """Hosted, supervisor -> group process: zero-copy through the caller's arena."""

    channel = "SupervisorSharing"

    def declare(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency, section: str) -> list[str]:
        t, iface = tag(inst, d), cxx_name(d.interface)
        return [f"rt::Slot<rt::{self.channel}<{iface}>> {t}_sharing;",
                f"rt::Slot<{iface}ZeroCopyClient<rt::{self.channel}<{iface}>>> {t}_client;"]

    def target_args(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> str:
        target = d.target
        return (f"node, {ctx.group_id(ctx.group_of[target])}, rt::sharing_target({ctx.insts[target].object_id}, "
                f"{ctx.sharing_index(target, d.interface)}));  // -> {target}, zero-copy")

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        t = tag(inst, d)
        return [f"  {t}_sharing.emplace({self.target_args(ctx, inst, d)}", f"  {t}_client.emplace({t}_sharing.get());"]


class ShareUp(ShareDown):
    """Hosted, group process -> kernel group: zero-copy, served in the supervisor per caller group."""

    channel = "GroupSharing"

    def target_args(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> str:
        target = d.target
        served_by = self.served_by(ctx, inst, target)
        caller_group = f", {ctx.group_id(inst.group)}" if served_by == "kernel group" else ""
        return (f"to_kernel, rt::sharing_target({ctx.insts[target].object_id}, "
                f"{ctx.sharing_index(target, d.interface)}{caller_group}));  // -> {target} ({served_by}), zero-copy")

    def served_by(self, ctx: NodeContext, inst: PlannedInstance, target: str) -> str:
        return "kernel group"


class ShareAcross(ShareUp):
    """Hosted, group process -> group process: zero-copy through the supervisor's SharingRelay."""

    def served_by(self, ctx: NodeContext, inst: PlannedInstance, target: str) -> str:
        return f"group '{ctx.group_of[target]}'"


class RouteRelayConnector(NetworkClient):
    """Hosted, group process -> another node: serialized over its channel to the supervisor's
    RouteRelay, which sends it along the route through the node's RPC layer."""

    transport = "rt::ChannelTransport"

    def extra_declarations(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        return [route_literal(ctx.doc, tag(inst, d), d, inst.object_id)]

    def transport_args(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> str:
        return f"to_kernel, {route_relay_target(inst, d)}"

    def construct(self, ctx: NodeContext, inst: PlannedInstance, d: PlannedDependency) -> list[str]:
        lines = super().construct(ctx, inst, d)
        lines[0] += f"  // -> the supervisor's relay to {d.target_node or 'the network'}"
        return lines


def route_relay_target(inst: PlannedInstance, d: PlannedDependency) -> str:
    k = [x.dependency for x in inst.dependencies].index(d.dependency)
    return f"rt::route_relay_target({inst.object_id}, {k})"


CONNECTORS: dict[str, Connector] = {
    "direct": Direct(),
    "route": Route(),
    "local_channel": LocalChannel(),
    "ring": Ring(),
    "ring_relay": RingRelay(),
    "kernel_to_group": KernelToGroup(),
    "share_down": ShareDown(),
    "share_up": ShareUp(),
    "share_across": ShareAcross(),
    "route_relay": RouteRelayConnector(),
}


def connector(d: PlannedDependency) -> Connector:
    return CONNECTORS[d.connector]


def constructor_args(inst: PlannedInstance) -> str:
    by_dep = {d.dependency: d for d in inst.dependencies}
    return ", ".join(connector(by_dep[a]).client(inst, by_dep[a]) for a in inst.constructor_args)


def group_storage(ctx: NodeContext, instances: Sequence[str], section: str) -> list[str]:
    """Every instance of a group (in start order) with its connectors' storage."""
    out = []
    for name in instances:
        inst = ctx.insts[name]
        for d in inst.dependencies:
            out += connector(d).declare(ctx, inst, d, section)
        out.append(f"{section}rt::Slot<{inst.cc_class}> i_{name};")
    return out


def construct_instance(ctx: NodeContext, name: str) -> list[str]:
    """Builds an instance's connectors, then the instance."""
    inst = ctx.insts[name]
    out = []
    for d in inst.dependencies:
        out += connector(d).construct(ctx, inst, d)
    out.append(f"  i_{name}.emplace({constructor_args(inst)});")
    return out
