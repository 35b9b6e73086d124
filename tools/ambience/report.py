"""Human-readable views of a plan: summary table, sizes, explanations, Graphviz graph.

Pure functions from a Plan to text; the CLI only chooses which to print.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ambience.planner import Edge, Plan

PATH_WORD = {"direct": "direct", "ipc": "IPC", "rpc": "RPC"}


def _via(e: Edge) -> str:
    """`caller.dependency -> target` and how: which instance of a group calls, over what."""
    call = f"{e.caller}.{e.dependency} -> {e.target}"
    if e.path == "rpc":
        nets = " > ".join(h.network for h in e.route)
        return f"{call} via {nets} (RPC)"
    if e.path == "ipc":
        return f"{call} (IPC)"
    return f"{call} (direct)"


def group_label(name: str, kernel: bool) -> str:
    """A group's name, and whether it is its node's kernel group (the implicit one is "kernel")."""
    if not kernel:
        return name
    return "kernel group" if name == "kernel" else f"{name} (kernel group)"


def instance_label(plan: Plan, name: str) -> str:
    """An instance's name; a node-provided one (node(provides = ...)) says which service it is."""
    node = plan.provided_by.get(name)
    if node is None:
        return name
    return f"{name} (provided by node {node}: {name[len(node) + 1:]})"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


@dataclass(frozen=True)
class SummaryRow:
    """One group of one node in the summary (`ambience plan`; its JSON rows have these keys)."""

    node: str
    board: str
    group: str
    instances: str
    reaches: list[str]


def summary_rows(plan: Plan) -> list[SummaryRow]:
    rows = []
    for nname, np in plan.nodes.items():
        edges_by_group: dict[str, list[Edge]] = {}
        for e in np.edges:
            edges_by_group.setdefault(plan.instance_group[e.caller], []).append(e)
        for g in np.groups:
            if g.implicit and g.kernel and not g.instances and not np.forwarders:
                continue
            reaches = [_via(e) for e in edges_by_group.get(g.name, [])]
            for gw in plan.nodes.values():
                for ex in gw.exports:
                    if ex.instance in g.instances and ex.node == nname:
                        via = f" via {ex.route[0].src}" if ex.route else ""
                        reaches.append(f"{ex.instance} exported on {ex.network}:{ex.port}{via}")
            if g.kernel and np.forwarders:
                reaches += [f"forwards {f.from_network} > {f.to_network}" for f in np.forwarders]
            rows.append(SummaryRow(nname, np.board.short_name, group_label(g.name, g.kernel),
                                   ", ".join(instance_label(plan, i) for i in sorted(g.instances)) or "-", reaches))
        if not any(r.node == nname for r in rows):
            nets = ", ".join(f"{n} {a}" for n, a in np.node.networks)
            rows.append(SummaryRow(nname, np.board.short_name, "-", "-",
                                   [f"(nothing deployed; on {nets})" if nets else "(nothing deployed)"]))
        # what the node's memory holds at boot (node(preload = ...)), on its first row
        first = next(r for r in rows if r.node == nname)
        first.reaches.extend(f"{region} preloaded with {label}" for region, label in np.node.preload)
    return rows


def summary(plan: Plan) -> str:
    out = [["node", "board", "group", "instances", "reaches"]]
    for r in summary_rows(plan):
        reaches = r.reaches or [""]
        out.append([r.node, r.board, r.group, r.instances, reaches[0]])
        for extra in reaches[1:]:
            out.append(["", "", "", "", extra])
    return table(out)


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def sizes(plan: Plan) -> str:
    out = [["node", "board", "part", "base", "size", "needed", "waste"]]
    for nname, np in plan.nodes.items():
        out.append([nname, np.board.short_name, "total", "", _kib(np.memory_budget) + " budget",
                    _kib(np.memory_needed), ""])
        if np.layout is not None:
            for r in np.layout.regions:
                out.append(["", "", f"group {r.group} (MPU)", f"0x{r.base:08x}", _kib(r.size), _kib(r.needed),
                            _kib(r.waste)])
            out.append(["", "", "kernel (data, bss, heap)", f"0x{np.layout.kernel_base:08x}",
                        _kib(np.layout.kernel_size), _kib(np.layout.kernel_needed), ""])
            out.append(["", "", "main stack", "", _kib(np.layout.top_reserved), "", ""])
        else:
            for g in np.groups:
                if g.instances or not g.kernel:
                    out.append(["", "", f"group {g.name}", "", "", _kib(g.memory_needed), ""])
    return table(out)


