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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import networkx as nx

from ambience.backend import Runtime
from ambience.boards import Board
from ambience.diagnostics import Location, Note, Reporter
from ambience.interfaces import InterfaceRegistry
from ambience.memory import Layout
from ambience.model import Deployment, Export, Group, Import, Instance, Network, Node, Service
from ambience.overlay import Router, Vertex

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
    idempotent: int = 0  # rpc: mask of the interface's @idempotent procedure ids (the RPC layer may retry them)
    timeout_us: int = 0  # rpc: the manifest's deadline per call (instance(timeouts=)); 0: the network kind's


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


@dataclass(frozen=True)
class Endpoint:
    """Where a node listens on one network it is attached to."""

    network: str
    kind: str
    address: str
    port: int  # udp port, or serial channel


@dataclass(frozen=True)
class NextHop:
    """How a relaying node forwards toward one destination node."""

    destination: str
    hop: Hop


@dataclass(frozen=True)
class ProcedureRef:
    name: str
    id: int
    declared_in: str


@dataclass(frozen=True)
class Capability:
    """Caller -> the procedures it may call on a callee; the callee's node enforces it."""

    caller: str  # instance, or "external:<network>" for the callers of an export
    caller_node: str  # "" for external callers
    callee: str
    interface: str
    path: str  # "direct" | "ipc" | "rpc"
    procedures: tuple[ProcedureRef, ...]
    token_required: bool = False  # external callers present a token


@dataclass(frozen=True)
class ProtectedPair:
    """One protected pair: requests from `principal` to node `callee_node`, and their replies, carry
    a tag under the pair's own key (derived from the deployment's key store at build time);
    `encrypt`: payloads are encrypted too, because a network on the way is not `encrypted`."""

    principal: str  # "node:<name>", "console", or "door:<instance>@<network>"
    caller_node: str  # the principal's node ("console" for the console and doors: node number 0)
    caller_instance: int  # the principal's instance number on node 0; -1: any instance of caller_node
    callee_node: str
    encrypt: bool
    because: str  # one line for `ambience explain`: which networks decided


@dataclass(frozen=True)
class ExportPlan:
    """An instance callable from outside the cluster, listed on its gateway node."""

    instance: str
    node: str  # the instance's node
    network: str
    port: int
    route: tuple[Hop, ...]  # gateway -> the instance's node (empty when the gateway is that node)
    object_id: int
    http: int | None = None  # the HTTP door's port on 127.0.0.1 of the gateway (then the instance's node)
    door: int = 0  # the door's caller instance as node 0 (1..), 0 without a door
    idempotent: int = 0  # with a door: mask of the interface's @idempotent procedure ids


@dataclass(frozen=True)
class ImportPlan:
    """An external service the node's instances call."""

    name: str
    interface: str
    network: str
    address: str
    port: int | None  # None: the import's network default


@dataclass
class NodePlan:
    node: Node
    board: Board
    groups: list[GroupPlan] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)  # start order
    edges: list[Edge] = field(default_factory=list)  # edges whose caller is on this node
    endpoints: list[Endpoint] = field(default_factory=list)
    object_ids: dict[str, int] = field(default_factory=dict)
    forwarders: list[Forwarder] = field(default_factory=list)
    next_hops: list[NextHop] = field(default_factory=list)  # relayed destination -> next hop
    capabilities: list[Capability] = field(default_factory=list)
    exports: list[ExportPlan] = field(default_factory=list)
    imports: list[ImportPlan] = field(default_factory=list)
    memory_needed: int = 0
    memory_budget: int = 0
    layout: Layout | None = None
    runtime: Runtime | None = None  # how the node's runtime realizes the plan (backend.py)
    console_entry: str = ""  # the hosted node the console reaches this node through ("": not reachable)
    protection: list[ProtectedPair] = field(default_factory=list)  # pairs this node is an end of


@dataclass
class Plan:
    deployment: Deployment
    interfaces: InterfaceRegistry
    nodes: dict[str, NodePlan]  # sorted by name
    instance_node: dict[str, str]
    instance_group: dict[str, str]
    edges: list[Edge]
    start_order: list[str]
    overlay: nx.DiGraph[Vertex]
    router_stats: dict[str, int]
    instances_by_name: dict[str, Instance]
    provided_by: dict[str, str]  # instance -> node, for instances a node provides (node(provides=))


# ----------------------------------------------------------------------------- helpers


# Names become file names (<node>_main.cc, <node>.plan.json; 255 bytes on Linux) and C++ names.
MAX_NAME = 128


def _check_name(rep: Reporter, what: str, name: str, loc: Location) -> None:
    if name and not _NAME.match(name):
        rep.error(loc,
                  f"{what} name '{name}' is not a valid identifier (letters, digits, '_'; not starting with a digit)")
    elif len(name) > MAX_NAME:
        rep.error(loc, f"{what} name '{name[:40]}...' is {len(name)} characters long, more than {MAX_NAME} "
                       "(names become file names and C++ identifiers)")


