"""The overlay: a weighted directed graph of nodes, networks and external endpoints.

Vertices are `("node", name)`, `("net", name)`, `("import", name)` and `("export", "inst@net")`.  Attaching a node to a
network adds node->net with the network's hop cost and net->node with cost 0, so a route's cost
is the sum of the hop costs of the networks it crosses.  Imports hang off their network.

Routes are computed only for pairs that communicate, with a Dijkstra per source that stops as
soon as the requested target is settled and resumes from where it stopped for the next target
from the same source.  That keeps planning near-linear on large, sparse deployments (no
all-pairs shortest paths), and the result is independent of the order routes are requested in:
ties are broken by vertex name, so plans are reproducible.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import networkx as nx

from ambience.model import Deployment

Vertex = tuple[str, str]


def build_overlay(dep: Deployment, known_networks: set[str] | None = None) -> nx.DiGraph[Vertex]:
    g: nx.DiGraph[Vertex] = nx.DiGraph()
    nets = {n.name: n for n in dep.networks}
    for network in sorted(nets.values(), key=lambda n: n.name):
        g.add_node(("net", network.name), kind=network.kind, hop_cost=network.hop_cost, encrypted=network.encrypted)
    for node in sorted(dep.nodes, key=lambda n: n.name):
        g.add_node(("node", node.name), board=node.board)
        for net_name, address in node.networks:
            net = nets.get(net_name)
            if net is None:
                continue
            g.add_edge(("node", node.name), ("net", net_name), weight=net.hop_cost, address=address)
            g.add_edge(("net", net_name), ("node", node.name), weight=0, address=address)
    # Exports: where callers from outside the cluster come in (drawn and listed; not relays).
    for ex in sorted(dep.exports, key=lambda e: (e.instance, e.network)):
        if ex.network in nets:
            g.add_node(("export", f"{ex.instance}@{ex.network}"), port=ex.port)
            g.add_edge(("export", f"{ex.instance}@{ex.network}"), ("net", ex.network), weight=0, address="")
    for imp in sorted(dep.imports, key=lambda i: i.name):
        if imp.network in nets:
            g.add_node(("import", imp.name), address=imp.address)
            g.add_edge(("net", imp.network), ("import", imp.name), weight=0, address=imp.address)
    return g


@dataclass
class _Search:
    dist: dict[Vertex, int]
    pred: dict[Vertex, Vertex]
    settled: set[Vertex]
    heap: list[tuple[int, Vertex]]


@dataclass
class Router:
    """Least-cost routes on the overlay, computed lazily per (source, target) and cached per source."""

    graph: nx.DiGraph[Vertex]
    _adj: dict[Vertex, list[tuple[Vertex, int]]] = field(default_factory=dict)
    _searches: dict[Vertex, _Search] = field(default_factory=dict)
    searches_started: int = 0
    vertices_settled: int = 0

    def __post_init__(self) -> None:
        # Plain adjacency lists in sorted order: faster than networkx views in the hot loop and
        # makes tie-breaking independent of insertion order.
        for v in self.graph.nodes:
            self._adj[v] = sorted(
                ((w, int(d.get("weight", 1))) for w, d in self.graph.adj[v].items()),
                key=lambda e: e[0],
            )

    def route(self, source: Vertex, target: Vertex) -> tuple[int, list[Vertex]] | None:
        """(cost, vertex path) of a least-cost route, or None when `target` is unreachable."""
        if source not in self._adj or target not in self._adj:
            return None
        s = self._searches.get(source)
        if s is None:
            s = _Search({source: 0}, {}, set(), [(0, source)])
            self._searches[source] = s
            self.searches_started += 1
        adj = self._adj
        while target not in s.settled and s.heap:
            d, v = heapq.heappop(s.heap)
            if v in s.settled:
                continue
            s.settled.add(v)
            self.vertices_settled += 1
            # Only nodes and networks relay traffic; imports and exports are end points.
            if v[0] in ("import", "export") and v != source:
                continue
            for w, weight in adj[v]:
                nd = d + weight
                old = s.dist.get(w)
                if old is None or nd < old or (nd == old and w not in s.settled and v < s.pred.get(w, v)):
                    s.dist[w] = nd
                    s.pred[w] = v
                    heapq.heappush(s.heap, (nd, w))
        if target not in s.settled:
            return None
        path = [target]
        while path[-1] != source:
            path.append(s.pred[path[-1]])
        path.reverse()
        return s.dist[target], path
