"""Planner passes that resolve the declarations into a consistent model: names, networks,
nodes, imports, provided services, services, bindings, groups, placement and start order.
Each reports every error it finds; none decides anything the model does not say.
"""
from __future__ import annotations

import heapq
from collections import defaultdict

from ambience.boards import Board, find_board
from ambience.diagnostics import Location, Note
from ambience.model import NETWORK_KINDS, Group, Instance, Node, Service
from ambience.plan_model import (
    _NAME,
    KERNEL_GROUP_DEFAULT,
    Binding,
    PlanContext,
    _address_ok,
    _check_name,
    _report_cycles,
    _unique,
)


def collect_declarations(ctx: PlanContext) -> None:
    """Unique networks, nodes, instances, groups and imports with valid names."""
    nets = _unique(ctx.rep, "network", ctx.dep.networks)
    nodes = _unique(ctx.rep, "node", ctx.dep.nodes)
    instances = _unique(ctx.rep, "instance", ctx.dep.instances)
    explicit_groups = _unique(ctx.rep, "group", ctx.dep.groups)
    imports = _unique(ctx.rep, "import", ctx.dep.imports)
    for imp in ctx.dep.imports:
        if imp.name in instances:
            ctx.rep.error(imp.loc, f"import '{imp.name}' has the same name as an instance",
                          Note(instances[imp.name].loc, f"instance '{imp.name}' declared here"))
    for what, items in (("network", ctx.dep.networks), ("node", ctx.dep.nodes), ("instance", ctx.dep.instances),
                        ("group", ctx.dep.groups), ("import", ctx.dep.imports)):
        for it in items:
            _check_name(ctx.rep, what, it.name, it.loc)
    if not ctx.dep.nodes:
        ctx.rep.error(ctx.dep.loc, f"deployment '{ctx.dep.name}' declares no node")

    ctx.explicit_groups = explicit_groups
    ctx.imports = imports
    ctx.instances = instances
    ctx.nets = nets
    ctx.nodes = nodes


def check_networks_and_nodes(ctx: PlanContext) -> None:
    """Network kinds, boards, addresses (one owner per address)."""
    # --- networks and nodes
    for network in ctx.nets.values():
        if network.kind and network.kind not in NETWORK_KINDS:
            ctx.rep.error(network.loc, f"network '{network.name}': unknown kind '{network.kind}' "
                                       f"(expected one of: {', '.join(NETWORK_KINDS)})")
    boards: dict[str, Board] = {}
    owner_of_address: dict[tuple[str, str], Node] = {}
    for node in ctx.nodes.values():
        board = find_board(node.board) if node.board else None
        if board is None:
            if node.board:
                ctx.rep.error(node.loc, f"node '{node.name}': unknown board '{node.board}'")
        else:
            boards[node.name] = board
            if node.memory is not None and node.memory > board.ram_size:
                ctx.rep.error(node.loc,
                              f"node '{node.name}': memory budget {node.memory} bytes exceeds the RAM of board "
                              f"'{board.short_name}' ({board.ram_size} bytes)")
        for net_name, address in node.networks:
            net = ctx.nets.get(net_name)
            if net is None:
                ctx.rep.error(node.loc, f"node '{node.name}': unknown network '{net_name}'")
                continue
            if net.kind in NETWORK_KINDS and not _address_ok(net.kind, address):
                hint = "a channel number 0..65535" if net.kind == "serial" else "an IP address or host name"
                ctx.rep.error(node.loc, f"node '{node.name}': address '{address}' on {net.kind} network '{net_name}' "
                                        f"is not {hint}")
                continue
            other = owner_of_address.get((net_name, address))
            if other is not None:
                ctx.rep.error(node.loc,
                              f"node '{node.name}': address '{address}' on network '{net_name}' is already "
                              f"used by node '{other.name}'", Note(other.loc, f"node '{other.name}' declared here"))
            else:
                owner_of_address[(net_name, address)] = node

    ctx.boards = boards
    ctx.owner_of_address = owner_of_address


def check_imports(ctx: PlanContext) -> None:
    """External services: their network, address and interface."""
    # --- imports (external services reachable over a network)
    for imp in ctx.imports.values():
        net = ctx.nets.get(imp.network)
        if net is None:
            ctx.rep.error(imp.loc,
                          f"import '{imp.name}': unknown network '{imp.network}'")
        elif net.kind in NETWORK_KINDS and not _address_ok(net.kind, imp.address):
            ctx.rep.error(imp.loc, f"import '{imp.name}': address '{imp.address}' is not valid on {net.kind} network "
                                   f"'{imp.network}'")
        elif (imp.network, imp.address) in ctx.owner_of_address:
            other = ctx.owner_of_address[(imp.network, imp.address)]
            ctx.rep.error(imp.loc,
                          f"import '{imp.name}': address '{imp.address}' on network '{imp.network}' is already "
                          f"used by node '{other.name}'")
        if imp.interface and ctx.reg.get(imp.interface) is None:
            ctx.rep.error(imp.loc, f"import '{imp.name}': unknown interface '{imp.interface}'")



