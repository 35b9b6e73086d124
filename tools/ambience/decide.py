"""Planner passes that decide: call paths and routes, exports, endpoints and ports, forwarders,
capabilities, group start order, per-node limits and memory (MPU layout).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from itertools import pairwise

import networkx as nx

from ambience.backend import (
    CONSOLE_ADDRESS,
    CONSOLE_NETWORK,
    CONSOLE_NODE,
    CONSOLE_PORT,
    node_numbers,
)
from ambience.diagnostics import Location, Note
from ambience.memory import layout_mcu
from ambience.model import Export, Group
from ambience.overlay import Router, Vertex, build_overlay
from ambience.plan_model import (
    DEFAULT_INSTANCE_RAM,
    FIRST_SERIAL_CHANNEL,
    FORWARDER_RAM,
    UDP_BASE_PORT,
    Capability,
    Edge,
    Endpoint,
    ExportPlan,
    ExportRoute,
    Forwarder,
    GroupPlan,
    Hop,
    ImportPlan,
    NextHop,
    NodePlan,
    PlanContext,
    ProcedureRef,
    _hops,
    _procedures,
    _with_port,
    idempotent_mask,
)

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(us|ms|s)$")
_UNIT_US = {"us": 1, "ms": 1000, "s": 1_000_000}
MAX_TIMEOUT_US = 3600 * 1_000_000


def parse_duration_us(text: str) -> int | str:
    """'250ms' -> 250000; or why the text is not a call timeout (a message for a diagnostic)."""
    m = _DURATION.match(text.strip())
    if m is None:
        return "write a number and a unit: us, ms or s (e.g. \"250ms\", \"2s\")"
    us = round(float(m.group(1)) * _UNIT_US[m.group(2)])
    if us <= 0:
        return "a call needs a deadline after it starts: more than zero"
    if us > MAX_TIMEOUT_US:
        return "at most 3600s (a longer call holds its slot in the call table as long)"
    return us


def call_timeouts(ctx: PlanContext) -> dict[tuple[str, str], int]:
    """(caller, dependency) -> the manifest's call timeout in µs; located errors for bad ones."""
    out: dict[tuple[str, str], int] = {}
    for name, inst in sorted(ctx.instances.items()):
        svc = ctx.services.get(name)
        deps = sorted({d for d, _ in inst.dependencies} | ({d for d, _ in svc.dependencies} if svc else set()))
        for dep, text in inst.timeouts:
            if dep not in deps:
                ctx.rep.error(inst.loc, f"instance '{name}': timeout for unknown dependency '{dep}' "
                                        f"(dependencies: {', '.join(deps) or 'none'})")
                continue
            us = parse_duration_us(text)
            if isinstance(us, str):
                ctx.rep.error(inst.loc, f"instance '{name}': timeout of dependency '{dep}' is '{text}': {us}")
                continue
            out[(name, dep)] = us
    return out


def plan_call_paths(ctx: PlanContext) -> None:
    """The call path of every edge (direct / ipc / rpc) and its least-cost route."""
    # --- overlay, call paths and routes
    overlay = build_overlay(ctx.dep)
    router = Router(overlay)
    edges: list[Edge] = []
    for caller in sorted(ctx.bindings):
        if caller not in ctx.instance_node:
            continue
        cnode = ctx.instance_node[caller]
        for dname, want, target in sorted(ctx.bindings[caller]):
            if target in ctx.imports:
                imp = ctx.imports[target]
                if imp.network not in ctx.nets:
                    continue
                r = router.route(("node", cnode), ("import", target))
                if r is None:
                    ctx.rep.error(ctx.instances[caller].loc,
                                  f"instance '{caller}': dependency '{dname}' is bound to import "
                                  f"'{target}' on network '{imp.network}', but node '{cnode}' has no "
                                  f"network path to it")
                    continue
                edges.append(Edge(caller, dname, want, target, "import", "", "", "rpc", _hops(r[1], overlay, imp.port),
                                  r[0]))
                continue
            if target not in ctx.instance_node:
                continue
            tnode, tgroup = ctx.instance_node[target], ctx.instance_group[target]
            if tnode == cnode:
                path = "direct" if tgroup == ctx.instance_group[caller] else "ipc"
                edges.append(Edge(caller, dname, want, target, "instance", tnode, tgroup, path))
                continue
            r = router.route(("node", cnode), ("node", tnode))
            if r is None:
                ctx.rep.error(ctx.instances[caller].loc,
                              f"instance '{caller}': dependency '{dname}' is bound to '{target}' on "
                              f"node '{tnode}', but node '{cnode}' has no network path to node '{tnode}'")
                continue
            edges.append(Edge(caller, dname, want, target, "instance", tnode, tgroup, "rpc",
                              _hops(r[1], overlay, None), r[0]))

    # A timeout applies to the calls that cross nodes; on a dependency the plan keeps in-node it
    # has no effect (moving an instance is a one-line change that must not need another).
    timeouts = call_timeouts(ctx)
    edges = [replace(e, timeout_us=timeouts.get((e.caller, e.dependency), 0)) if e.path == "rpc" else e
             for e in edges]
    ctx.edges = edges
    ctx.overlay = overlay
    ctx.router = router


