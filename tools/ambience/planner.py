"""The deployment planner: validates a deployment and decides everything the nodes need.

`make_plan(deployment, interfaces)` is a pure function.  It reports every user error it can find
as a diagnostic pointing into the BUILD file (raising DiagnosticError with all of them) and
otherwise returns a Plan: per node, its groups, instances, the call path of every dependency
edge (direct / ipc / rpc), routes and forwarders, RPC endpoints, start order, capabilities and
(for MCUs) the MPU memory layout.
"""
from __future__ import annotations

import heapq
import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field

import networkx as nx

from ambience.backend import Runtime, check_mask_limits, plan_runtime
from ambience.boards import Board, find_board
from ambience.diagnostics import Location, Note, Reporter
from ambience.interfaces import InterfaceRegistry
from ambience.memory import Layout, layout_mcu
from ambience.model import NETWORK_KINDS, Deployment, Group, Instance, Node, Service
from ambience.overlay import Router, build_overlay

DEFAULT_INSTANCE_RAM = 4 * 1024
FORWARDER_RAM = 1024
UDP_BASE_PORT = 4800
FIRST_SERIAL_CHANNEL = 1
KERNEL_GROUP_DEFAULT = "kernel"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")


# ----------------------------------------------------------------------------- plan data


@dataclass(frozen=True)
class Hop:
    network: str
    src: str  # node
    dst: str  # node, or "import:<name>"
    address: str  # address of dst on the network
    port: int  # udp port or serial channel of dst's endpoint


@dataclass(frozen=True)
class Edge:
    """One dependency edge: `caller.dependency` -> `target`, and how it is reached."""

    caller: str
    dependency: str
    interface: str  # the interface the caller requires
    target: str  # instance or import name
    target_kind: str  # "instance" | "import"
    target_node: str
    target_group: str
    path: str  # "direct" | "ipc" | "rpc"
    route: tuple[Hop, ...] = ()
    cost: int = 0
    object_id: int = 0


@dataclass
class GroupPlan:
    name: str
    kernel: bool
    implicit: bool
    instances: list[str]  # in start order
    memory_needed: int = 0
    state_bytes: int = 0  # the instances' memory (what AMBIENCE_GROUP_MEMORY calls state)
    stack_bytes: int = 0


@dataclass
class Forwarder:
    from_network: str
    to_network: str
    destinations: list[str]


@dataclass
class NodePlan:
    node: Node
    board: Board
    groups: list[GroupPlan] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)  # start order
    edges: list[Edge] = field(default_factory=list)  # edges whose caller is on this node
    endpoints: list[dict] = field(default_factory=list)
    object_ids: dict[str, int] = field(default_factory=dict)
    forwarders: list[Forwarder] = field(default_factory=list)
    next_hops: list[dict] = field(default_factory=list)  # relayed destination -> next hop
    capabilities: list[dict] = field(default_factory=list)
    exports: list[dict] = field(default_factory=list)
    imports: list[dict] = field(default_factory=list)
    memory_needed: int = 0
    memory_budget: int = 0
    layout: Layout | None = None
    runtime: Runtime | None = None  # how the node's runtime realizes the plan (backend.py)


@dataclass
class Plan:
    deployment: Deployment
    interfaces: InterfaceRegistry
    nodes: dict[str, NodePlan]  # sorted by name
    instance_node: dict[str, str]
    instance_group: dict[str, str]
    edges: list[Edge]
    start_order: list[str]
    overlay: nx.DiGraph
    router_stats: dict[str, int]
    instances_by_name: dict[str, Instance]
    provided_by: dict[str, str]  # instance -> node, for instances a node provides (node(provides=))


# ----------------------------------------------------------------------------- helpers


def _check_name(rep: Reporter, what: str, name: str, loc: Location) -> None:
    if name and not _NAME.match(name):
        rep.error(loc, f"{what} name '{name}' is not a valid identifier (letters, digits, '_'; not starting with a digit)")


def _unique(rep: Reporter, what: str, items: list, key=lambda x: x.name) -> dict:
    out: dict = {}
    for it in items:
        k = key(it)
        if not k:
            continue
        if k in out:
            rep.error(it.loc, f"duplicate {what} '{k}'", Note(out[k].loc, f"'{k}' first declared here"))
            continue
        out[k] = it
    return out


def _address_ok(kind: str, address: str) -> bool:
    if kind == "serial":
        return address.isdigit() and int(address) <= 0xFFFF
    if kind == "udp":
        try:
            ipaddress.ip_address(address)
            return True
        except ValueError:
            return bool(_HOST.match(address))
    return True


