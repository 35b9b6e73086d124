"""Random, reproducible deployments for the planner benchmark.

Shape (an IoT estate): nodes in clusters of 5-15 sharing a udp LAN (hop cost 1); each cluster
is linked to one of the 20 clusters before it by a serial radio link between gateway nodes
(hop cost 10), plus a few random extra links that close loops.  A fifth of the nodes are
Cortex-M boards.  Every node runs 5 instances; each instance depends on an earlier one (so the
start order exists): mostly on the same node, sometimes elsewhere in its cluster, and sometimes
in a linked cluster, reached through forwarders.
"""
from __future__ import annotations

import random

from ambience.testlib import ManifestBuilder

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