def plan_exports(ctx: PlanContext) -> None:
    """Exports: the gateway node and route from the exported network to the instance."""
    # --- exports: a network the node is attached to, or reachable through a gateway node
    export_ports: dict[tuple[str, str], dict[int, Location]] = defaultdict(dict)
    export_routes: dict[str, list[ExportRoute]] = defaultdict(list)
    gateway_routes: list[tuple[str, tuple[Hop, ...]]] = []
    seen_exports: dict[tuple[str, str], Location] = {}
    doors: list[tuple[str, Export]] = []
    door_ports: dict[str, dict[int, Location]] = defaultdict(dict)
    for ex in ctx.dep.exports:
        if ex.instance not in ctx.instances:
            ctx.rep.error(ex.loc, f"export: unknown instance '{ex.instance}'")
            continue
        if ex.network not in ctx.nets:
            ctx.rep.error(ex.loc, f"export of '{ex.instance}': unknown network '{ex.network}'")
            continue
        if (ex.instance, ex.network) in seen_exports:
            ctx.rep.error(ex.loc, f"instance '{ex.instance}' is exported on network '{ex.network}' twice",
                          Note(seen_exports[(ex.instance, ex.network)], "first exported here"))
            continue
        seen_exports[(ex.instance, ex.network)] = ex.loc
        if ex.instance not in ctx.instance_node:
            continue
        tnode = ctx.instance_node[ex.instance]
        # Least-cost way in from outside: the export vertex hangs off its network, so the route's
        # first node is the best gateway (the instance's own node if it is on that network).
        r = ctx.router.route(("export", f"{ex.instance}@{ex.network}"), ("node", tnode))
        if r is None:
            ctx.rep.error(ex.loc,
                          f"export of '{ex.instance}' on network '{ex.network}': node '{tnode}' is not attached "
                          f"to '{ex.network}' and no node on '{ex.network}' has a path to it")
            continue
        gateway, hops = r[1][2][1], _hops(r[1][2:], ctx.overlay, None)
        if hops:
            gateway_routes.append((gateway, hops))
        if ex.port is not None:
            other = export_ports[(gateway, ex.network)].get(ex.port)
            if other is not None:
                ctx.rep.error(ex.loc, f"export of '{ex.instance}': port {ex.port} on network '{ex.network}' of node "
                                      f"'{gateway}' is already exported", Note(other, "first exported here"))
                continue
            export_ports[(gateway, ex.network)][ex.port] = ex.loc
        if ex.http is not None and _check_door(ctx, ex, gateway, tnode):
            doors.append((gateway, ex))
        export_routes[gateway].append(ExportRoute(ex, tnode, hops))

    # A door's port is the node's, whatever the network: no other export or door may use it.
    for gateway, ex in doors:
        assert ex.http is not None
        taken = {p: loc for (g, _), ports in export_ports.items() if g == gateway for p, loc in ports.items()}
        taken |= door_ports[gateway]
        if ex.http in taken:
            ctx.rep.error(ex.loc, f"export of '{ex.instance}': http port {ex.http} of node '{gateway}' is already "
                                  "used by another export of the node", Note(taken[ex.http], "used here"))
            continue
        door_ports[gateway][ex.http] = ex.loc

    ctx.export_routes = export_routes
    ctx.export_ports = export_ports
    ctx.gateway_routes = gateway_routes