class _Declared(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def loc(self) -> Location: ...


D = TypeVar("D", bound=_Declared)


def _unique(rep: Reporter, what: str, items: Sequence[D]) -> dict[str, D]:
    out: dict[str, D] = {}
    for it in items:
        k = it.name
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


def idempotent_mask(reg: InterfaceRegistry, iface: str) -> int:
    """Bit i set: procedure id i of `iface` (inherited ones included) is @idempotent."""
    mask = 0
    for name in [iface] + sorted(reg.ancestors(iface) - {iface}):
        i = reg.get(name)
        for p in i.procedures if i is not None else ():
            if "idempotent" in p.attributes and p.id < 64:
                mask |= 1 << p.id
    return mask


def _procedures(reg: InterfaceRegistry, iface: str) -> tuple[ProcedureRef, ...]:
    """Every procedure callable through `iface`, including inherited ones, in a stable order."""
    # lidl flattens inherited procedures into each service (with the ids its dispatch uses), so
    # the required interface's own entry comes first; ancestors only fill gaps.
    seen: dict[tuple[str, str], ProcedureRef] = {}
    for name in [iface] + sorted(reg.ancestors(iface) - {iface}):
        i = reg.get(name)
        if i is None:
            continue
        for p in i.procedures:
            seen.setdefault((p.declared_in, p.name), ProcedureRef(p.name, p.id, p.declared_in))
    return tuple(sorted(seen.values(), key=lambda p: (p.declared_in, p.id, p.name)))


def _cycle_text(cycle: list[str]) -> str:
    return " -> ".join(cycle + [cycle[0]])


def _report_cycles(rep: Reporter, instances: dict[str, Instance], dependents: dict[str, list[str]],
                   blocked: set[str]) -> None:
    """One diagnostic per dependency cycle (strongly connected component) among `blocked`."""
    dg: nx.DiGraph[str] = nx.DiGraph()
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


Binding = tuple[str, str, str]  # (dependency, required interface, target instance or import)


@dataclass(frozen=True)
class ExportRoute:
    """An export whose gateway is known, before endpoints give its route and itself their ports."""

    export: Export
    node: str  # the exported instance's node
    route: tuple[Hop, ...]  # gateway -> the instance's node (empty when the gateway is that node)


@dataclass
class PlanContext:
    """What the passes of make_plan() share: the input, and what each pass resolved or decided.

    Every field starts empty; the pass named in its comment fills it, and later passes read it.
    """

    dep: Deployment
    reg: InterfaceRegistry
    rep: Reporter = field(default_factory=Reporter)
    # collect_declarations
    nets: dict[str, Network] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)  # add_provided_services adds <node>_<name>
    explicit_groups: dict[str, Group] = field(default_factory=dict)
    imports: dict[str, Import] = field(default_factory=dict)
    # check_networks_and_nodes
    boards: dict[str, Board] = field(default_factory=dict)
    owner_of_address: dict[tuple[str, str], Node] = field(default_factory=dict)  # (network, address) -> node
    # add_provided_services
    provided: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> node -> instance
    synthetic: dict[str, str] = field(default_factory=dict)  # instance -> node providing it
    # check_services
    services: dict[str, Service] = field(default_factory=dict)  # instance -> its service
    # bind_dependencies (place_groups resolves provided targets per node)
    bindings: dict[str, list[Binding]] = field(default_factory=dict)  # caller -> its bound dependencies
    # assign_groups
    group_of: dict[str, Group] = field(default_factory=dict)  # instance -> group
    groups: dict[str, Group] = field(default_factory=dict)  # explicit and implicit groups by name
    # place_groups
    node_of_group: dict[str, tuple[str, Location, bool]] = field(default_factory=dict)  # (node, deploy, via member)
    kernel_group_of: dict[str, Group] = field(default_factory=dict)  # node -> its declared kernel group
    kernel_default: str = KERNEL_GROUP_DEFAULT  # name of an implicit kernel group
    instance_group: dict[str, str] = field(default_factory=dict)
    instance_node: dict[str, str] = field(default_factory=dict)
    # order_start
    start_order: list[str] = field(default_factory=list)
    # plan_call_paths (plan_endpoints fills in ports and object ids)
    overlay: nx.DiGraph[Vertex] = field(default_factory=nx.DiGraph)
    router: Router = field(default_factory=lambda: Router(nx.DiGraph()))
    edges: list[Edge] = field(default_factory=list)
    # plan_exports
    export_routes: dict[str, list[ExportRoute]] = field(default_factory=dict)  # gateway node -> exports
    export_ports: dict[tuple[str, str], dict[int, Location]] = field(default_factory=dict)  # declared ports
    gateway_routes: list[tuple[str, tuple[Hop, ...]]] = field(default_factory=list)
    # size_instances
    mem_of: dict[str, int] = field(default_factory=dict)
    # build_node_plans
    node_plans: dict[str, NodePlan] = field(default_factory=dict)
    # plan_endpoints
    endpoint_port: dict[tuple[str, str], int] = field(default_factory=dict)  # (node, network) -> port
    export_plans: dict[str, list[ExportPlan]] = field(default_factory=dict)  # gateway node -> exports


def _hops(path: list[Vertex], overlay: nx.DiGraph[Vertex], import_port: int | None) -> tuple[Hop, ...]:
    """Vertex path node,net,node,net,... -> hops; ports are filled in once endpoints exist."""
    hops = []
    for i in range(0, len(path) - 2, 2):
        src, net, dst = path[i], path[i + 1], path[i + 2]
        address = overlay.edges[net, dst]["address"]
        name = dst[1] if dst[0] == "node" else f"import:{dst[1]}"
        hops.append(Hop(net[1], src[1], name, address, import_port if dst[0] == "import" and import_port else 0))
    return tuple(hops)


def _with_port(h: Hop, endpoint_port: dict[tuple[str, str], int]) -> Hop:
    """The hop with the port of its destination's endpoint (imports keep theirs)."""
    if h.dst.startswith("import:"):
        return h
    return Hop(h.network, h.src, h.dst, h.address, endpoint_port[(h.dst, h.network)])
