"""The plan document of one node: its dataclasses, the writer and the one loader.

`node_document(plan, np)` is what one node's plan says, as dataclasses; `document_json` writes it
and `plan_documents` serializes every node byte-reproducibly (keys sorted, lists already in a
defined order, nothing depending on time, paths of the build machine or hash seeds).
`load_node_plan` reads a document back into the same dataclasses: the code generator, the CLI
and the reports read plans only through it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ambience.backend import Runtime, runtime_json
from ambience.memory import Layout, Region
from ambience.plan_model import (
    Capability,
    Edge,
    Endpoint,
    ExportPlan,
    Forwarder,
    GroupPlan,
    Hop,
    ImportPlan,
    NextHop,
    NodePlan,
    Plan,
    ProcedureRef,
    ProtectedPair,
)

PLAN_FORMAT = 1

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class NodeInfo:
    name: str
    board: str  # Bazel label of the board
    kind: str  # "mcu" | "hosted"
    cpu: str


@dataclass(frozen=True)
class PlannedDependency:
    """One dependency edge of an instance as its node's plan states it, with its connector."""

    dependency: str
    interface: str
    target: str
    target_kind: str  # "instance" | "import"
    path: str  # "direct" | "ipc" | "rpc"
    connector: str
    target_node: str = ""  # instances only
    target_group: str = ""  # instances only
    route: tuple[Hop, ...] = ()  # rpc only
    cost: int = 0  # rpc only
    object_id: int = 0  # rpc only: the target's object id on its node (0 for an import)
    idempotent: int = 0  # rpc only: mask of @idempotent procedure ids (safe to retry)
    timeout_us: int = 0  # rpc only: the manifest's deadline per call; 0: the first hop's network kind's


@dataclass(frozen=True)
class PlannedInstance:
    name: str
    service: str  # Bazel label of the service
    interface: str
    style: str
    cc_class: str
    header: str
    cc_library: str
    group: str
    start_index: int
    object_id: int
    dependencies: tuple[PlannedDependency, ...]  # by dependency name
    constructor_args: tuple[str, ...]  # dependency names in constructor parameter order
    language: str = "cpp"  # "python": runs in a Python group process (py_module.py_class)
    py_module: str = ""
    py_class: str = ""


@dataclass
class NodeDocument:
    """Everything one node's plan says; the only input of the code generator."""

    deployment: str
    package: str
    node: NodeInfo
    groups: list[GroupPlan]  # in start order
    instances: list[PlannedInstance]  # in start order
    endpoints: list[Endpoint]
    forwarders: list[Forwarder]
    next_hops: list[NextHop]
    capabilities: list[Capability]  # enforced on this node (callee side)
    exports: list[ExportPlan]  # this node is their gateway
    imports: list[ImportPlan]
    memory_needed: int
    memory_budget: int
    layout: Layout | None  # MCU nodes
    runtime: Runtime
    console_entry: str = ""  # the hosted node the operator's console reaches this node through
    protection: list[ProtectedPair] = field(default_factory=list)  # protected pairs this node is an end of
    # interface -> generated Python module, for every interface a Python instance serves or calls
    python_interfaces: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- from the plan


def _dependency(e: Edge, connector: str) -> PlannedDependency:
    return PlannedDependency(e.dependency, e.interface, e.target, e.target_kind, e.path, connector, e.target_node,
                             e.target_group, e.route, e.cost, e.object_id, e.idempotent, e.timeout_us)


def node_document(plan: Plan, np: NodePlan) -> NodeDocument:
    dep = plan.deployment
    if np.runtime is None:
        raise ValueError(f"node '{np.node.name}' has no runtime: plan_runtime() did not run")
    rt = np.runtime
    edges_by_caller: dict[str, list[Edge]] = {}
    for e in np.edges:
        edges_by_caller.setdefault(e.caller, []).append(e)
    instances = []
    for idx, name in enumerate(np.instances):
        svc = dep.services[plan.instances_by_name[name].service]
        deps = tuple(_dependency(e, rt.connectors[(e.caller, e.dependency)]) for e in edges_by_caller.get(name, []))
        instances.append(PlannedInstance(name, svc.label, svc.interface, svc.style, svc.cc_class, svc.header,
                                         svc.cc_library, plan.instance_group[name], idx, np.object_ids[name], deps,
                                         tuple(d for d, _ in svc.dependencies), svc.language, svc.py_module,
                                         svc.py_class))
    python_interfaces: dict[str, str] = {}
    for inst in instances:
        if inst.language != "python":
            continue
        used = {inst.interface} | {d.interface for d in inst.dependencies}
        used |= {c.interface for c in np.capabilities if c.callee == inst.name}
        for iface in sorted(used):
            found = plan.interfaces.get(iface)
            if found is not None and found.py_module:
                python_interfaces[iface] = found.py_module
    return NodeDocument(
        deployment=dep.name, package=dep.package,
        node=NodeInfo(np.node.name, np.board.label, np.board.kind, np.board.cpu),
        groups=np.groups, instances=instances, endpoints=np.endpoints, forwarders=np.forwarders,
        next_hops=np.next_hops, capabilities=np.capabilities, exports=np.exports, imports=np.imports,
        memory_needed=np.memory_needed, memory_budget=np.memory_budget, layout=np.layout, runtime=rt,
        console_entry=np.console_entry, python_interfaces=python_interfaces, protection=np.protection)