def _check_door(ctx: PlanContext, ex: Export, gateway: str, tnode: str) -> bool:
    """An HTTP door calls through the console endpoint of its own node: only a hosted node has
    one, and the door reaches the instance without a route only on the instance's node."""
    board = ctx.boards.get(gateway)
    if board is not None and board.is_mcu:
        ctx.rep.error(ex.loc, f"export of '{ex.instance}': http = {ex.http} needs a hosted gateway node, and "
                              f"'{gateway}' is an MCU ({board.short_name}); the door calls through its own node's "
                              "console endpoint, which only hosted nodes have")
        return False
    if gateway != tnode:
        ctx.rep.error(ex.loc, f"export of '{ex.instance}': http = {ex.http} needs the gateway node to run "
                              f"'{ex.instance}' itself, but the way in from '{ex.network}' is node '{gateway}' and "
                              f"'{ex.instance}' runs on '{tnode}'; the door calls through its own node's console "
                              "endpoint (deploy the instance on the gateway, or export it on a network of its node)")
        return False
    return True


def size_instances(ctx: PlanContext) -> None:
    """The memory each instance needs (declared, or the service's, or the default)."""
    # --- memory and MPU regions
    mem_of = {}
    for iname, inst in ctx.instances.items():
        svc = ctx.services.get(iname)
        if inst.memory is not None:
            mem_of[iname] = inst.memory
        else:
            mem_of[iname] = svc.memory if svc and svc.memory else DEFAULT_INSTANCE_RAM

    ctx.mem_of = mem_of


def build_node_plans(ctx: PlanContext) -> None:
    """One NodePlan per node: its groups (kernel group first) and instances in start order."""

    node_plans: dict[str, NodePlan] = {}
    for nname in sorted(ctx.nodes):
        node = ctx.nodes[nname]
        node_plans[nname] = NodePlan(node=node, board=ctx.boards[nname])
    order_index = {n: i for i, n in enumerate(ctx.start_order)}
    groups_by_node: dict[str, list[Group]] = defaultdict(list)
    for gname, (nname, _, _) in ctx.node_of_group.items():
        groups_by_node[nname].append(ctx.groups[gname])
    provided_on: dict[str, list[str]] = defaultdict(list)
    for syn, n in ctx.synthetic.items():
        provided_on[n].append(syn)
    instances_by_node: dict[str, list[str]] = defaultdict(list)
    for iname in ctx.start_order:
        if iname in ctx.instance_node:
            instances_by_node[ctx.instance_node[iname]].append(iname)
    for nname, np in node_plans.items():
        gl = groups_by_node.get(nname, [])
        own = provided_on.get(nname, [])  # instances this node provides: kernel group
        if nname not in ctx.kernel_group_of:
            np.groups.append(GroupPlan(ctx.kernel_default, True, True, sorted(own, key=order_index.__getitem__)))
        for g in sorted(gl, key=lambda g: g.name):
            members = list(g.instances) + (own if g.kernel else [])
            np.groups.append(GroupPlan(g.name, g.kernel, g.implicit, sorted(members, key=order_index.__getitem__)))
        np.groups.sort(key=lambda gp: (not gp.kernel, gp.name))
        np.instances = instances_by_node.get(nname, [])
        np.object_ids = {name: k + 1 for k, name in enumerate(sorted(np.instances))}

    ctx.node_plans = node_plans