def sizes_json(plan: Plan) -> dict[str, dict[str, Any]]:
    res: dict[str, dict[str, Any]] = {}
    for nname, np in plan.nodes.items():
        d: dict[str, Any] = {"board": np.board.label, "needed": np.memory_needed, "budget": np.memory_budget}
        if np.layout is not None:
            d["regions"] = [{"group": r.group, "base": r.base, "size": r.size, "needed": r.needed, "waste": r.waste}
                            for r in np.layout.regions]
            d["kernel"] = {"base": np.layout.kernel_base, "size": np.layout.kernel_size,
                           "needed": np.layout.kernel_needed}
            d["waste"] = np.layout.waste
        res[nname] = d
    return res


RUNTIME_WORDS = {
    "hosted_processes": "hosted: the kernel group in the supervisor, every other group a sandboxed process",
    "hosted_single": "hosted: one process (only a kernel group)",
    "mcu_isolated": "microcontroller: user groups unprivileged in their MPU regions, calls through the kernel",
    "mcu_single": "microcontroller: all groups in one privileged image",
}


def explain(plan: Plan, name: str) -> str | None:
    dep = plan.deployment
    inst = plan.instances_by_name.get(name)
    if inst is None or name not in plan.instance_node:
        return None
    node = plan.instance_node[name]
    group = plan.instance_group[name]
    np = plan.nodes[node]
    svc = dep.services[inst.service]
    gdecl = next((g for g in dep.groups if g.name == group), None)
    ddecl = next((d for d in dep.deploys if group in d.groups and d.node == node), None)
    lines = [f"instance '{name}' ({svc.label}, implements {svc.interface})",
             f"  declared at {inst.loc}"]
    if svc.language == "python":
        lines.append(f"  written in Python ({svc.py_module}.{svc.py_class}): its group is a Python group process "
                     "(CPython, asyncio), sandboxed and restarted like any group")
    if name in plan.provided_by:
        lines.append(f"  provided by node '{plan.provided_by[name]}' (node(provides = ...)): runs in its kernel group "
                     f"'{group}'; dependencies on this service from instances on that node are bound here")
    elif gdecl is not None:
        others = ", ".join(x for x in gdecl.instances if x != name) or "no other instance"
        lines.append(f"  runs in group '{group}' (declared at {gdecl.loc}) with {others}")
    else:
        lines.append(f"  runs in its own default group '{group}' (it is in no group())")
    lines.append(f"  on node '{node}' (board {np.board.short_name}, {np.board.cpu})"
                 + (f", deployed at {ddecl.loc}" if ddecl else ""))
    rt = np.runtime
    if rt is not None:
        lines.append(f"  node runtime: {RUNTIME_WORDS[rt.kind]}"
                     + (f" (not isolated: {rt.reason})" if rt.reason else ""))
    lines.append(f"  starts as number {np.instances.index(name) + 1} of {len(np.instances)} on its node"
                 " (after every local dependency)")
    my_edges = [e for e in np.edges if e.caller == name]
    if my_edges:
        lines.append("  dependencies:")
    for e in my_edges:
        if e.path == "direct":
            why = f"same group '{group}': a direct call, no copy"
        elif e.path == "ipc":
            why = f"'{e.target}' is in group '{e.target_group}' on the same node: IPC through the kernel's rings"
        else:
            route = ", then ".join(f"{h.src} -> {h.dst} over {h.network} ({h.address}:{h.port})" for h in e.route)
            where = f"node '{e.target_node}'" if e.target_kind == "instance" else "outside the cluster (import)"
            why = f"'{e.target}' runs on {where}: RPC, least-cost route (cost {e.cost}): {route}"
            relays = [h.dst for h in e.route[:-1]]
            if relays:
                why += f"; forwarded by the kernel group of {', '.join(relays)}"
            if e.timeout_us:
                why += f"; each call ends by {e.timeout_us / 1000:g} ms (the manifest's timeout)"
            pair = next((p for p in np.protection if p.principal == f"node:{node}"
                         and p.callee_node == e.target_node), None)
            if pair is not None:
                why += (f"; authenticated end to end with the {node}->{e.target_node} key (tag and replay window"
                        f" checked on {e.target_node}); {pair.because}")
        connector = rt.connectors.get((e.caller, e.dependency)) if rt is not None else None
        langs = (svc.language, _language(plan, e.target))
        if "python" in langs and e.path != "rpc":
            why += "; " + _python_edge(e.path, langs)
        lines.append(f"    {e.dependency} ({e.interface}) -> {e.target}: {why}"
                     + (f" [connector {connector}]" if connector else ""))
    callers = [c for c in plan.nodes[node].capabilities if c.callee == name]
    if callers:
        lines.append("  may be called by:")
        for c in callers:
            procs = ", ".join(p.name for p in c.procedures)
            who = ("the operator's console (ambience call)" if c.caller_node == "console" else
                   c.caller + (f" on {c.caller_node}" if c.caller_node else " (token required)"))
            lines.append(f"    {who} via {PATH_WORD[c.path]}: {procs}")
    return "\n".join(lines)


