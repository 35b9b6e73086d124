"""Whatever a BUILD file declares, the compiler answers with a plan or with diagnostics: never a
Python exception. Random manifests (hypothesis) over a small vocabulary of names, so that many
of them are almost right. Its twin manifest_fuzz.py (//tools:manifest_fuzz_test) mutates the
inputs bundles of the real deployments instead, coverage-guided."""
from __future__ import annotations

from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ambience.codegen import main_cc
from ambience.diagnostics import DiagnosticError, format_all
from ambience.plan_json import load_node_plan_text, plan_documents
from ambience.planner import make_plan
from ambience.testlib import ManifestBuilder, camera_trap_interfaces, camera_trap_services

NAMES = ["a", "b", "c", "lan", "radio", "db", "9x", ""]
SERVICES = ["//services/motion", "//services/detection", "//services/recognition", "//services/database",
            "//services/nope", ":local"]
BOARDS = ["//platforms:linux_x86_64", "//platforms/boards:mps2_an386", "//platforms/boards:mps2_an500", "//x:y"]
DEPS = ["handler", "frames", "next", "log", "extra"]

name = st.sampled_from(NAMES)
weird = st.one_of(st.none(), st.integers(-5, 70000), st.text(max_size=4), st.booleans(), st.lists(name, max_size=2))

network = st.fixed_dictionaries({"decl": st.just("network"), "name": name,
                                 "kind": st.sampled_from(["udp", "serial", "tcp"]),
                                 "hop_cost": st.one_of(st.integers(-1, 20), weird)})
node = st.fixed_dictionaries({"decl": st.just("node"), "name": name, "board": st.sampled_from(BOARDS),
                              "networks": st.dictionaries(name, st.sampled_from(["1", "2", "10.0.0.1", "x:y"]),
                                                          max_size=2),
                              "memory": st.one_of(st.none(), st.sampled_from(["64K", "1M", "lots", 10])),
                              "provides": st.one_of(st.none(), st.dictionaries(
                                  st.sampled_from(["db", "log", "a", "x-y"]), st.sampled_from(SERVICES), max_size=2))})
instance = st.fixed_dictionaries({"decl": st.just("instance"), "name": name, "service": st.sampled_from(SERVICES),
                                  "dependencies": st.dictionaries(st.sampled_from(DEPS), name, max_size=2)})
group = st.fixed_dictionaries({"decl": st.just("group"), "name": name, "instances": st.lists(name, max_size=3),
                               "kernel": st.one_of(st.booleans(), weird)})
deploy = st.fixed_dictionaries({"decl": st.just("deploy"), "node": name, "groups": st.lists(name, max_size=3)})
export = st.fixed_dictionaries({"decl": st.just("export"), "instance": name, "network": name,
                                "port": st.one_of(st.none(), st.integers(-1, 70000))})
imp = st.fixed_dictionaries({"decl": st.just("import_service"), "name": name,
                             "interface": st.sampled_from(["camera_trap.EventLog", "x.Y"]), "network": name,
                             "address": st.sampled_from(["10.9.9.9", "3", ""])})
declaration = st.one_of(network, node, instance, group, deploy, export, imp,
                        st.fixed_dictionaries({"decl": st.sampled_from(["node", "bogus"]), "name": weird}))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(declaration, max_size=14))
def test_random_manifests_give_a_plan_or_diagnostics(decls):
    b = ManifestBuilder()
    camera_trap_services(b)
    for k, d in enumerate(decls):
        b.declarations.append({**{key: v for key, v in d.items() if v is not None}, "loc": f"{b.build_file}:{k + 3}:1"})
    dep, rep = b.model()
    if rep.has_errors:
        assert format_all(rep.diagnostics, [])
        return
    try:
        plan = make_plan(dep, camera_trap_interfaces())
    except DiagnosticError as e:
        text = format_all(e.diagnostics, [])
        assert all(line.startswith(b.build_file) or line.startswith("services/") for line in text.splitlines())
        return
    for doc_text in plan_documents(plan).values():
        main_cc(load_node_plan_text(doc_text))