def _procedures(reg: InterfaceRegistry, iface: str) -> list[dict]:
    """Every procedure callable through `iface`, including inherited ones, in a stable order."""
    # lidl flattens inherited procedures into each service (with the ids its dispatch uses), so
    # the required interface's own entry comes first; ancestors only fill gaps.
    seen: dict[tuple[str, str], dict] = {}
    for name in [iface] + sorted(reg.ancestors(iface) - {iface}):
        i = reg.get(name)
        if i is None:
            continue
        for p in i.procedures:
            seen.setdefault((p.declared_in, p.name), {"name": p.name, "id": p.id, "declared_in": p.declared_in})
    return sorted(seen.values(), key=lambda p: (p["declared_in"], p["id"], p["name"]))


def _cycle_text(cycle: list[str]) -> str:
    return " -> ".join(cycle + [cycle[0]])


def _report_cycles(rep: Reporter, instances: dict[str, Instance], dependents: dict[str, list[str]],
                   blocked: set[str]) -> None:
    """One diagnostic per dependency cycle (strongly connected component) among `blocked`."""
    dg = nx.DiGraph()
    dg.add_nodes_from(sorted(blocked))
    for target in sorted(blocked):
        for caller in dependents.get(target, ()):
            if caller in blocked:
                dg.add_edge(caller, target)  # caller depends on target
    for comp in sorted((sorted(c) for c in nx.strongly_connected_components(dg)), key=lambda c: c[0]):
        if len(comp) == 1 and not dg.has_edge(comp[0], comp[0]):
            continue  # merely waits for a cycle elsewhere
        start = comp[0]
        sub = dg.subgraph(comp)
        best: list[str] | None = None
        for back in sorted(sub.predecessors(start)):
            p = nx.shortest_path(sub, start, back)
            if best is None or len(p) < len(best):
                best = p
        rep.error(instances[start].loc, f"start-order cycle: {_cycle_text(best or [start])} (each depends on the next)")


# ----------------------------------------------------------------------------- planner


