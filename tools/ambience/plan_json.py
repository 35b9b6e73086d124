"""Serializes a Plan to one JSON document per node, byte-reproducible.

Keys are sorted, lists are already in a defined order, and nothing depends on time, paths of the
build machine or hash seeds.
"""
from __future__ import annotations

import json

from ambience.backend import runtime_json
from ambience.planner import Edge, NodePlan, Plan, _hop_json

PLAN_FORMAT = 1


def _edge_json(e: Edge, connector: str) -> dict:
    out = {"dependency": e.dependency, "interface": e.interface, "target": e.target, "target_kind": e.target_kind,
           "path": e.path, "connector": connector}
    if e.target_kind == "instance":
        out["target_node"] = e.target_node
        out["target_group"] = e.target_group
    if e.path == "rpc":
        out["route"] = [_hop_json(h) for h in e.route]
        out["cost"] = e.cost
        out["object_id"] = e.object_id
    return out


def node_plan_json(plan: Plan, np: NodePlan) -> dict:
    dep = plan.deployment
    services = dep.services
    inst_by_name = plan.instances_by_name
    edges_by_caller: dict[str, list[Edge]] = {}
    for e in np.edges:
        edges_by_caller.setdefault(e.caller, []).append(e)
    instances = []
    for idx, name in enumerate(np.instances):
        svc = services[inst_by_name[name].service]
        instances.append({
            "name": name,
            "service": svc.label,
            "interface": svc.interface,
            "style": svc.style,
            "cc_class": svc.cc_class,
            "header": svc.header,
            "cc_library": svc.cc_library,
            "group": plan.instance_group[name],
            "start_index": idx,
            "object_id": np.object_ids[name],
            "dependencies": [_edge_json(e, np.runtime.connectors[(e.caller, e.dependency)])
                             for e in edges_by_caller.get(name, [])],
            "constructor_args": [d for d, _ in svc.dependencies],
        })
    doc = {
        "ambience_plan": PLAN_FORMAT,
        "deployment": dep.name,
        "package": dep.package,
        "node": {
            "name": np.node.name,
            "board": np.board.label,
            "kind": np.board.kind,
            "cpu": np.board.cpu,
        },
        "groups": [{"name": g.name, "kernel": g.kernel, "implicit": g.implicit, "instances": g.instances,
                    "memory_needed": g.memory_needed, "state_bytes": g.state_bytes, "stack_bytes": g.stack_bytes}
                   for g in np.groups],
        "instances": instances,
        "endpoints": np.endpoints,
        "forwarders": [{"from_network": f.from_network, "to_network": f.to_network, "destinations": f.destinations}
                       for f in np.forwarders],
        "next_hops": np.next_hops,
        "capabilities": np.capabilities,
        "exports": np.exports,
        "imports": np.imports,
        "memory": {"needed": np.memory_needed, "budget": np.memory_budget},
        "runtime": runtime_json(np.runtime),
    }
    if np.layout is not None:
        lay = np.layout
        doc["memory"]["layout"] = {
            "ram_base": lay.ram_base,
            "ram_size": lay.ram_size,
            "regions": [{"group": r.group, "base": r.base, "size": r.size, "needed": r.needed, "waste": r.waste}
                        for r in lay.regions],
            "kernel": {"base": lay.kernel_base, "size": lay.kernel_size, "needed": lay.kernel_needed},
            "stack_reserved": lay.top_reserved,
            "gaps": lay.gaps,
            "waste": lay.waste,
        }
    return doc


def dumps(doc: dict) -> str:
    # Indented (one key a line) so golden files and reviews show plan changes line by line.
    return json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True) + "\n"


def plan_documents(plan: Plan) -> dict[str, str]:
    """node name -> plan JSON text."""
    return {name: dumps(node_plan_json(plan, np)) for name, np in plan.nodes.items()}
