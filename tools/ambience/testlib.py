"""Builds deployments in memory for tests and benchmarks, as if written in a BUILD file.

`ManifestBuilder` renders each declaration as one Starlark call on its own line, so the
locations the planner reports (`BUILD.bazel:LINE:1`) point at real text that `source()`
returns; tests pin exact diagnostics against it.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from typing import Any

from ambience.diagnostics import DiagnosticError, Reporter
from ambience.interfaces import InterfaceRegistry, load_lidl_json
from ambience.model import Deployment, load_description
from ambience.planner import Plan, make_plan

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")


def _starlark(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_starlark(k)}: {_starlark(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_starlark(v) for v in value) + "]"
    return json.dumps(value)


@dataclass
class ManifestBuilder:
    name: str = "test"
    package: str = "deployments/test"
    declarations: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=lambda: ['load("//tools/bazel:defs.bzl", "deployment")', ""])

    @property
    def build_file(self) -> str:
        return f"{self.package}/BUILD.bazel"

    def _add(self, decl: str, **given: Any) -> int:
        attrs = {k: v for k, v in given.items() if v is not None}
        self.lines.append(f"{decl}(" + ", ".join(f"{k} = {_starlark(v)}" for k, v in attrs.items()) + ")")
        line = len(self.lines)
        self.declarations.append({"decl": decl, "loc": f"{self.build_file}:{line}:1", **attrs})
        return line

    def network(self, name: str, kind: str | None = "udp", hop_cost: int | None = None,
                encrypted: bool | None = None) -> int:
        return self._add("network", name=name, kind=kind, hop_cost=hop_cost, encrypted=encrypted)

    def node(self, name: str, board: str = "//platforms:linux_x86_64", networks: dict[str, str] | None = None,
             memory: int | str | None = None, provides: dict[str, str] | None = None) -> int:
        return self._add("node", name=name, board=board, networks=networks or {}, memory=memory, provides=provides)

    def instance(self, name: str, service: str, dependencies: dict[str, str] | None = None,
                 memory: int | str | None = None, timeouts: dict[str, str] | None = None) -> int:
        return self._add("instance", name=name, service=service, dependencies=dependencies or {}, memory=memory,
                         timeouts=timeouts)

    def group(self, name: str, instances: list[str], kernel: bool | None = None) -> int:
        return self._add("group", name=name, instances=instances, kernel=kernel)

    def deploy(self, node: str, groups: list[str]) -> int:
        return self._add("deploy", node=node, groups=groups)

    def export(self, instance: str, network: str, port: int | None = None, http: int | None = None) -> int:
        return self._add("export", instance=instance, network=network, port=port, http=http)

    def import_service(self, name: str, interface: str, network: str, address: str, port: int | None = None) -> int:
        return self._add("import_service", name=name, interface=interface, network=network, address=address,
                         port=port)

    def service(self, label: str, interface: str, dependencies: dict[str, str] | None = None,
                memory: int | str | None = None, style: str = "async") -> None:
        pkg = label[2:].split(":")[0]
        short = label.rsplit(":", 1)[-1]
        self.services.append({
            "ambience_service": 1, "label": label, "interface": interface,
            "dependencies": dependencies or {}, "style": style, "memory": memory if memory is not None else 4096,
            "cc_class": f"{interface.split('.')[0]}::{short.title().replace('_', '')}",
            "header": f"{pkg}/{short}.hpp", "cc_library": label, "loc": f"{pkg}/BUILD.bazel:3:1",
        })

    def python_service(self, label: str, interface: str, dependencies: dict[str, str] | None = None) -> None:
        """An ambience_py_service: module = its package + the target's name, class = CamelCase."""
        pkg = label[2:].split(":")[0]
        short = label.rsplit(":", 1)[-1]
        self.services.append({
            "ambience_service": 1, "label": label, "interface": interface, "language": "python",
            "dependencies": dependencies or {}, "style": "async", "memory": 4096, "cc_class": "", "header": "",
            "py_module": f"{pkg.replace('/', '.')}.{short}", "py_class": short.title().replace("_", ""),
            "cc_library": label + "_cc", "loc": f"{pkg}/BUILD.bazel:9:1",
        })

    def description(self) -> dict[str, Any]:
        self.lines.append(f'deployment(name = "{self.name}")')
        desc = {"ambience_description": 1, "name": self.name, "package": self.package,
                "build_file": self.build_file, "loc": f"{self.build_file}:{len(self.lines)}:1",
                "declarations": self.declarations}
        self.lines.pop()
        return desc

    def source(self) -> str:
        return "\n".join(self.lines + [f'deployment(name = "{self.name}")']) + "\n"

    def model(self) -> tuple[Deployment, Reporter]:
        rep = Reporter()
        return load_description(self.description(), self.services, rep), rep


