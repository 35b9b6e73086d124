"""Guards the planner against growing faster than linearly: 20x the nodes must cost far less than
400x the time (quadratic); the benchmark (//benchmarks/planner) measures the real figures."""
from __future__ import annotations

import json
import os
import time

from ambience.compiler import compile_documents
from ambience.testlib import TESTDATA, random_deployment


def best_time(n: int, runs: int) -> float:
    b = random_deployment(n)
    desc, services = b.description(), b.services
    lidl = []
    for f in ("base.lidl.json", "camera_trap.lidl.json"):
        with open(os.path.join(TESTDATA, f), encoding="utf-8") as fh:
            lidl.append((f, json.load(fh)))
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        compile_documents(desc, services, lidl)
        best = min(best, time.perf_counter() - t)
    return best


def test_twenty_times_the_nodes_costs_less_than_eighty_times_the_time():
    small, large = best_time(200, 7), best_time(4000, 2)
    # linear with the usual cache effects: ~20-30x; a quadratic step (one such bug happened: a
    # per-node scan of all edges) makes it >150x
    assert large / small < 80, (small, large)
