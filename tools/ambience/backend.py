"""Planner pass: how each node's runtime realizes the plan — every decision the code generator
needs, so that it only writes text.

Per node it chooses the runtime (`hosted_processes`, `hosted_single`, `mcu_isolated`,
`mcu_single`) and, for an MCU node that cannot run its groups MPU-isolated, why not; it numbers
group ids, ring instances and network relays; and it names the connector of every dependency
edge (the generated glue that realizes the edge's call path on that runtime). It also refuses
what no runtime can build, with a located diagnostic: a service with procedure ids beyond the
64-bit capability mask.

The connector vocabulary (codegen/connectors.py has one generator per name):
  direct        same group: the implementation object itself
  route         another node or an import: a serializing RPC client over the route's first hop
  local_channel another group of a single-image MCU node: zero-copy call, capability-checked
  ring          isolated MCU, user group -> any instance: lidl message on the caller's ring,
                routed by the kernel after its capability check
  ring_relay    isolated MCU, user group -> another node: its ring to the kernel's relay
  route_relay   hosted, group process -> another node: its channel to the supervisor's RouteRelay
  kernel_to_group  isolated MCU, kernel group -> user group: Supervisor::submit
  share_down    hosted, kernel group -> group process: zero-copy through the caller's arena
  share_up      hosted, group process -> kernel group: zero-copy, served in the supervisor
  share_across  hosted, group process -> group process: zero-copy; the supervisor checks and passes
                the call block on, the callee maps the caller's arena read-only
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ambience.diagnostics import Note, Reporter

if TYPE_CHECKING:  # plan_model imports Runtime from here
    from ambience.model import Instance, Service
    from ambience.plan_model import GroupPlan, NodePlan

MASK_BITS = 64  # a capability names the callee's procedures as one 64-bit mask

# The operator's console (`ambience call`): a reserved caller of the overlay, node number 0. It
# reaches every hosted node on the reserved UDP network CONSOLE_NETWORK (node N's endpoint is
# CONSOLE_ADDRESS:CONSOLE_PORT+N, the console's own CONSOLE_ADDRESS:CONSOLE_PORT; the cluster runner
# maps both to free loopback ports) and every MCU node through the hosted node nearest to it.
CONSOLE_NODE = "console"
CONSOLE_NODE_ID = 0
CONSOLE_INSTANCE_ID = 0
CONSOLE_NETWORK = "console"
CONSOLE_ADDRESS = "127.0.0.1"
CONSOLE_PORT = 7700


def node_numbers(names: list[str]) -> dict[str, int]:
    """RPC node numbers: 1.. by name (the same in every node's image); 0 is the console."""
    return {name: k + 1 for k, name in enumerate(sorted(names))}


@dataclass
class Runtime:
    kind: str  # hosted_processes | hosted_single | mcu_isolated | mcu_single
    reason: str = ""  # mcu_single: why the groups are not MPU-isolated
    group_ids: dict[str, int] = field(default_factory=dict)  # user group -> id (kernel group: -1)
    ring_ids: dict[str, int] = field(default_factory=dict)  # mcu_isolated: instance -> ring instance id
    relay_ids: dict[str, int] = field(default_factory=dict)  # mcu_isolated: "caller.dependency" -> id
    connectors: dict[tuple[str, str], str] = field(default_factory=dict)  # (caller, dependency) -> name
    # Cross-node RPC: the deployment's node numbers (envelopes carry numbers), and the remote
    # callers of this node's served objects as (node, instance, its object id on its node).
    node_ids: dict[str, int] = field(default_factory=dict)
    rpc_callers: list[tuple[str, str, int]] = field(default_factory=list)


def check_mask_limits(plan_nodes: dict[str, NodePlan], services: dict[str, Service], instances: dict[str, Instance],
                      rep: Reporter) -> None:
    """Every capability must fit the mask: a procedure id >= 64 is a located error at the callee."""
    reported: set[str] = set()
    for np in plan_nodes.values():
        for cap in np.capabilities:
            too_big = [p for p in cap.procedures if p.id >= MASK_BITS]
            if not too_big or cap.interface in reported:
                continue
            reported.add(cap.interface)
            callee = instances[cap.callee]
            svc = services.get(cap.callee)
            notes = [Note(svc.loc, f"service '{svc.label}' declared here")] if svc is not None else []
            rep.error(callee.loc, f"instance '{callee.name}': interface '{cap.interface}' has "
                                  f"{len(cap.procedures)} procedures (ids up to {max(p.id for p in too_big)}), "
                                  f"but a capability names at most {MASK_BITS} procedures (ids 0..{MASK_BITS - 1}); "
                                  f"split the interface", *notes)


def _mcu_isolation(np: NodePlan, group_of: dict[str, str], kernel: set[str],
                   user: list[GroupPlan]) -> tuple[str, dict[str, int], dict[str, int]]:
    """(why not isolated or "", ring ids, relay ids) of an MCU node."""
    regions = {r.group for r in np.layout.regions} if np.layout is not None else set()
    if not user:
        return "no user group", {}, {}
    if any(g.name not in regions for g in user):
        return "a user group has no planned MPU region", {}, {}
    if len(user) > np.board.max_groups:
        return f"more than {np.board.max_groups} user groups", {}, {}
    # Ring instance ids: IPC callees and user-group instances served to other nodes first (by
    # name), then one kernel relay per RPC dependency of a user-group instance.
    targets = {e.target for e in np.edges if e.path == "ipc"}
    targets |= {c.callee for c in np.capabilities if c.path == "rpc" and group_of[c.callee] not in kernel}
    ring_ids = {name: k for k, name in enumerate(sorted(targets))}
    relays = sorted(f"{e.caller}.{e.dependency}" for e in np.edges
                    if e.path == "rpc" and group_of[e.caller] not in kernel)
    relay_ids = {r: len(ring_ids) + k for k, r in enumerate(relays)}
    if len(ring_ids) + len(relay_ids) > np.board.max_ring_instances:
        return f"more than {np.board.max_ring_instances} ring instances (callees and network relays)", {}, {}
    return "", ring_ids, relay_ids


def plan_runtime(np: NodePlan) -> Runtime:
    """Runtime, ids and connectors of one node (after groups, edges, capabilities and layout)."""
    group_of = {name: g.name for g in np.groups for name in g.instances}
    kernel = {g.name for g in np.groups if g.kernel}
    kernel_instances = {name for g in np.groups if g.kernel for name in g.instances}
    if np.board.is_mcu:
        user = [g for g in np.groups if not g.kernel and g.instances]
        reason, ring_ids, relay_ids = _mcu_isolation(np, group_of, kernel, user)
        rt = Runtime("mcu_single" if reason else "mcu_isolated", reason, ring_ids=ring_ids, relay_ids=relay_ids)
        if not reason:
            rt.group_ids = {g.name: k for k, g in enumerate(user)}
    else:
        user = [g for g in np.groups if not g.kernel]
        rt = Runtime("hosted_processes" if user else "hosted_single")
        rt.group_ids = {g.name: k for k, g in enumerate(user)}
    for g in kernel:
        rt.group_ids[g] = -1
    for e in np.edges:
        caller_in_kernel = e.caller in kernel_instances
        if e.path == "direct":
            name = "direct"
        elif e.path == "rpc":
            if rt.kind == "mcu_isolated" and not caller_in_kernel:
                name = "ring_relay"
            elif rt.kind == "hosted_processes" and not caller_in_kernel:
                name = "route_relay"
            else:
                name = "route"
        elif rt.kind == "mcu_single":
            name = "local_channel"
        elif rt.kind == "mcu_isolated":
            name = "kernel_to_group" if caller_in_kernel else "ring"
        elif caller_in_kernel:
            name = "share_down"
        elif e.target in kernel_instances:
            name = "share_up"
        else:
            name = "share_across"
        rt.connectors[(e.caller, e.dependency)] = name
    return rt


def number_rpc(node_plans: dict[str, NodePlan]) -> None:
    """Node numbers (1.., by name: the same in every node's image) and each node's remote callers."""
    node_ids = dict(node_numbers(list(node_plans)), **{CONSOLE_NODE: CONSOLE_NODE_ID})
    for name, np in node_plans.items():
        assert np.runtime is not None
        callers = {(c.caller_node, c.caller) for c in np.capabilities if c.path == "rpc" and c.caller_node}
        np.runtime.rpc_callers = [(node, inst, CONSOLE_INSTANCE_ID if node == CONSOLE_NODE
                                   else node_plans[node].object_ids[inst]) for node, inst in sorted(callers)]
        # Only the nodes this one talks to or relays for: a node's image stays the same size however
        # large the deployment grows.
        known = {name} | {e.target_node for e in np.edges if e.path == "rpc" and e.target_node}
        known |= {node for node, _, _ in np.runtime.rpc_callers} | {h.destination for h in np.next_hops}
        np.runtime.node_ids = {n: node_ids[n] for n in sorted(known) if n in node_ids}


def runtime_json(rt: Runtime) -> dict[str, Any]:
    return {"kind": rt.kind, "reason": rt.reason, "group_ids": rt.group_ids, "ring_ids": rt.ring_ids,
            "relay_ids": rt.relay_ids, "node_ids": rt.node_ids,
            "rpc_callers": [{"node": n, "instance": i, "object_id": o} for n, i, o in rt.rpc_callers]}
