"""The deployment planner: validates a deployment and decides everything the nodes need.

`make_plan(deployment, interfaces)` is a pure function: named passes over one PlanContext, in
order. It reports every user error it can find as a diagnostic pointing into the BUILD file
(raising DiagnosticError with all of them) and otherwise returns a Plan: per node, its groups,
instances, the call path and connector of every dependency edge, routes and forwarders, RPC
endpoints, start order, capabilities, the MPU memory layout (MCUs) and the node's runtime.
"""
from __future__ import annotations

from ambience import decide, protection, resolve
from ambience.backend import check_mask_limits, number_rpc, plan_runtime
from ambience.interfaces import InterfaceRegistry
from ambience.model import Deployment
from ambience.plan_model import Edge, Forwarder, GroupPlan, Hop, NodePlan, Plan, PlanContext

__all__ = ["Edge", "Forwarder", "GroupPlan", "Hop", "NodePlan", "Plan", "PASSES", "make_plan"]

# Passes that need a consistent model run only after the ones before them reported nothing.
RESOLVE = (
    resolve.collect_declarations,
    resolve.check_networks_and_nodes,
    resolve.check_imports,
    resolve.add_provided_services,
    resolve.check_services,
    resolve.bind_dependencies,
    resolve.assign_groups,
    resolve.place_groups,
    resolve.check_languages,
    resolve.order_start,
)
DECIDE = (
    decide.plan_call_paths,
    decide.plan_exports,
    decide.size_instances,
    decide.build_node_plans,
    decide.plan_endpoints,
    decide.plan_forwarders,
    decide.plan_capabilities,
    decide.plan_console,
    protection.plan_protection,
    decide.order_groups,
    decide.attach_edges,
    decide.check_hosted_limits,
    decide.plan_memory,
)
PASSES = RESOLVE + DECIDE


def make_plan(dep: Deployment, reg: InterfaceRegistry) -> Plan:
    ctx = PlanContext(dep, reg)
    for run in RESOLVE + DECIDE[:DECIDE.index(decide.build_node_plans)]:
        run(ctx)
    ctx.rep.check()  # everything below needs a consistent model
    for run in DECIDE[DECIDE.index(decide.build_node_plans):]:
        run(ctx)
    ctx.rep.check()
    check_mask_limits(ctx.node_plans, ctx.services, ctx.instances, ctx.rep)
    ctx.rep.check()
    for np in ctx.node_plans.values():
        np.runtime = plan_runtime(np)
    number_rpc(ctx.node_plans)
    return Plan(
        deployment=dep, interfaces=reg, nodes=ctx.node_plans, instance_node=ctx.instance_node,
        instance_group=ctx.instance_group, edges=ctx.edges, start_order=ctx.start_order, overlay=ctx.overlay,
        router_stats={"searches": ctx.router.searches_started, "settled": ctx.router.vertices_settled},
        instances_by_name=ctx.instances,
        provided_by=ctx.synthetic,
    )