def camera_trap_interfaces() -> InterfaceRegistry:
    reg = InterfaceRegistry()
    rep = Reporter()
    for f in ("base.lidl.json", "camera_trap.lidl.json"):
        with open(os.path.join(TESTDATA, f), encoding="utf-8") as fh:
            load_lidl_json(json.load(fh), f, reg, rep)
    rep.check()
    return reg


def camera_trap_services(b: ManifestBuilder) -> None:
    b.service("//services/motion:motion", "camera_trap.MotionHandler", {"handler": "camera_trap.MotionHandler"})
    b.service("//services/camera:camera", "camera_trap.MotionHandler", {"frames": "camera_trap.FrameHandler"})
    b.service("//services/detection:detection", "camera_trap.FrameHandler", {"next": "camera_trap.FrameHandler"})
    b.service("//services/recognition:recognition", "camera_trap.Recognizer", {"log": "camera_trap.EventLog"})
    b.service("//services/database:database", "camera_trap.EventLog", memory=64 * 1024)


def camera_trap_manifest() -> ManifestBuilder:
    """The flagship deployment of EXAMPLES.md."""
    b = ManifestBuilder(name="camera_trap", package="deployments/camera_trap")
    camera_trap_services(b)
    b.network("xbee", kind="serial", encrypted=True, hop_cost=10)
    b.network("lan", kind="udp", hop_cost=1)
    b.network("internet", kind="udp", hop_cost=5)
    b.node("motion", board="//platforms/boards:mps2_an386", networks={"xbee": "1"})
    b.node("camera", board="//platforms/boards:mps2_an500", networks={"xbee": "2", "lan": "10.0.0.2"})
    b.node("edge", networks={"lan": "10.0.0.1", "internet": "edge"})
    b.node("cloud", networks={"internet": "cloud"})
    b.instance("motion_sensor", "//services/motion", {"handler": "camera_manager"})
    b.instance("camera_manager", "//services/camera", {"frames": "detection"})
    b.instance("detection", "//services/detection", {"next": "recognition"})
    b.instance("recognition", "//services/recognition", {"log": "database"})
    b.instance("database", "//services/database")
    b.group("camera_group", ["camera_manager", "detection"])
    b.deploy("motion", ["motion_sensor"])
    b.deploy("camera", ["camera_group"])
    b.deploy("edge", ["recognition"])
    b.deploy("cloud", ["database"])
    b.export("database", "internet", port=4898)
    return b


# ----------------------------------------------------------------------------- random topologies
# Random, reproducible deployments for the planner benchmark and the scaling test.
#
# Shape (an IoT estate): nodes in clusters of 5-15 sharing a udp LAN (hop cost 1); each cluster
# is linked to one of the 20 clusters before it by a serial radio link between gateway nodes
# (hop cost 10), plus a few random extra links that close loops.  A fifth of the nodes are
# Cortex-M boards.  Every node runs 5 instances; each instance depends on an earlier one (so the
# start order exists): mostly on the same node, sometimes elsewhere in its cluster, and sometimes
# in a linked cluster, reached through forwarders.

INSTANCES_PER_NODE = 5