def add_provided_services(ctx: PlanContext) -> None:
    """Node-provided services become instances <node>_<name> in the node's kernel group."""
    # --- node-provided services: one instance per (node, name), named <node>_<name>, in the
    # node's kernel group; a dependency bound to <name> means the one on the caller's own node
    provided: dict[str, dict[str, str]] = defaultdict(dict)  # name -> node -> instance
    synthetic: dict[str, str] = {}  # instance -> node providing it
    for node in ctx.nodes.values():
        for pname, label in node.provides:
            if not _NAME.match(pname):
                ctx.rep.error(node.loc,
                              f"node '{node.name}': provided service name '{pname}' is not a valid identifier")
                continue
            if pname in ctx.instances or pname in ctx.imports:
                ctx.rep.error(node.loc, f"node '{node.name}' provides '{pname}', which is also the name of an "
                                        f"{'instance' if pname in ctx.instances else 'import'}")
                continue
            syn = f"{node.name}_{pname}"
            if syn in ctx.instances:
                ctx.rep.error(node.loc,
                              f"node '{node.name}': its provided service '{pname}' runs as instance '{syn}', "
                              f"but that name is taken",
                              Note(ctx.instances[syn].loc, f"instance '{syn}' declared here"))
                continue
            ctx.instances[syn] = Instance(syn, label, (), None, node.loc)
            provided[pname][node.name] = syn
            synthetic[syn] = node.name

    ctx.provided = provided
    ctx.synthetic = synthetic


def check_services(ctx: PlanContext) -> None:
    """Each instance's service and the interfaces it implements and requires."""
    # --- services
    services: dict[str, Service] = {}
    reported_services: set[str] = set()
    for inst in ctx.instances.values():
        if not inst.service:
            continue
        svc = ctx.dep.services.get(inst.service)
        if svc is None:
            if inst.name in ctx.synthetic:
                owner = ctx.synthetic[inst.name]
                who = f"node '{owner}': provided service '{inst.name[len(owner) + 1:]}'"
            else:
                who = f"instance '{inst.name}'"
            ctx.rep.error(inst.loc, f"{who}: unknown service '{inst.service}' "
                                    f"(not an ambience_service this deployment depends on)")
            continue
        services[inst.name] = svc
        if svc.label in reported_services:
            continue
        reported_services.add(svc.label)
        if ctx.reg.get(svc.interface) is None:
            ctx.rep.error(svc.loc,
                          f"service '{svc.label}': unknown interface '{svc.interface}' "
                          f"(not in the lidl_library of `implements`)")
        for dname, diface in svc.dependencies:
            if ctx.reg.get(diface) is None:
                ctx.rep.error(svc.loc,
                              f"service '{svc.label}': dependency '{dname}' requires unknown interface '{diface}' "
                              f"(is its lidl_library in `implements` or `interfaces`?)")

    ctx.services = services