# ----------------------------------------------------------------------------- writer


def _export_json(x: ExportPlan) -> JsonObject:
    out: JsonObject = {"instance": x.instance, "node": x.node, "network": x.network, "port": x.port,
                       "route": [hop_json(h) for h in x.route], "object_id": x.object_id}
    if x.http is not None:  # written only with a door: plans without one stay as they were
        out["http"] = x.http
        out["door"] = x.door
        out["idempotent"] = f"0x{x.idempotent:x}"
    return out


def hop_json(h: Hop) -> JsonObject:
    return {"network": h.network, "from": h.src, "to": h.dst, "address": h.address, "port": h.port}


def dependency_json(d: PlannedDependency) -> JsonObject:
    out: JsonObject = {"dependency": d.dependency, "interface": d.interface, "target": d.target,
                       "target_kind": d.target_kind, "path": d.path, "connector": d.connector}
    if d.target_kind == "instance":
        out["target_node"] = d.target_node
        out["target_group"] = d.target_group
    if d.path == "rpc":
        out["route"] = [hop_json(h) for h in d.route]
        out["cost"] = d.cost
        out["object_id"] = d.object_id
        out["idempotent"] = f"0x{d.idempotent:x}"
        if d.timeout_us:
            out["timeout_us"] = d.timeout_us
    return out


def instance_json(i: PlannedInstance) -> JsonObject:
    out: JsonObject = {"name": i.name, "service": i.service, "interface": i.interface, "style": i.style,
                       "cc_class": i.cc_class, "header": i.header, "cc_library": i.cc_library, "group": i.group,
                       "start_index": i.start_index, "object_id": i.object_id,
                       "dependencies": [dependency_json(d) for d in i.dependencies],
                       "constructor_args": list(i.constructor_args)}
    if i.language != "cpp":
        out.update({"language": i.language, "py_module": i.py_module, "py_class": i.py_class})
    return out


def capability_json(c: Capability) -> JsonObject:
    out: JsonObject = {"caller": c.caller, "caller_node": c.caller_node, "callee": c.callee, "interface": c.interface,
                       "path": c.path,
                       "procedures": [{"name": p.name, "id": p.id, "declared_in": p.declared_in} for p in c.procedures]}
    if c.token_required:
        out["token_required"] = True
    return out


def node_info_json(n: NodeInfo) -> JsonObject:
    return {"name": n.name, "board": n.board, "kind": n.kind, "cpu": n.cpu}


def _layout_json(lay: Layout) -> JsonObject:
    return {
        "ram_base": lay.ram_base,
        "ram_size": lay.ram_size,
        "regions": [{"group": r.group, "base": r.base, "size": r.size, "needed": r.needed, "waste": r.waste}
                    for r in lay.regions],
        "kernel": {"base": lay.kernel_base, "size": lay.kernel_size, "needed": lay.kernel_needed},
        "stack_reserved": lay.top_reserved,
        "gaps": lay.gaps,
        "waste": lay.waste,
    }


def document_json(doc: NodeDocument) -> JsonObject:
    memory: JsonObject = {"needed": doc.memory_needed, "budget": doc.memory_budget}
    if doc.layout is not None:
        memory["layout"] = _layout_json(doc.layout)
    return {
        "ambience_plan": PLAN_FORMAT,
        "deployment": doc.deployment,
        "package": doc.package,
        "node": node_info_json(doc.node),
        "groups": [{"name": g.name, "kernel": g.kernel, "implicit": g.implicit, "instances": g.instances,
                    "memory_needed": g.memory_needed, "state_bytes": g.state_bytes, "stack_bytes": g.stack_bytes}
                   for g in doc.groups],
        "instances": [instance_json(i) for i in doc.instances],
        "endpoints": [{"network": e.network, "kind": e.kind, "address": e.address,
                       ("port" if e.kind == "udp" else "channel"): e.port} for e in doc.endpoints],
        "forwarders": [{"from_network": f.from_network, "to_network": f.to_network, "destinations": f.destinations}
                       for f in doc.forwarders],
        "next_hops": [{"destination": h.destination, **hop_json(h.hop)} for h in doc.next_hops],
        "capabilities": [capability_json(c) for c in doc.capabilities],
        "exports": [_export_json(x) for x in doc.exports],
        "imports": [{"name": i.name, "interface": i.interface, "network": i.network, "address": i.address,
                     "port": i.port} for i in doc.imports],
        "memory": memory,
        "runtime": runtime_json(doc.runtime),
        "console": {"entry": doc.console_entry},
        "protection": [{"principal": p.principal, "caller_node": p.caller_node, "caller_instance": p.caller_instance,
                        "callee_node": p.callee_node, "encrypt": p.encrypt, "because": p.because}
                       for p in doc.protection],
        **({"python_interfaces": dict(sorted(doc.python_interfaces.items()))} if doc.python_interfaces else {}),
    }