def make_plan(dep: Deployment, reg: InterfaceRegistry) -> Plan:
    rep = Reporter()
    nets = _unique(rep, "network", dep.networks)
    nodes = _unique(rep, "node", dep.nodes)
    instances = _unique(rep, "instance", dep.instances)
    explicit_groups = _unique(rep, "group", dep.groups)
    imports = _unique(rep, "import", dep.imports)
    for imp in dep.imports:
        if imp.name in instances:
            rep.error(imp.loc, f"import '{imp.name}' has the same name as an instance",
                      Note(instances[imp.name].loc, f"instance '{imp.name}' declared here"))
    for what, items in (("network", dep.networks), ("node", dep.nodes), ("instance", dep.instances),
                        ("group", dep.groups), ("import", dep.imports)):
        for it in items:
            _check_name(rep, what, it.name, it.loc)
    if not dep.nodes:
        rep.error(dep.loc, f"deployment '{dep.name}' declares no node")

    # --- networks and nodes
    for net in nets.values():
        if net.kind and net.kind not in NETWORK_KINDS:
            rep.error(net.loc, f"network '{net.name}': unknown kind '{net.kind}' (expected one of: {', '.join(NETWORK_KINDS)})")
    boards: dict[str, Board] = {}
    owner_of_address: dict[tuple[str, str], Node] = {}
    for node in nodes.values():
        board = find_board(node.board) if node.board else None
        if board is None:
            if node.board:
                rep.error(node.loc, f"node '{node.name}': unknown board '{node.board}'")
        else:
            boards[node.name] = board
            if node.memory is not None and node.memory > board.ram_size:
                rep.error(node.loc, f"node '{node.name}': memory budget {node.memory} bytes exceeds the RAM of board "
                                    f"'{board.short_name}' ({board.ram_size} bytes)")
        for net_name, address in node.networks:
            net = nets.get(net_name)
            if net is None:
                rep.error(node.loc, f"node '{node.name}': unknown network '{net_name}'")
                continue
            if net.kind in NETWORK_KINDS and not _address_ok(net.kind, address):
                hint = "a channel number 0..65535" if net.kind == "serial" else "an IP address or host name"
                rep.error(node.loc, f"node '{node.name}': address '{address}' on {net.kind} network '{net_name}' "
                                    f"is not {hint}")
                continue
            other = owner_of_address.get((net_name, address))
            if other is not None:
                rep.error(node.loc, f"node '{node.name}': address '{address}' on network '{net_name}' is already "
                                    f"used by node '{other.name}'", Note(other.loc, f"node '{other.name}' declared here"))
            else:
                owner_of_address[(net_name, address)] = node

    # --- imports (external services reachable over a network)
    for imp in imports.values():
        net = nets.get(imp.network)
        if net is None:
            rep.error(imp.loc, f"import '{imp.name}': unknown network '{imp.network}'")
        elif net.kind in NETWORK_KINDS and not _address_ok(net.kind, imp.address):
            rep.error(imp.loc, f"import '{imp.name}': address '{imp.address}' is not valid on {net.kind} network '{imp.network}'")
        elif (imp.network, imp.address) in owner_of_address:
            other = owner_of_address[(imp.network, imp.address)]
            rep.error(imp.loc, f"import '{imp.name}': address '{imp.address}' on network '{imp.network}' is already "
                               f"used by node '{other.name}'")
        if imp.interface and reg.get(imp.interface) is None:
            rep.error(imp.loc, f"import '{imp.name}': unknown interface '{imp.interface}'")

    # --- node-provided services: one instance per (node, name), named <node>_<name>, in the
    # node's kernel group; a dependency bound to <name> means the one on the caller's own node
    provided: dict[str, dict[str, str]] = defaultdict(dict)  # name -> node -> instance
    synthetic: dict[str, str] = {}  # instance -> node providing it
    for node in nodes.values():
        for pname, label in node.provides:
            if not _NAME.match(pname):
                rep.error(node.loc, f"node '{node.name}': provided service name '{pname}' is not a valid identifier")
                continue
            if pname in instances or pname in imports:
                rep.error(node.loc, f"node '{node.name}' provides '{pname}', which is also the name of an "
                                    f"{'instance' if pname in instances else 'import'}")
                continue
            syn = f"{node.name}_{pname}"
            if syn in instances:
                rep.error(node.loc, f"node '{node.name}': its provided service '{pname}' runs as instance '{syn}', "
                                    f"but that name is taken", Note(instances[syn].loc, f"instance '{syn}' declared here"))
                continue
            instances[syn] = Instance(syn, label, (), None, node.loc)
            provided[pname][node.name] = syn
            synthetic[syn] = node.name

    # --- services
    services: dict[str, Service] = {}
    reported_services: set[str] = set()
    for inst in instances.values():
        if not inst.service:
            continue
        svc = dep.services.get(inst.service)
        if svc is None:
            if inst.name in synthetic:
                owner = synthetic[inst.name]
                who = f"node '{owner}': provided service '{inst.name[len(owner) + 1:]}'"
            else:
                who = f"instance '{inst.name}'"
            rep.error(inst.loc, f"{who}: unknown service '{inst.service}' "
                                f"(not an ambience_service this deployment depends on)")
            continue
        services[inst.name] = svc
        if svc.label in reported_services:
            continue
        reported_services.add(svc.label)
        if reg.get(svc.interface) is None:
            rep.error(svc.loc, f"service '{svc.label}': unknown interface '{svc.interface}' "
                               f"(not in the lidl_library of `implements`)")
        for dname, diface in svc.dependencies:
            if reg.get(diface) is None:
                rep.error(svc.loc, f"service '{svc.label}': dependency '{dname}' requires unknown interface '{diface}' "
                                   f"(is its lidl_library in `implements` or `interfaces`?)")

    # --- bindings and interface checks
    provided_iface: dict[str, str | None] = {}
    for pname, by_node in sorted(provided.items()):
        ifaces = sorted({services[i].interface for i in by_node.values() if i in services})
        if len(ifaces) > 1:
            first = nodes[sorted(by_node)[0]]
            rep.error(first.loc, f"nodes provide '{pname}' with different interfaces ({', '.join(ifaces)}); "
                                 f"dependencies on it could not be type-checked")
        provided_iface[pname] = ifaces[0] if len(ifaces) == 1 else None

    def provided_interface(target: str) -> str | None:
        if target in services:
            return services[target].interface
        if target in imports:
            return imports[target].interface
        return provided_iface.get(target)

    bindings: dict[str, list[tuple[str, str, str]]] = {}  # caller -> [(dep, required iface, target)]
    for inst in instances.values():
        svc = services.get(inst.name)
        if svc is None:
            continue
        required = dict(svc.dependencies)
        bound = dict(inst.dependencies)
        ok_edges = []
        if inst.name in synthetic and required:
            owner = synthetic[inst.name]
            rep.error(inst.loc, f"node '{owner}': provided service '{inst.name[len(owner) + 1:]}' ({svc.label}) has "
                                f"dependencies ({', '.join(sorted(required))}); a node-provided service cannot")
            bindings[inst.name] = []
            continue
        for dname in sorted(required):
            if dname not in bound:
                rep.error(inst.loc, f"instance '{inst.name}': dependency '{dname}' ({required[dname]}) of service "
                                    f"'{svc.label}' is not bound")
        for dname, target in inst.dependencies:
            if dname not in required:
                known = ", ".join(sorted(required)) or "none"
                rep.error(inst.loc, f"instance '{inst.name}': service '{svc.label}' has no dependency '{dname}' "
                                    f"(its dependencies: {known})")
                continue
            if target not in instances and target not in imports and target not in provided:
                rep.error(inst.loc, f"instance '{inst.name}': dependency '{dname}' is bound to unknown instance '{target}'")
                continue
            offered = provided_interface(target)
            want = required[dname]
            if offered is None:
                continue  # target's own service is unknown: already reported
            if reg.get(want) is not None and reg.get(offered) is not None and not reg.conforms(offered, want):
                rep.error(inst.loc, f"instance '{inst.name}': dependency '{dname}' is bound to '{target}' ({offered}), "
                                    f"but the service requires {want}")
                continue
            ok_edges.append((dname, want, target))
        bindings[inst.name] = ok_edges

    # --- groups
    group_of: dict[str, Group] = {}
    for g in explicit_groups.values():
        if not g.instances:
            rep.error(g.loc, f"group '{g.name}' has no instances")
        for iname in g.instances:
            if iname in synthetic:
                rep.error(g.loc, f"group '{g.name}': '{iname}' is provided by node '{synthetic[iname]}' and runs in "
                                 f"that node's kernel group")
                continue
            if iname not in instances:
                rep.error(g.loc, f"group '{g.name}': unknown instance '{iname}'")
                continue
            prev = group_of.get(iname)
            if prev is not None:
                rep.error(g.loc, f"instance '{iname}' is in two groups: '{prev.name}' and '{g.name}'",
                          Note(prev.loc, f"group '{prev.name}' declared here"))
                continue
            group_of[iname] = g
    groups: dict[str, Group] = dict(explicit_groups)
    for inst in instances.values():
        if inst.name in group_of or inst.name in synthetic:
            continue
        if inst.name in explicit_groups:
            rep.error(inst.loc, f"instance '{inst.name}' is in no group, and its default group name "
                                f"'{inst.name}' is taken by another group",
                      Note(explicit_groups[inst.name].loc, f"group '{inst.name}' declared here"))
            continue
        g = Group(inst.name, (inst.name,), False, inst.loc, implicit=True)
        groups[inst.name] = g
        group_of[inst.name] = g

    # --- deploys
    node_of_group: dict[str, tuple[str, Location, bool]] = {}
    claimed: set[str] = set()  # groups named by a deploy(), even a broken one: no "not deployed" cascade
    for d in dep.deploys:
        claimed.update(group_of[n].name if n in group_of else n for n in d.groups)
        if d.node not in nodes:
            rep.error(d.loc, f"deploy: unknown node '{d.node}'")
            continue
        for name in d.groups:
            # A deploy may name a group, or an instance: then it means the instance's group.
            via_member = name not in groups and name in group_of
            gname = group_of[name].name if via_member else name
            claimed.add(gname)
            if gname not in groups:
                rep.error(d.loc, f"deploy on '{d.node}': unknown instance or group '{name}'")
                continue
            prev = node_of_group.get(gname)
            if prev is not None:
                if prev[0] == d.node and (via_member or prev[2]):
                    continue  # the same group named again through one of its members
                if prev[0] == d.node:
                    rep.error(d.loc, f"group '{gname}' is deployed on node '{d.node}' twice", Note(prev[1], "first deployed here"))
                else:
                    rep.error(d.loc, f"group '{gname}' is deployed on two nodes: '{prev[0]}' and '{d.node}'",
                              Note(prev[1], f"deployed on '{prev[0]}' here"))
                continue
            node_of_group[gname] = (d.node, d.loc, via_member)
    for g in groups.values():
        if g.name not in claimed and g.instances and all(i in instances for i in g.instances):
            if g.implicit:
                rep.error(g.loc, f"instance '{g.name}' is not deployed on any node (add it, or a group containing it, to a deploy())")
            else:
                rep.error(g.loc, f"group '{g.name}' is not deployed on any node")
    kernel_group_of: dict[str, Group] = {}
    for gname, (nname, dloc, _) in sorted(node_of_group.items()):
        g = groups[gname]
        if g.kernel:
            prev = kernel_group_of.get(nname)
            if prev is not None:
                rep.error(dloc, f"node '{nname}' has two kernel groups: '{prev.name}' and '{g.name}'")
            else:
                kernel_group_of[nname] = g

    instance_group = {i: g.name for i, g in group_of.items() if g.name in node_of_group}
    instance_node = {i: node_of_group[g][0] for i, g in instance_group.items()}
    kernel_default = KERNEL_GROUP_DEFAULT
    while kernel_default in groups:
        kernel_default = "_" + kernel_default
    for syn, nname in synthetic.items():
        instance_node[syn] = nname
        instance_group[syn] = kernel_group_of[nname].name if nname in kernel_group_of else kernel_default
    for caller, bound_edges in bindings.items():
        resolved = []
        for dname, want, target in bound_edges:
            if target in provided and target not in instances and target not in imports:
                cnode = instance_node.get(caller)
                if cnode is None:
                    continue  # not deployed: reported already
                if cnode not in provided[target]:
                    rep.error(instances[caller].loc, f"instance '{caller}': dependency '{dname}' is bound to "
                                                     f"'{target}', which node '{cnode}' does not provide (provided by: "
                                                     f"{', '.join(sorted(provided[target]))})")
                    continue
                target = provided[target][cnode]
            resolved.append((dname, want, target))
        bindings[caller] = resolved

    # --- start order (dependencies start first); Kahn's algorithm, smallest name first on ties
    dependents: dict[str, list[str]] = defaultdict(list)
    indegree = dict.fromkeys(instances, 0)
    for caller, bound_edges in bindings.items():
        for _, _, target in bound_edges:
            if target in instances:
                dependents[target].append(caller)
                indegree[caller] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    start_order: list[str] = []
    while ready:
        n = heapq.heappop(ready)
        start_order.append(n)
        for m in dependents.get(n, ()):
            indegree[m] -= 1
            if indegree[m] == 0:
                heapq.heappush(ready, m)
    if len(start_order) < len(instances):
        _report_cycles(rep, instances, dependents, {n for n, d in indegree.items() if d > 0})
        start_order = []

    # --- overlay, call paths and routes
    overlay = build_overlay(dep)
    router = Router(overlay)
    edges: list[Edge] = []
    for caller in sorted(bindings):
        if caller not in instance_node:
            continue
        cnode = instance_node[caller]
        for dname, want, target in sorted(bindings[caller]):
            if target in imports:
                imp = imports[target]
                if imp.network not in nets:
                    continue
                r = router.route(("node", cnode), ("import", target))
                if r is None:
                    rep.error(instances[caller].loc, f"instance '{caller}': dependency '{dname}' is bound to import "
                                                     f"'{target}' on network '{imp.network}', but node '{cnode}' has no "
                                                     f"network path to it")
                    continue
                edges.append(Edge(caller, dname, want, target, "import", "", "", "rpc", _hops(r[1], overlay, imp.port), r[0]))
                continue
            if target not in instance_node:
                continue
            tnode, tgroup = instance_node[target], instance_group[target]
            if tnode == cnode:
                path = "direct" if tgroup == instance_group[caller] else "ipc"
                edges.append(Edge(caller, dname, want, target, "instance", tnode, tgroup, path))
                continue
            r = router.route(("node", cnode), ("node", tnode))
            if r is None:
                rep.error(instances[caller].loc, f"instance '{caller}': dependency '{dname}' is bound to '{target}' on "
                                                 f"node '{tnode}', but node '{cnode}' has no network path to node '{tnode}'")
                continue
            edges.append(Edge(caller, dname, want, target, "instance", tnode, tgroup, "rpc", _hops(r[1], overlay, None), r[0]))

    # --- exports: a network the node is attached to, or reachable through a gateway node
    export_ports: dict[tuple[str, str], dict[int, Location]] = defaultdict(dict)
    export_plans: dict[str, list[dict]] = defaultdict(list)
    gateway_routes: list[tuple[str, tuple[Hop, ...]]] = []
    seen_exports: dict[tuple[str, str], Location] = {}
    for ex in dep.exports:
        if ex.instance not in instances:
            rep.error(ex.loc, f"export: unknown instance '{ex.instance}'")
            continue
        if ex.network not in nets:
            rep.error(ex.loc, f"export of '{ex.instance}': unknown network '{ex.network}'")
            continue
        if (ex.instance, ex.network) in seen_exports:
            rep.error(ex.loc, f"instance '{ex.instance}' is exported on network '{ex.network}' twice",
                      Note(seen_exports[(ex.instance, ex.network)], "first exported here"))
            continue
        seen_exports[(ex.instance, ex.network)] = ex.loc
        if ex.instance not in instance_node:
            continue
        tnode = instance_node[ex.instance]
        # Least-cost way in from outside: the export vertex hangs off its network, so the route's
        # first node is the best gateway (the instance's own node if it is on that network).
        r = router.route(("export", f"{ex.instance}@{ex.network}"), ("node", tnode))
        if r is None:
            rep.error(ex.loc, f"export of '{ex.instance}' on network '{ex.network}': node '{tnode}' is not attached "
                              f"to '{ex.network}' and no node on '{ex.network}' has a path to it")
            continue
        gateway, hops = r[1][2][1], _hops(r[1][2:], overlay, None)
        if hops:
            gateway_routes.append((gateway, hops))
        if ex.port is not None:
            other = export_ports[(gateway, ex.network)].get(ex.port)
            if other is not None:
                rep.error(ex.loc, f"export of '{ex.instance}': port {ex.port} on network '{ex.network}' of node "
                                  f"'{gateway}' is already exported", Note(other, "first exported here"))
                continue
            export_ports[(gateway, ex.network)][ex.port] = ex.loc
        export_plans[gateway].append({"instance": ex.instance, "node": tnode, "network": ex.network,
                                      "port": ex.port, "route": [_hop_json(h) for h in hops]})

    # --- memory and MPU regions
    mem_of = {}
    for iname, inst in instances.items():
        svc = services.get(iname)
        mem_of[iname] = inst.memory if inst.memory is not None else (svc.memory if svc and svc.memory else DEFAULT_INSTANCE_RAM)

    # Everything below needs a consistent model.
    rep.check()

    node_plans: dict[str, NodePlan] = {}
    for nname in sorted(nodes):
        node = nodes[nname]
        node_plans[nname] = NodePlan(node=node, board=boards[nname])
    order_index = {n: i for i, n in enumerate(start_order)}
    groups_by_node: dict[str, list[Group]] = defaultdict(list)
    for gname, (nname, _, _) in node_of_group.items():
        groups_by_node[nname].append(groups[gname])
    provided_on: dict[str, list[str]] = defaultdict(list)
    for syn, n in synthetic.items():
        provided_on[n].append(syn)
    instances_by_node: dict[str, list[str]] = defaultdict(list)
    for iname in start_order:
        if iname in instance_node:
            instances_by_node[instance_node[iname]].append(iname)
    for nname, np in node_plans.items():
        gl = groups_by_node.get(nname, [])
        own = provided_on.get(nname, [])  # instances this node provides: kernel group
        if nname not in kernel_group_of:
            np.groups.append(GroupPlan(kernel_default, True, True, sorted(own, key=order_index.__getitem__)))
        for g in sorted(gl, key=lambda g: g.name):
            members = list(g.instances) + (own if g.kernel else [])
            np.groups.append(GroupPlan(g.name, g.kernel, g.implicit, sorted(members, key=order_index.__getitem__)))
        np.groups.sort(key=lambda gp: (not gp.kernel, gp.name))
        np.instances = instances_by_node.get(nname, [])
        np.object_ids = {name: k + 1 for k, name in enumerate(sorted(np.instances))}

    # endpoints: one per (node, network) attachment; udp ports avoid the node's exported ports
    endpoint_port: dict[tuple[str, str], int] = {}
    for nname, np in node_plans.items():
        for net_name, address in np.node.networks:
            kind = nets[net_name].kind
            taken = export_ports.get((nname, net_name), {})
            port = UDP_BASE_PORT if kind == "udp" else FIRST_SERIAL_CHANNEL
            while port in taken:
                port += 1
            endpoint_port[(nname, net_name)] = port
            np.endpoints.append({"network": net_name, "kind": kind, "address": address,
                                 ("port" if kind == "udp" else "channel"): port})

    def fill(h: Hop) -> Hop:
        if h.dst.startswith("import:"):
            return h
        return Hop(h.network, h.src, h.dst, h.address, endpoint_port[(h.dst, h.network)])

    edges = [e if not e.route else Edge(e.caller, e.dependency, e.interface, e.target, e.target_kind, e.target_node,
                                        e.target_group, e.path, tuple(fill(h) for h in e.route), e.cost,
                                        node_plans[e.target_node].object_ids[e.target] if e.target_kind == "instance" else 0)
             for e in edges]
    for ex_list in export_plans.values():
        for ex in ex_list:
            ex["route"] = [{**h, "port": endpoint_port[(h["to"], h["network"])]} for h in ex["route"]]
            ex["object_id"] = node_plans[ex["node"]].object_ids[ex["instance"]]
            if ex["port"] is None:
                ex["port"] = endpoint_port[(ex["route"][0]["from"] if ex["route"] else ex["node"], ex["network"])]
    for nname, np in node_plans.items():
        np.exports = sorted(export_plans.get(nname, []), key=lambda e: (e["instance"], e["network"]))

    # forwarders: every intermediate node of a route relays both ways
    fwd: dict[str, dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
    nxt: dict[str, dict[str, Hop]] = defaultdict(dict)
    routes = [e.route for e in edges if e.route] + [tuple(fill(h) for h in hops) for _, hops in gateway_routes]
    for route in routes:
        final = route[-1].dst
        origin = route[0].src
        for a, b in zip(route, route[1:]):
            relay = a.dst
            fwd[relay][(a.network, b.network)].add(final)
            fwd[relay][(b.network, a.network)].add(origin)
            nxt[relay][final] = b
            back_addr = overlay.edges[("net", a.network), ("node", a.src)]["address"]
            nxt[relay][origin] = Hop(a.network, relay, a.src, back_addr, endpoint_port[(a.src, a.network)])
    for nname, np in node_plans.items():
        np.forwarders = [Forwarder(f, t, sorted(d)) for (f, t), d in sorted(fwd.get(nname, {}).items())]
        np.next_hops = [{"destination": dest, **_hop_json(h)} for dest, h in sorted(nxt.get(nname, {}).items())]

    # capabilities: the callee's node enforces which caller may call which procedures
    proc_cache: dict[str, list[dict]] = {}
    for e in edges:
        if e.target_kind != "instance":
            continue
        procs = proc_cache.get(e.interface)
        if procs is None:
            procs = proc_cache[e.interface] = _procedures(reg, e.interface)
        node_plans[e.target_node].capabilities.append({
            "caller": e.caller, "caller_node": instance_node[e.caller], "callee": e.target,
            "interface": e.interface, "path": e.path, "procedures": procs})
    for nname, np in node_plans.items():
        for ex in export_plans.get(nname, []):
            svc = services[ex["instance"]]
            node_plans[ex["node"]].capabilities.append({
                "caller": f"external:{ex['network']}", "caller_node": "", "callee": ex["instance"],
                "interface": svc.interface, "path": "rpc", "token_required": True,
                "procedures": _procedures(reg, svc.interface)})
    for np in node_plans.values():
        np.capabilities.sort(key=lambda c: (c["callee"], c["caller"], c["interface"]))

    # group start order per node: a group starts after the groups on its node that it calls
    group_deps: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in edges:
        if e.path == "ipc":
            group_deps[e.target_node][instance_group[e.caller]].add(e.target_group)
    for nname, np in node_plans.items():
        deps_of = group_deps.get(nname, {})
        rank = {g.name: (not g.kernel, g.name) for g in np.groups}
        waiting = {g.name: set(deps_of.get(g.name, ())) for g in np.groups}
        ordered: list[str] = []
        ready = sorted((rank[g], g) for g, d in waiting.items() if not d)
        while ready:
            _, g = ready.pop(0)
            ordered.append(g)
            for h, d in waiting.items():
                if g in d:
                    d.discard(g)
                    if not d and h not in ordered:
                        ready.append((rank[h], h))
                        ready.sort()
        if len(ordered) < len(np.groups):
            stuck = sorted(g for g in waiting if g not in ordered)
            calls = sorted(f"{e.caller} -> {e.target}" for e in edges if e.path == "ipc" and e.target_node == nname
                           and instance_group[e.caller] in stuck and e.target_group in stuck)
            first = min((instances[e.split(" -> ")[0]] for e in calls), key=lambda i: (i.loc.line, i.name))
            rep.error(first.loc, f"node '{nname}': groups {', '.join(repr(g) for g in stuck)} call each other "
                                 f"({'; '.join(calls)}), so none can start first; merge them with group()")
            continue
        pos = {g: i for i, g in enumerate(ordered)}
        np.groups.sort(key=lambda gp: pos[gp.name])

    for e in edges:
        node_plans[instance_node[e.caller]].edges.append(e)
        if e.target_kind == "import":
            imp = imports[e.target]
            rec = {"name": imp.name, "interface": imp.interface, "network": imp.network, "address": imp.address,
                   "port": imp.port}
            if rec not in node_plans[instance_node[e.caller]].imports:
                node_plans[instance_node[e.caller]].imports.append(rec)
    for np in node_plans.values():
        np.edges.sort(key=lambda e: (e.caller, e.dependency))
        np.imports.sort(key=lambda r: r["name"])

    # hosted: each process serves at most `max_ring_targets` instances on its ring; the supervisor
    # relays for every instance called across groups
    ipc_callees_of: dict[str, set[str]] = defaultdict(set)
    served_of: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if e.path == "ipc" or (e.path == "rpc" and e.target_kind == "instance"):
            served_of[e.target_node].add(e.target)
            if e.path == "ipc":
                ipc_callees_of[e.target_node].add(e.target)
    for nname, np in node_plans.items():
        b = np.board
        if b.is_mcu or not b.max_ring_targets:
            continue
        ipc_callees = ipc_callees_of.get(nname, set())
        per_group: dict[str, set[str]] = defaultdict(set)
        for t in served_of.get(nname, ()):
            per_group[instance_group[t]].add(t)
        for gname, served in sorted(per_group.items()):
            if len(served) > b.max_ring_targets:
                rep.error(np.node.loc, f"node '{nname}': group '{gname}' serves {len(served)} instances to other groups "
                                       f"or nodes, but a hosted group process serves at most {b.max_ring_targets}; "
                                       f"split the group")
        if len(ipc_callees) > b.max_ring_targets:
            rep.error(np.node.loc, f"node '{nname}': {len(ipc_callees)} instances are called across groups, but the "
                                   f"hosted supervisor relays for at most {b.max_ring_targets}; merge groups with group()")

    # memory: MCU -> MPU layout; hosted -> budget only
    for nname, np in node_plans.items():
        b = np.board
        budget = np.node.memory if np.node.memory is not None else b.ram_size
        np.memory_budget = budget
        kernel_needed = b.kernel_ram + FORWARDER_RAM * len(np.forwarders)
        unpriv: list[tuple[str, int]] = []
        for gp in np.groups:
            need = sum((mem_of[i] + 7) // 8 * 8 for i in gp.instances)  # state, 8-byte aligned per instance
            gp.state_bytes = need
            gp.stack_bytes = 0 if gp.kernel else b.group_stack
            if gp.kernel:
                kernel_needed += need
                gp.memory_needed = need
            else:
                gp.memory_needed = need + b.group_overhead
                unpriv.append((gp.name, gp.memory_needed))
        if b.is_mcu:
            avail = b.mpu_regions - b.mpu_reserved
            if len(unpriv) > avail:
                rep.error(np.node.loc, f"node '{nname}': {len(unpriv)} isolated groups need {len(unpriv)} MPU regions, "
                                       f"but board '{b.short_name}' ({b.cpu}) leaves {avail} for groups; "
                                       f"merge groups with group()")
            np.layout = layout_mcu(b.ram_base, b.ram_size, b.stack_reserved, kernel_needed, unpriv)
            np.memory_needed = np.layout.used
        else:
            np.memory_needed = kernel_needed + sum(n for _, n in unpriv)
        if np.memory_needed > budget:
            rep.error(np.node.loc, f"node '{nname}': memory budget exceeded: needs {np.memory_needed} bytes, "
                                   f"budget is {budget} bytes")
    rep.check()

    check_mask_limits(node_plans, services, instances, rep)
    rep.check()
    for np in node_plans.values():
        np.runtime = plan_runtime(np)

    return Plan(
        deployment=dep, interfaces=reg, nodes=node_plans, instance_node=instance_node,
        instance_group=instance_group, edges=edges, start_order=start_order, overlay=overlay,
        router_stats={"searches": router.searches_started, "settled": router.vertices_settled},
        instances_by_name=instances,
        provided_by=synthetic,
    )


def _hops(path: list, overlay: nx.DiGraph, import_port: int | None) -> tuple[Hop, ...]:
    """Vertex path node,net,node,net,... -> hops; ports are filled in once endpoints exist."""
    hops = []
    for i in range(0, len(path) - 2, 2):
        src, net, dst = path[i], path[i + 1], path[i + 2]
        address = overlay.edges[net, dst]["address"]
        name = dst[1] if dst[0] == "node" else f"import:{dst[1]}"
        hops.append(Hop(net[1], src[1], name, address, import_port if dst[0] == "import" and import_port else 0))
    return tuple(hops)


def _hop_json(h: Hop) -> dict:
    return {"network": h.network, "from": h.src, "to": h.dst, "address": h.address, "port": h.port}
