"""Planner pass `plan_protection`: which pairs of ends protect their requests, and how.

Every cross-node request is authenticated end to end, origin to destination (forwarders in
between hold no key for it): the pair is (calling principal, callee node), its key derived at
build time from the deployment's key store (keys.py, keygen.py). The plan decides only what is
public: the pairs each node is an end of, and whether a pair's payloads are encrypted too —
they are unless every network on the route is declared `encrypted = True` (a radio with link
encryption, say): there the compiler leaves encryption out, and `ambience explain` says so.

The console (`ambience call`) and the HTTP doors of exports call from outside the cluster (node
number 0); their pairs always encrypt: the way in is an ordinary network.
"""
from __future__ import annotations

from ambience.backend import CONSOLE_INSTANCE_ID, CONSOLE_NODE
from ambience.plan_model import ExportPlan, PlanContext, ProtectedPair

ANY_INSTANCE = -1


def _because(networks: list[str], clear: list[str]) -> str:
    if not clear:
        return f"every network on the way ({', '.join(networks)}) is encrypted: tag only, no encryption"
    return f"{', '.join(clear)} {'is' if len(clear) == 1 else 'are'} not encrypted: payloads encrypted (AEAD)"


def plan_protection(ctx: PlanContext) -> None:
    """Protected pairs per node (both ends list each pair they are an end of)."""
    routes: dict[tuple[str, str], list[str]] = {}
    for e in ctx.edges:
        if e.path != "rpc" or e.target_kind != "instance":
            continue
        caller_node = ctx.instance_node[e.caller]
        nets = routes.setdefault((caller_node, e.target_node), [])
        nets += [h.network for h in e.route if h.network not in nets]
    pairs: list[ProtectedPair] = []
    for (caller_node, callee_node), nets in sorted(routes.items()):
        clear = [n for n in nets if not ctx.nets[n].encrypted]
        pairs.append(ProtectedPair(f"node:{caller_node}", caller_node, ANY_INSTANCE, callee_node, bool(clear),
                                   _because(nets, clear)))
    for name, np in sorted(ctx.node_plans.items()):
        if any(c.caller_node == CONSOLE_NODE for c in np.capabilities):
            pairs.append(ProtectedPair("console", CONSOLE_NODE, CONSOLE_INSTANCE_ID, name, True,
                                       "the operator's console calls from outside the cluster: payloads encrypted"))
    # Doors are instances 1.. of node 0 (the console is 0), numbered by plan_endpoints.
    for gateway, exports in sorted(ctx.export_plans.items()):
        for ex in door_exports(exports):
            pairs.append(ProtectedPair(door_principal(ex.instance, ex.network), CONSOLE_NODE, ex.door, ex.node, True,
                                       f"the HTTP door of '{ex.instance}' on {gateway} calls from outside: "
                                       "payloads encrypted"))
    # Indexed by end: one pass over the pairs, however many nodes (the scaling test plans 4000).
    ends: dict[str, list[ProtectedPair]] = {name: [] for name in ctx.node_plans}
    gateway_of = {door_principal(ex.instance, ex.network): gateway for gateway, exports in ctx.export_plans.items()
                  for ex in door_exports(exports)}
    for p in pairs:
        for name in dict.fromkeys((p.caller_node, p.callee_node, gateway_of.get(p.principal, ""))):
            if name in ends:
                ends[name].append(p)
    for name, np in ctx.node_plans.items():
        np.protection = ends[name]


def door_principal(instance: str, network: str) -> str:
    return f"door:{instance}@{network}"


def door_exports(exports: list[ExportPlan]) -> list[ExportPlan]:
    """The exports of one gateway that have an HTTP door, in plan order."""
    return [ex for ex in exports if ex.http is not None]