def plan_endpoints(ctx: PlanContext) -> None:
    """Endpoints and ports per (node, network); routes and exports get their ports."""
    # endpoints: one per (node, network) attachment; udp ports avoid the node's exported ports
    endpoint_port: dict[tuple[str, str], int] = {}
    for nname, np in ctx.node_plans.items():
        for net_name, address in np.node.networks:
            kind = ctx.nets[net_name].kind
            taken = ctx.export_ports.get((nname, net_name), {})
            port = UDP_BASE_PORT if kind == "udp" else FIRST_SERIAL_CHANNEL
            while port in taken:
                port += 1
            endpoint_port[(nname, net_name)] = port
            np.endpoints.append(Endpoint(net_name, kind, address, port))

    ctx.edges = [e if not e.route else replace(
                     e, route=tuple(_with_port(h, endpoint_port) for h in e.route),
                     object_id=ctx.node_plans[e.target_node].object_ids[e.target] if e.target_kind == "instance" else 0,
                     idempotent=idempotent_mask(ctx.reg, e.interface))
                 for e in ctx.edges]
    export_plans: dict[str, list[ExportPlan]] = {}
    # Doors are the outside's callers 1.. of node 0 (the console is 0), numbered across the
    # deployment by gateway, then in the order its plan lists exports (as protection.py numbers
    # their pairs).
    door_number = {k[1:]: n + 1 for n, k in enumerate(sorted((gateway, er.export.instance, er.export.network)
                                                             for gateway, rs in ctx.export_routes.items()
                                                             for er in rs if er.export.http is not None))}
    for gateway, routes in ctx.export_routes.items():
        export_plans[gateway] = []
        for er in routes:
            ex = er.export
            route = tuple(_with_port(h, endpoint_port) for h in er.route)
            port = ex.port if ex.port is not None else endpoint_port[(gateway, ex.network)]
            export_plans[gateway].append(ExportPlan(ex.instance, er.node, ex.network, port, route,
                                                    ctx.node_plans[er.node].object_ids[ex.instance], ex.http,
                                                    door_number.get((ex.instance, ex.network), 0),
                                                    idempotent_mask(ctx.reg, ctx.services[ex.instance].interface)
                                                    if ex.http is not None else 0))
    for exports in export_plans.values():  # plan order, here too: protection.py numbers doors in it
        exports.sort(key=lambda e: (e.instance, e.network))
    for nname, np in ctx.node_plans.items():
        np.exports = list(export_plans.get(nname, []))

    ctx.endpoint_port = endpoint_port
    ctx.export_plans = export_plans