def random_deployment(n_nodes: int, seed: int = 1) -> ManifestBuilder:
    rng = random.Random(seed)
    b = ManifestBuilder(name=f"random_{n_nodes}", package="benchmarks/planner/random")
    b.service("//bench:sink", "camera_trap.FrameHandler", memory=2048)
    b.service("//bench:relay", "camera_trap.FrameHandler", {"next": "camera_trap.FrameHandler"}, memory=2048)

    clusters: list[list[int]] = []
    i = 0
    while i < n_nodes:
        size = min(rng.randint(5, 15), n_nodes - i)
        clusters.append(list(range(i, i + size)))
        i += size
    attach: dict[int, dict[str, str]] = {n: {} for n in range(n_nodes)}
    links: dict[int, set[int]] = {c: set() for c in range(len(clusters))}
    for c, members in enumerate(clusters):
        b.network(f"lan{c}", "udp", hop_cost=1)
        for k, n in enumerate(members):
            attach[n][f"lan{c}"] = f"10.{c // 256}.{c % 256}.{k + 1}"

    def link(c1: int, c2: int, name: str) -> None:
        g1, g2 = rng.choice(clusters[c1]), rng.choice(clusters[c2])
        if g1 == g2:
            return
        b.network(name, "serial", hop_cost=10)
        attach[g1][name] = "1"
        attach[g2][name] = "2"
        links[c1].add(c2)
        links[c2].add(c1)

    for c in range(1, len(clusters)):
        link(c, rng.randint(max(0, c - 20), c - 1), f"radio{c}")
    for k in range(len(clusters) // 10):
        c1 = rng.randrange(len(clusters))
        c2 = rng.randint(max(0, c1 - 20), min(len(clusters) - 1, c1 + 20))
        if c1 != c2:
            link(c1, c2, f"extra{k}")

    cluster_of = {n: c for c, members in enumerate(clusters) for n in members}
    mcu = {n for n in range(n_nodes) if rng.random() < 0.2}
    for n in range(n_nodes):
        board = "//platforms/boards:mps2_an386" if n in mcu else "//platforms:linux_x86_64"
        b.node(f"n{n}", board=board, networks=attach[n])

    def inst(n: int, k: int) -> str:
        return f"i{n}_{k}"

    for n in range(n_nodes):
        names = []
        for k in range(INSTANCES_PER_NODE):
            name = inst(n, k)
            names.append(name)
            r = rng.random()
            target = None
            if k > 0 and r < 0.6:
                target = inst(n, rng.randrange(k))
            elif r < 0.85:
                earlier = [m for m in clusters[cluster_of[n]] if m < n]
                if earlier:
                    target = inst(rng.choice(earlier), rng.randrange(INSTANCES_PER_NODE))
            else:
                near = [m for c in links[cluster_of[n]] for m in clusters[c] if m < n]
                if near:
                    target = inst(rng.choice(near), rng.randrange(INSTANCES_PER_NODE))
            if target is None:
                b.instance(name, "//bench:sink")
            else:
                b.instance(name, "//bench:relay", {"next": target})
        if n in mcu:
            b.group(f"g{n}", names)
            b.deploy(f"n{n}", [f"g{n}"])
        else:
            b.deploy(f"n{n}", names)
    return b


# Planner test helpers (planner_test.py, planner_diagnostics_test.py).
F = "deployments/test/BUILD.bazel"


def plan_of(b: ManifestBuilder) -> Plan:
    dep, rep = b.model()
    rep.check()
    return make_plan(dep, camera_trap_interfaces())


def errors_of(b: ManifestBuilder) -> list[str]:
    dep, rep = b.model()
    if rep.has_errors:
        return [d.headline() for d in sorted(rep.diagnostics, key=lambda d: (d.loc.line, d.message))]
    try:
        make_plan(dep, camera_trap_interfaces())
    except DiagnosticError as e:
        return [d.headline() for d in e.diagnostics]
    raise AssertionError("the deployment planned without errors")


def small() -> ManifestBuilder:
    """Two instances on one hosted node: detection -> recognition -> database."""
    b = ManifestBuilder()
    camera_trap_services(b)
    b.network("lan", "udp")
    b.node("host", networks={"lan": "10.0.0.1"})
    return b