@st.composite
def valid_ish_deployment(draw):
    """Mostly-valid deployments: every plan they yield must satisfy the planner's invariants."""
    b = ManifestBuilder()
    camera_trap_services(b)
    b.network("lan", "udp", hop_cost=1)
    b.network("radio", "serial", hop_cost=draw(st.integers(1, 20)))
    b.network("wan", "udp", hop_cost=draw(st.integers(1, 20)))
    n_nodes = draw(st.integers(1, 6))
    nodes = []
    any_provides = False
    for k in range(n_nodes):
        # n0 is a hub on every network, so most pairs are reachable, many through it (forwarders)
        nets = {"lan", "radio", "wan"} if k == 0 else draw(st.sets(st.sampled_from(["lan", "radio", "wan"]),
                                                                     min_size=1, max_size=1))
        addr = {"lan": f"10.0.0.{k + 1}", "radio": str(k + 1), "wan": f"n{k}"}
        provides = {"db": "//services/database"} if draw(st.booleans()) else None
        any_provides = any_provides or provides is not None
        b.node(f"n{k}", board=draw(st.sampled_from(BOARDS[:3])), networks={n: addr[n] for n in sorted(nets)},
               provides=provides)
        nodes.append(f"n{k}")
    n_inst = draw(st.integers(1, 8))
    kinds = []
    for k in range(n_inst):
        kind = draw(st.sampled_from(["database", "recognition", "detection"]))
        kinds.append(kind)
        deps = {}
        if kind == "recognition":
            dbs = [f"i{j}" for j in range(k) if kinds[j] == "database"] + (["db"] if any_provides else [])
            if not dbs:
                kinds[-1] = kind = "database"
            else:
                deps = {"log": draw(st.sampled_from(dbs))}
        if kind == "detection":
            handlers = [f"i{j}" for j in range(k) if kinds[j] in ("detection", "recognition")]
            if not handlers:
                kinds[-1] = kind = "database"
            else:
                deps = {"next": draw(st.sampled_from(handlers))}
        b.instance(f"i{k}", f"//services/{kind}", deps, memory="2K")
    placed = {}
    for k in range(n_inst):
        placed[f"i{k}"] = draw(st.sampled_from(nodes))
    if n_inst >= 2 and draw(st.booleans()):
        a, c = "i0", "i1"
        if placed[a] == placed[c]:
            b.group("g", [a, c])
    for k in range(n_inst):
        b.deploy(placed[f"i{k}"], [f"i{k}"])
    return b


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ish_deployment())
def test_plans_satisfy_invariants(b):
    dep, rep = b.model()
    rep.check()
    try:
        plan = make_plan(dep, camera_trap_interfaces())
    except DiagnosticError as err:
        # only the errors a random topology can legitimately cause
        for d in err.diagnostics:
            assert ("has no network path" in d.message or "(kMaxGroups)" in d.message
                    or "memory budget exceeded" in d.message or "does not provide" in d.message), d.message
        return
    for e in plan.edges:
        cnode, tnode = plan.instance_node[e.caller], plan.instance_node[e.target]
        if e.target in plan.provided_by:
            assert tnode == cnode and e.path in ("direct", "ipc")  # always the caller's own node's
        if e.path == "direct":
            assert plan.instance_group[e.caller] == plan.instance_group[e.target]
        elif e.path == "ipc":
            assert cnode == tnode and plan.instance_group[e.caller] != plan.instance_group[e.target]
        else:
            assert cnode != tnode and e.route[0].src == cnode and e.route[-1].dst == tnode
            assert e.cost == sum(next(n.hop_cost for n in dep.networks if n.name == h.network) for h in e.route)
            for h1, h2 in pairwise(e.route):
                assert h1.dst == h2.src
                assert any(f.from_network == h1.network and f.to_network == h2.network and tnode in f.destinations
                           for f in plan.nodes[h1.dst].forwarders)
    order = {n: i for i, n in enumerate(plan.start_order)}
    for e in plan.edges:
        assert order[e.target] < order[e.caller]
    for np in plan.nodes.values():
        if np.layout:
            for r in np.layout.regions:
                assert r.size & (r.size - 1) == 0 and r.base % r.size == 0 and r.size >= r.needed
    assert plan_documents(plan) == plan_documents(make_plan(b.model()[0], camera_trap_interfaces()))
