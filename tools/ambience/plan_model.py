"""The plan's data, and helpers the planner passes share.

The deployment planner: validates a deployment and decides everything the nodes need.

`make_plan(deployment, interfaces)` is a pure function.  It reports every user error it can find
as a diagnostic pointing into the BUILD file (raising DiagnosticError with all of them) and
otherwise returns a Plan: per node, its groups, instances, the call path of every dependency
edge (direct / ipc / rpc), routes and forwarders, RPC endpoints, start order, capabilities and
(for MCUs) the MPU memory layout.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ambience.backend import Runtime
from ambience.boards import Board
from ambience.diagnostics import Location, Note, Reporter
from ambience.interfaces import InterfaceRegistry
from ambience.memory import Layout
from ambience.model import Deployment, Instance, Node

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


@dataclass
class PlanContext:
    """What the passes of make_plan() share: the input, and what each pass resolved or decided."""

    dep: Deployment
    reg: InterfaceRegistry
    bindings: Any = None
    boards: Any = None
    claimed: Any = None
    dependents: Any = None
    edges: Any = None
    endpoint_port: Any = None
    explicit_groups: Any = None
    export_plans: Any = None
    export_ports: Any = None
    fill: Any = None
    fwd: Any = None
    gateway_routes: Any = None
    group_deps: Any = None
    group_of: Any = None
    groups: Any = None
    groups_by_node: Any = None
    imports: Any = None
    indegree: Any = None
    instance_group: Any = None
    instance_node: Any = None
    instances: Any = None
    instances_by_node: Any = None
    ipc_callees_of: Any = None
    kernel_default: Any = None
    kernel_group_of: Any = None
    mem_of: Any = None
    nets: Any = None
    node_of_group: Any = None
    node_plans: Any = None
    nodes: Any = None
    nxt: Any = None
    order_index: Any = None
    overlay: Any = None
    owner_of_address: Any = None
    proc_cache: Any = None
    provided: Any = None
    provided_iface: Any = None
    provided_interface: Any = None
    provided_on: Any = None
    ready: Any = None
    rep: Any = None
    reported_services: Any = None
    router: Any = None
    routes: Any = None
    seen_exports: Any = None
    served_of: Any = None
    services: Any = None
    start_order: Any = None
    synthetic: Any = None


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