def bind_dependencies(ctx: PlanContext) -> None:
    """Every dependency bound once, to a target of a conforming interface."""
    # --- bindings and interface checks
    provided_iface: dict[str, str | None] = {}
    for pname, by_node in sorted(ctx.provided.items()):
        ifaces = sorted({ctx.services[i].interface for i in by_node.values() if i in ctx.services})
        if len(ifaces) > 1:
            first = ctx.nodes[sorted(by_node)[0]]
            ctx.rep.error(first.loc, f"nodes provide '{pname}' with different interfaces ({', '.join(ifaces)}); "
                                     f"dependencies on it could not be type-checked")
        provided_iface[pname] = ifaces[0] if len(ifaces) == 1 else None

    def provided_interface(target: str) -> str | None:
        if target in ctx.services:
            return ctx.services[target].interface
        if target in ctx.imports:
            return ctx.imports[target].interface
        return provided_iface.get(target)

    bindings: dict[str, list[Binding]] = {}
    for inst in ctx.instances.values():
        svc = ctx.services.get(inst.name)
        if svc is None:
            continue
        required = dict(svc.dependencies)
        bound = dict(inst.dependencies)
        ok_edges: list[Binding] = []
        if inst.name in ctx.synthetic and required:
            owner = ctx.synthetic[inst.name]
            ctx.rep.error(inst.loc,
                          f"node '{owner}': provided service '{inst.name[len(owner) + 1:]}' ({svc.label}) has "
                          f"dependencies ({', '.join(sorted(required))}); a node-provided service cannot")
            bindings[inst.name] = []
            continue
        for dname in sorted(required):
            if dname not in bound:
                ctx.rep.error(inst.loc, f"instance '{inst.name}': dependency '{dname}' ({required[dname]}) of service "
                                        f"'{svc.label}' is not bound")
        for dname, target in inst.dependencies:
            if dname not in required:
                known = ", ".join(sorted(required)) or "none"
                ctx.rep.error(inst.loc, f"instance '{inst.name}': service '{svc.label}' has no dependency '{dname}' "
                                        f"(its dependencies: {known})")
                continue
            if target not in ctx.instances and target not in ctx.imports and target not in ctx.provided:
                ctx.rep.error(inst.loc, f"instance '{inst.name}': dependency '{dname}' is bound to unknown instance "
                                        f"'{target}'")
                continue
            offered = provided_interface(target)
            want = required[dname]
            if offered is None:
                continue  # target's own service is unknown: already reported
            both_known = ctx.reg.get(want) is not None and ctx.reg.get(offered) is not None
            if both_known and not ctx.reg.conforms(offered, want):
                ctx.rep.error(inst.loc, f"instance '{inst.name}': dependency '{dname}' is bound to '{target}' "
                                        f"({offered}), but the service requires {want}")
                continue
            ok_edges.append((dname, want, target))
        bindings[inst.name] = ok_edges

    ctx.bindings = bindings


def assign_groups(ctx: PlanContext) -> None:
    """Each instance in exactly one group (its own, implicitly, if none names it)."""
    # --- groups
    group_of: dict[str, Group] = {}
    for g in ctx.explicit_groups.values():
        if not g.instances:
            ctx.rep.error(g.loc, f"group '{g.name}' has no instances")
        for iname in g.instances:
            if iname in ctx.synthetic:
                ctx.rep.error(g.loc, f"group '{g.name}': '{iname}' is provided by node '{ctx.synthetic[iname]}' and "
                                     f"runs in that node's kernel group")
                continue
            if iname not in ctx.instances:
                ctx.rep.error(g.loc, f"group '{g.name}': unknown instance '{iname}'")
                continue
            prev = group_of.get(iname)
            if prev is not None:
                ctx.rep.error(g.loc, f"instance '{iname}' is in two groups: '{prev.name}' and '{g.name}'",
                              Note(prev.loc, f"group '{prev.name}' declared here"))
                continue
            group_of[iname] = g
    groups: dict[str, Group] = dict(ctx.explicit_groups)
    for inst in ctx.instances.values():
        if inst.name in group_of or inst.name in ctx.synthetic:
            continue
        if inst.name in ctx.explicit_groups:
            ctx.rep.error(inst.loc, f"instance '{inst.name}' is in no group, and its default group name "
                                    f"'{inst.name}' is taken by another group",
                          Note(ctx.explicit_groups[inst.name].loc, f"group '{inst.name}' declared here"))
            continue
        g = Group(inst.name, (inst.name,), False, inst.loc, implicit=True)
        groups[inst.name] = g
        group_of[inst.name] = g

    ctx.group_of = group_of
    ctx.groups = groups