def plan_forwarders(ctx: PlanContext) -> None:
    """Forwarders and next hops on every intermediate node of a route."""
    # forwarders: every intermediate node of a route relays both ways
    fwd: dict[str, dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
    nxt: dict[str, dict[str, Hop]] = defaultdict(dict)
    routes = [e.route for e in ctx.edges if e.route]
    routes += [tuple(_with_port(h, ctx.endpoint_port) for h in hops) for _, hops in ctx.gateway_routes]
    for route in routes:
        final = route[-1].dst
        origin = route[0].src
        for a, b in pairwise(route):
            relay = a.dst
            fwd[relay][(a.network, b.network)].add(final)
            fwd[relay][(b.network, a.network)].add(origin)
            nxt[relay][final] = b
            back_addr = ctx.overlay.edges[("net", a.network), ("node", a.src)]["address"]
            nxt[relay][origin] = Hop(a.network, relay, a.src, back_addr, ctx.endpoint_port[(a.src, a.network)])
    for nname, np in ctx.node_plans.items():
        np.forwarders = [Forwarder(f, t, sorted(d)) for (f, t), d in sorted(fwd.get(nname, {}).items())]
        np.next_hops = [NextHop(dest, h) for dest, h in sorted(nxt.get(nname, {}).items())]


def plan_capabilities(ctx: PlanContext) -> None:
    """Capabilities: which caller may call which procedures, enforced on the callee's node."""
    # capabilities: the callee's node enforces which caller may call which procedures
    proc_cache: dict[str, tuple[ProcedureRef, ...]] = {}
    for e in ctx.edges:
        if e.target_kind != "instance":
            continue
        procs = proc_cache.get(e.interface)
        if procs is None:
            procs = proc_cache[e.interface] = _procedures(ctx.reg, e.interface)
        ctx.node_plans[e.target_node].capabilities.append(
            Capability(e.caller, ctx.instance_node[e.caller], e.target, e.interface, e.path, procs))
    for nname in ctx.node_plans:
        for ex in ctx.export_plans.get(nname, []):
            svc = ctx.services[ex.instance]
            ctx.node_plans[ex.node].capabilities.append(
                Capability(f"external:{ex.network}", "", ex.instance, svc.interface, "rpc",
                           _procedures(ctx.reg, svc.interface), token_required=True))
    for np in ctx.node_plans.values():
        np.capabilities.sort(key=lambda c: (c.callee, c.caller, c.interface))


def console_capability(ctx: PlanContext, instance: str) -> Capability:
    """What the operator's console may call on `instance`: for the local cluster every procedure.
    The one place the console's grant is decided (callers present no token yet)."""
    iface = ctx.services[instance].interface
    return Capability(CONSOLE_NODE, CONSOLE_NODE, instance, iface, "rpc", _procedures(ctx.reg, iface))


def plan_console(ctx: PlanContext) -> None:
    """The operator's console (`ambience call`), a reserved caller of node number 0: a console
    endpoint on every hosted node (the way in, and the next hop back to the console), and for
    every MCU node on a network the least-cost route from a hosted node to it, whose relays get
    next hops both ways. Every instance of a reachable node grants the console its procedures."""
    numbers = node_numbers(list(ctx.node_plans))
    hosted = sorted(n for n, np in ctx.node_plans.items() if not np.board.is_mcu)
    added: dict[str, dict[str, Hop]] = defaultdict(dict)
    for nname in hosted:
        np = ctx.node_plans[nname]
        np.endpoints.append(Endpoint(CONSOLE_NETWORK, "udp", CONSOLE_ADDRESS, CONSOLE_PORT + numbers[nname]))
        added[nname][CONSOLE_NODE] = Hop(CONSOLE_NETWORK, nname, CONSOLE_NODE, CONSOLE_ADDRESS, CONSOLE_PORT)
        np.console_entry = nname
    mcus = sorted(n for n, np in ctx.node_plans.items() if np.board.is_mcu and np.endpoints)
    # One least-cost search from every hosted node at once (not one per pair: large deployments).
    paths: dict[Vertex, list[Vertex]] = {}
    if mcus and hosted:
        paths = dict(nx.multi_source_dijkstra_path(ctx.overlay, [("node", h) for h in hosted], weight="weight"))
    for nname in mcus:
        np = ctx.node_plans[nname]
        path = paths.get(("node", nname))
        if path is None:
            continue
        entry = path[0][1]
        hops = [_with_port(h, ctx.endpoint_port) for h in _hops(path, ctx.overlay, None)]
        added[entry].setdefault(nname, hops[0])
        for inbound, outbound in pairwise(hops):
            relay = inbound.dst
            added[relay].setdefault(nname, outbound)
            back = ctx.overlay.edges[("net", inbound.network), ("node", inbound.src)]["address"]
            added[relay].setdefault(CONSOLE_NODE, Hop(inbound.network, relay, inbound.src, back,
                                                      ctx.endpoint_port[(inbound.src, inbound.network)]))
        np.console_entry = entry
    for nname, np in ctx.node_plans.items():
        have = {h.destination for h in np.next_hops}
        np.next_hops = sorted(np.next_hops + [NextHop(d, h) for d, h in added.get(nname, {}).items() if d not in have],
                              key=lambda h: h.destination)
        if np.console_entry:
            np.capabilities += [console_capability(ctx, i) for i in np.instances]
            np.capabilities.sort(key=lambda c: (c.callee, c.caller, c.interface))


def order_groups(ctx: PlanContext) -> None:
    """Group start order per node: a group starts after the groups it calls."""
    # group start order per node: a group starts after the groups on its node that it calls
    group_deps: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in ctx.edges:
        if e.path == "ipc":
            group_deps[e.target_node][ctx.instance_group[e.caller]].add(e.target_group)
    for nname, np in ctx.node_plans.items():
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
            calls = sorted(f"{e.caller} -> {e.target}" for e in ctx.edges if e.path == "ipc" and e.target_node == nname
                           and ctx.instance_group[e.caller] in stuck and e.target_group in stuck)
            first = min((ctx.instances[e.split(" -> ")[0]] for e in calls), key=lambda i: (i.loc.line, i.name))
            ctx.rep.error(first.loc, f"node '{nname}': groups {', '.join(repr(g) for g in stuck)} call each other "
                                     f"({'; '.join(calls)}), so none can start first; merge them with group()")
            continue
        pos = {g: i for i, g in enumerate(ordered)}
        np.groups.sort(key=lambda gp: pos[gp.name])


def attach_edges(ctx: PlanContext) -> None:
    """Edges and imports to the plan of the caller's node."""
    for e in ctx.edges:
        ctx.node_plans[ctx.instance_node[e.caller]].edges.append(e)
        if e.target_kind == "import":
            imp = ctx.imports[e.target]
            rec = ImportPlan(imp.name, imp.interface, imp.network, imp.address, imp.port)
            if rec not in ctx.node_plans[ctx.instance_node[e.caller]].imports:
                ctx.node_plans[ctx.instance_node[e.caller]].imports.append(rec)
    for np in ctx.node_plans.values():
        np.edges.sort(key=lambda e: (e.caller, e.dependency))
        np.imports.sort(key=lambda r: r.name)



def check_hosted_limits(ctx: PlanContext) -> None:
    """Hosted: instances one group process serves, and the supervisor relays for."""
    # hosted: each process serves at most `max_ring_targets` instances on its ring; the supervisor
    # relays for every instance called across groups
    ipc_callees_of: dict[str, set[str]] = defaultdict(set)
    served_of: dict[str, set[str]] = defaultdict(set)
    for e in ctx.edges:
        if e.path == "ipc" or (e.path == "rpc" and e.target_kind == "instance"):
            served_of[e.target_node].add(e.target)
            if e.path == "ipc":
                ipc_callees_of[e.target_node].add(e.target)
    for nname, np in ctx.node_plans.items():
        b = np.board
        if b.is_mcu or not b.max_ring_targets:
            continue
        ipc_callees = ipc_callees_of.get(nname, set())
        per_group: dict[str, set[str]] = defaultdict(set)
        for t in served_of.get(nname, ()):
            per_group[ctx.instance_group[t]].add(t)
        for gname, served in sorted(per_group.items()):
            if len(served) > b.max_ring_targets:
                ctx.rep.error(np.node.loc,
                              f"node '{nname}': group '{gname}' serves {len(served)} instances to other groups "
                              f"or nodes, but a hosted group process serves at most {b.max_ring_targets}; "
                              f"split the group")
        if len(ipc_callees) > b.max_ring_targets:
            ctx.rep.error(np.node.loc,
                          f"node '{nname}': {len(ipc_callees)} instances are called across groups, but the "
                          f"hosted supervisor relays for at most {b.max_ring_targets}; merge groups with group()")


def plan_memory(ctx: PlanContext) -> None:
    """Memory: MCU nodes get their MPU layout, hosted nodes a budget check."""
    # memory: MCU -> MPU layout; hosted -> budget only
    for nname, np in ctx.node_plans.items():
        b = np.board
        budget = np.node.memory if np.node.memory is not None else b.ram_size
        np.memory_budget = budget
        kernel_needed = b.kernel_ram + FORWARDER_RAM * len(np.forwarders)
        unpriv: list[tuple[str, int]] = []
        for gp in np.groups:
            need = sum((ctx.mem_of[i] + 7) // 8 * 8 for i in gp.instances)  # state, 8-byte aligned per instance
            gp.state_bytes = need
            gp.stack_bytes = 0 if gp.kernel else b.group_stack
            if gp.kernel:
                kernel_needed += need
                gp.memory_needed = need
            else:
                gp.memory_needed = need + b.group_overhead
                unpriv.append((gp.name, gp.memory_needed))
        if b.is_mcu:
            # The supervisor maps only the running group's region (reprogrammed at every switch),
            # so the number of groups is bounded by its group slots, not by the MPU.
            if unpriv and b.mpu_regions < b.mpu_regions_needed:
                ctx.rep.error(np.node.loc, f"node '{nname}': isolated groups need {b.mpu_regions_needed} MPU regions, "
                                       f"but board '{b.short_name}' ({b.cpu}) has {b.mpu_regions}; "
                                       f"put every instance in the kernel group")
            if len(unpriv) > b.max_groups:
                ctx.rep.error(np.node.loc, f"node '{nname}': {len(unpriv)} isolated groups, but the Cortex-M "
                                           f"supervisor runs at most {b.max_groups} (kMaxGroups); "
                                           f"merge groups with group()")
            np.layout = layout_mcu(b.ram_base, b.ram_size, b.stack_reserved, kernel_needed, unpriv,
                                   b.mpu_min_region)
            np.memory_needed = np.layout.used
        else:
            np.memory_needed = kernel_needed + sum(n for _, n in unpriv)
        if np.memory_needed > budget:
            ctx.rep.error(np.node.loc, f"node '{nname}': memory budget exceeded: needs {np.memory_needed} bytes, "
                                       f"budget is {budget} bytes")