def node_plan_json(plan: Plan, np: NodePlan) -> JsonObject:
    return document_json(node_document(plan, np))


def dumps(doc: JsonObject) -> str:
    # Indented (one key a line) so golden files and reviews show plan changes line by line.
    return json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True) + "\n"


def plan_documents(plan: Plan) -> dict[str, str]:
    """node name -> plan JSON text."""
    return {name: dumps(node_plan_json(plan, np)) for name, np in plan.nodes.items()}


# ----------------------------------------------------------------------------- loader


def _hop(d: JsonObject) -> Hop:
    return Hop(d["network"], d["from"], d["to"], d["address"], d["port"])


def _planned_dependency(d: JsonObject) -> PlannedDependency:
    return PlannedDependency(d["dependency"], d["interface"], d["target"], d["target_kind"], d["path"],
                             d["connector"], d.get("target_node", ""), d.get("target_group", ""),
                             tuple(_hop(h) for h in d.get("route", [])), d.get("cost", 0), d.get("object_id", 0),
                             int(d.get("idempotent", "0x0"), 16), int(d.get("timeout_us", 0)))


def _planned_instance(d: JsonObject) -> PlannedInstance:
    return PlannedInstance(d["name"], d["service"], d["interface"], d["style"], d["cc_class"], d["header"],
                           d["cc_library"], d["group"], d["start_index"], d["object_id"],
                           tuple(_planned_dependency(x) for x in d["dependencies"]), tuple(d["constructor_args"]),
                           d.get("language", "cpp"), d.get("py_module", ""), d.get("py_class", ""))


def _capability(d: JsonObject) -> Capability:
    procs = tuple(ProcedureRef(p["name"], p["id"], p["declared_in"]) for p in d["procedures"])
    return Capability(d["caller"], d["caller_node"], d["callee"], d["interface"], d["path"], procs,
                      bool(d.get("token_required", False)))


def _layout(d: JsonObject) -> Layout:
    regions = tuple(Region(r["group"], r["base"], r["size"], r["needed"]) for r in d["regions"])
    k = d["kernel"]
    return Layout(d["ram_base"], d["ram_size"], regions, k["base"], k["size"], k["needed"], d["stack_reserved"],
                  d["gaps"])


def load_node_plan(doc: JsonObject) -> NodeDocument:
    """A node's plan document (parsed JSON) as dataclasses; raises ValueError on another format."""
    if doc.get("ambience_plan") != PLAN_FORMAT:
        raise ValueError(f"not an ambience plan document (expected \"ambience_plan\": {PLAN_FORMAT})")
    instances = [_planned_instance(i) for i in doc["instances"]]
    r = doc["runtime"]
    runtime = Runtime(r["kind"], r["reason"], dict(r["group_ids"]), dict(r["ring_ids"]), dict(r["relay_ids"]),
                      {(i.name, d.dependency): d.connector for i in instances for d in i.dependencies},
                      dict(r["node_ids"]), [(c["node"], c["instance"], c["object_id"]) for c in r["rpc_callers"]])
    memory = doc["memory"]
    return NodeDocument(
        deployment=doc["deployment"], package=doc["package"],
        node=NodeInfo(doc["node"]["name"], doc["node"]["board"], doc["node"]["kind"], doc["node"]["cpu"]),
        groups=[GroupPlan(g["name"], g["kernel"], g["implicit"], list(g["instances"]), g["memory_needed"],
                          g["state_bytes"], g["stack_bytes"]) for g in doc["groups"]],
        instances=instances,
        endpoints=[Endpoint(e["network"], e["kind"], e["address"], e["port"] if "port" in e else e["channel"])
                   for e in doc["endpoints"]],
        forwarders=[Forwarder(f["from_network"], f["to_network"], list(f["destinations"])) for f in doc["forwarders"]],
        next_hops=[NextHop(h["destination"], _hop(h)) for h in doc["next_hops"]],
        capabilities=[_capability(c) for c in doc["capabilities"]],
        exports=[ExportPlan(x["instance"], x["node"], x["network"], x["port"], tuple(_hop(h) for h in x["route"]),
                            x["object_id"], x.get("http"), x.get("door", 0), int(x.get("idempotent", "0x0"), 16))
                for x in doc["exports"]],
        imports=[ImportPlan(i["name"], i["interface"], i["network"], i["address"], i["port"]) for i in doc["imports"]],
        memory_needed=memory["needed"], memory_budget=memory["budget"],
        layout=_layout(memory["layout"]) if "layout" in memory else None,
        runtime=runtime, console_entry=doc.get("console", {}).get("entry", ""),
        python_interfaces=dict(doc.get("python_interfaces", {})),
        protection=[ProtectedPair(p["principal"], p["caller_node"], p["caller_instance"], p["callee_node"],
                                  bool(p["encrypt"]), p["because"]) for p in doc.get("protection", [])])


def load_node_plan_text(text: str) -> NodeDocument:
    return load_node_plan(json.loads(text))