def place_groups(ctx: PlanContext) -> None:
    """Each group on exactly one node; one kernel group per node; provided targets resolved per node."""
    # --- deploys
    node_of_group: dict[str, tuple[str, Location, bool]] = {}
    claimed: set[str] = set()  # groups named by a deploy(), even a broken one: no "not deployed" cascade
    for d in ctx.dep.deploys:
        claimed.update(ctx.group_of[n].name if n in ctx.group_of else n for n in d.groups)
        if d.node not in ctx.nodes:
            ctx.rep.error(d.loc, f"deploy: unknown node '{d.node}'")
            continue
        for name in d.groups:
            # A deploy may name a group, or an instance: then it means the instance's group.
            via_member = name not in ctx.groups and name in ctx.group_of
            gname = ctx.group_of[name].name if via_member else name
            claimed.add(gname)
            if gname not in ctx.groups:
                ctx.rep.error(d.loc, f"deploy on '{d.node}': unknown instance or group '{name}'")
                continue
            prev = node_of_group.get(gname)
            if prev is not None:
                if prev[0] == d.node and (via_member or prev[2]):
                    continue  # the same group named again through one of its members
                if prev[0] == d.node:
                    ctx.rep.error(d.loc, f"group '{gname}' is deployed on node '{d.node}' twice",
                                  Note(prev[1], "first deployed here"))
                else:
                    ctx.rep.error(d.loc, f"group '{gname}' is deployed on two nodes: '{prev[0]}' and '{d.node}'",
                                  Note(prev[1], f"deployed on '{prev[0]}' here"))
                continue
            node_of_group[gname] = (d.node, d.loc, via_member)
    for g in ctx.groups.values():
        if g.name not in claimed and g.instances and all(i in ctx.instances for i in g.instances):
            if g.implicit:
                ctx.rep.error(g.loc, f"instance '{g.name}' is not deployed on any node (add it, or a group containing "
                                     f"it, to a deploy())")
            else:
                ctx.rep.error(g.loc, f"group '{g.name}' is not deployed on any node")
    kernel_group_of: dict[str, Group] = {}
    for gname, (nname, dloc, _) in sorted(node_of_group.items()):
        g = ctx.groups[gname]
        if g.kernel:
            first_kernel = kernel_group_of.get(nname)
            if first_kernel is not None:
                ctx.rep.error(dloc, f"node '{nname}' has two kernel groups: '{first_kernel.name}' and '{g.name}'")
            else:
                kernel_group_of[nname] = g

    instance_group = {i: g.name for i, g in ctx.group_of.items() if g.name in node_of_group}
    instance_node = {i: node_of_group[g][0] for i, g in instance_group.items()}
    kernel_default = KERNEL_GROUP_DEFAULT
    while kernel_default in ctx.groups:
        kernel_default = "_" + kernel_default
    for syn, nname in ctx.synthetic.items():
        instance_node[syn] = nname
        instance_group[syn] = kernel_group_of[nname].name if nname in kernel_group_of else kernel_default
    for caller, bound_edges in ctx.bindings.items():
        resolved: list[Binding] = []
        for dname, want, target in bound_edges:
            if target in ctx.provided and target not in ctx.instances and target not in ctx.imports:
                cnode = instance_node.get(caller)
                if cnode is None:
                    continue  # not deployed: reported already
                if cnode not in ctx.provided[target]:
                    ctx.rep.error(ctx.instances[caller].loc,
                                  f"instance '{caller}': dependency '{dname}' is bound to "
                                  f"'{target}', which node '{cnode}' does not provide (provided by: "
                                  f"{', '.join(sorted(ctx.provided[target]))})")
                    continue
                target = ctx.provided[target][cnode]
            resolved.append((dname, want, target))
        ctx.bindings[caller] = resolved

    ctx.instance_group = instance_group
    ctx.instance_node = instance_node
    ctx.kernel_default = kernel_default
    ctx.kernel_group_of = kernel_group_of
    ctx.node_of_group = node_of_group


def check_languages(ctx: PlanContext) -> None:
    """Python services run in Python group processes: on hosted nodes only, in groups of their own
    language, never in the kernel group (the supervisor's process is C++)."""
    for gname, (nname, dloc, _) in sorted(ctx.node_of_group.items()):
        g = ctx.groups[gname]
        langs = {i: ctx.services[i].language for i in g.instances if i in ctx.services}
        python = sorted(i for i, lang in langs.items() if lang == "python")
        if not python:
            continue
        board = ctx.boards.get(nname)
        first = ctx.instances[python[0]]
        if board is not None and board.is_mcu:
            ctx.rep.error(dloc, f"instance '{python[0]}' is a Python service ({ctx.services[python[0]].label}), "
                                f"but node '{nname}' is a microcontroller ({board.short_name}): Python services "
                                f"run on hosted nodes only",
                          Note(first.loc, f"instance '{python[0]}' declared here"))
            continue
        if g.kernel:
            ctx.rep.error(dloc, f"group '{gname}' is the kernel group of node '{nname}', which runs in the "
                                f"supervisor's C++ process: Python services ('{python[0]}') need a group of their own")
            continue
        cpp = sorted(i for i, lang in langs.items() if lang != "python")
        if cpp:
            ctx.rep.error(g.loc, f"group '{gname}' mixes Python ('{python[0]}') and C++ ('{cpp[0]}') services: "
                                 f"a group process runs one language; put them in separate groups")


def order_start(ctx: PlanContext) -> None:
    """Start order: dependencies first (Kahn's algorithm, smallest name first on ties)."""
    # --- start order (dependencies start first); Kahn's algorithm, smallest name first on ties
    dependents: dict[str, list[str]] = defaultdict(list)
    indegree = dict.fromkeys(ctx.instances, 0)
    for caller, bound_edges in ctx.bindings.items():
        for _, _, target in bound_edges:
            if target in ctx.instances:
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
    if len(start_order) < len(ctx.instances):
        _report_cycles(ctx.rep, ctx.instances, dependents, {n for n, d in indegree.items() if d > 0})
        start_order = []

    ctx.start_order = start_order