def _language(plan: Plan, instance: str) -> str:
    inst = plan.instances_by_name.get(instance)
    svc = plan.deployment.services.get(inst.service) if inst is not None else None
    return svc.language if svc is not None else "cpp"


def _python_edge(path: str, langs: tuple[str, str]) -> str:
    """How a call between a Python and another service travels (runtime/hosted/python)."""
    if path == "direct":
        return "Python to Python in one interpreter: the object itself, awaited"
    words = {"cpp": "C++", "python": "Python"}
    return (f"{words[langs[0]]} -> {words[langs[1]]}: a zero-copy call block over the ring, through the "
            "supervisor (spans and bytes by reference into the caller's arena, read in place)")


def _q(s: str) -> str:
    return '"' + s.replace('"', '\\"') + '"'


def graph_dot(plan: Plan) -> str:
    dep = plan.deployment
    out = [f"digraph {_q(dep.name)} {{", "  graph [rankdir=LR, fontname=Helvetica, compound=true];",
           "  node [fontname=Helvetica, fontsize=10]; edge [fontname=Helvetica, fontsize=9];"]
    for nname, np in plan.nodes.items():
        out.append(f"  subgraph {_q('cluster_node_' + nname)} {{")
        board = np.board.short_name + ("" if np.board.cpu in np.board.short_name else f", {np.board.cpu}")
        nlabel = "\\n".join([f"{nname} ({board})"] + [f"{r} preloaded with {f}" for r, f in np.node.preload])
        out.append(f"    label={_q(nlabel)}; style=rounded; color=gray40;")
        out.append(f"    {_q('node:' + nname)} [shape=point, width=0.08, label=\"\"];")
        for g in np.groups:
            if g.kernel and not g.instances and not np.forwarders:
                continue
            out.append(f"    subgraph {_q('cluster_group_' + nname + '_' + g.name)} {{")
            style = "filled" if g.kernel else "dashed"
            glabel = _q(group_label(g.name, g.kernel))
            out.append(f"      label={glabel}; style={style}; fillcolor=lightyellow;")
            for i in g.instances:
                ilabel = instance_label(plan, i).replace(" (", "\\n(", 1)
                out.append(f"      {_q('inst:' + i)} [shape=box, style=rounded, label={_q(ilabel)}];")
            if g.kernel:
                for f in np.forwarders:
                    fid = f"fwd:{nname}:{f.from_network}:{f.to_network}"
                    flabel = _q(f"forward {f.from_network} > {f.to_network}")
                    out.append(f"      {_q(fid)} [shape=cds, label={flabel}];")
            out.append("    }")
        out.append("  }")
    for net in sorted(dep.networks, key=lambda n: n.name):
        label = f"{net.name}\\n{net.kind}, cost {net.hop_cost}" + (", encrypted" if net.encrypted else "")
        out.append(f"  {_q('net:' + net.name)} [shape=ellipse, style=filled, fillcolor=lightblue, label={_q(label)}];")
    for nname, np in plan.nodes.items():
        for net_name, addr in np.node.networks:
            out.append(f"  {_q('node:' + nname)} -> {_q('net:' + net_name)} "
                       f"[dir=none, color=gray50, label={_q(addr)}];")
    for imp in sorted(dep.imports, key=lambda i: i.name):
        out.append(f"  {_q('inst:' + imp.name)} [shape=box, style=dotted, label={_q(imp.name + ' (import)')}];")
        out.append(f"  {_q('net:' + imp.network)} -> {_q('inst:' + imp.name)} [dir=none, style=dotted];")
    colors = {"direct": "black", "ipc": "blue", "rpc": "red"}
    for e in plan.edges:
        label = e.dependency + (" via " + " > ".join(h.network for h in e.route) if e.route else "") + \
            f" ({PATH_WORD[e.path]})"
        style = "dashed" if e.path == "rpc" else "solid"
        out.append(f"  {_q('inst:' + e.caller)} -> {_q('inst:' + e.target)} "
                   f"[color={colors[e.path]}, style={style}, label={_q(label)}];")
    for np in plan.nodes.values():
        for ex in np.exports:
            eid = f"export:{ex.instance}:{ex.network}"
            elabel = f"exported on {ex.network}:{ex.port} (token)"
            out.append(f"  {_q(eid)} [shape=plaintext, label={_q(elabel)}];")
            out.append(f"  {_q(eid)} -> {_q('inst:' + ex.instance)} [style=dotted];")
    out.append("}")
    return "\n".join(out) + "\n"
