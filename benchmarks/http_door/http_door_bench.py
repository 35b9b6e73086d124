"""`bazel run //benchmarks/http_door` (`-- --quick`): requests/s and p50/p99 latency of a small
query (the database's `count`) through the HTTP door, 1 client and 16 concurrent, against a
direct console call of the same procedure in the same run (README.md)."""
from __future__ import annotations

import argparse
import http.client
import importlib
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from ambience import keys, tokens
from ambience.cluster.runner import down
from ambience.console.call import call_json, load_clients
from ambience.console.rpc import Route, RpcClient
from kernel.net import net

PKG = "deployments/camera_trap/tests/http_door"
LABEL = "//" + PKG
CLUSTER = f"{PKG}/cluster.sh"
CLIENTS = 16


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def console_client(bind: tuple[str, int], state: dict[str, Any], store: str) -> RpcClient:
    """The operator's console as `ambience call` makes it, kept open for the whole run."""
    if "keys" not in inspect.signature(RpcClient.__init__).parameters:
        return RpcClient(bind)
    rpc: Any = importlib.import_module("ambience.console.rpc")
    names = {n["number"]: name for name, n in state["console"]["nodes"].items()}
    client: RpcClient = rpc.RpcClient(bind, rpc.console_keys(keys.load_master(store, LABEL), LABEL, names))
    return client


def run_console(state: dict[str, Any], cdir: str, store: str, n: int) -> list[float]:
    console = state["console"]
    node = console["nodes"]["cloud"]
    cls = load_clients(os.path.join(cdir, "lidl"), console["lidl"])[node["instances"]["database"]["interface"]]
    host, _, port = node["entry_endpoint"].rpartition(":")
    route = Route(node["number"], node["instances"]["database"]["object_id"], (host, int(port)),
                  net.default_policy("udp"))
    bhost, _, bport = console["bind"].rpartition(":")
    times = []
    with console_client((bhost, int(bport)), state, store) as rpc:
        for _ in range(n):
            t0 = time.perf_counter()
            call_json(rpc, route, cls, "count", {})
            times.append(time.perf_counter() - t0)
    return times


def run_http(port: int, token: str, n: int, out: list[float], errors: list[str]) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            c.request("POST", "/database/count", body=b"{}", headers=headers)
            r = c.getresponse()
            body = r.read()
            out.append(time.perf_counter() - t0)
            if r.status != 200:
                errors.append(f"{r.status} {body[:200]!r}")
    finally:
        c.close()


def run_http_concurrent(port: int, token: str, n: int, clients: int) -> tuple[list[float], float, list[str]]:
    lats: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    threads = [threading.Thread(target=run_http, args=(port, token, n // clients, lats[i], errors))
               for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return [x for xs in lats for x in xs], wall, errors


def result(name: str, value: float, unit: str, baseline: float | None = None) -> str:
    line = f"RESULT {name} value={value:.1f} unit={unit}"
    if baseline:
        line += f" baseline={baseline:.1f} ratio={value / baseline:.3f}"
    return line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="200 calls per figure instead of 2,000")
    ap.add_argument("--calls", type=int, default=None, help="calls per figure")
    args = ap.parse_args()
    n = args.calls or (200 if args.quick else 2000)
    n -= n % CLIENTS
    runfiles = os.environ.get("RUNFILES_DIR") or os.path.dirname(os.getcwd())
    store = os.path.join(runfiles, "ambience_keys", "store")
    root = tempfile.mkdtemp(prefix="ambience-http-door-bench-")
    env = dict(os.environ, AMBIENCE_CLUSTER_DIR=root, RUNFILES_DIR=runfiles)
    try:
        up = subprocess.run([os.path.join(runfiles, "ambience", CLUSTER), "--detach"], env=env,
                            capture_output=True, text=True)
        if up.returncode != 0:
            sys.stderr.write(up.stderr)
            return 1
        cdir = os.path.join(root, "http_door")
        with open(os.path.join(cdir, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        if "database@internet" not in state.get("doors", {}):
            sys.stderr.write(f"http_door_bench: the door did not start: {state.get('door_notes')}\n")
            return 1
        port = int(state["doors"]["database@internet"]["url"].rsplit(":", 1)[1])
        secret, _ = keys.token_keys(keys.load_master(store, LABEL), LABEL)
        token = tokens.issue(secret, LABEL, "database", ["count"], int(time.time()) + 3600)

        print("http_door benchmark: POST /database/count through the HTTP door (keep-alive, one connection per "
              "client) vs the console's RpcClient calling the same procedure directly, same cluster, same run")
        print(f"  {n} calls per figure; {platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
              f"Python {platform.python_version()}")
        run_console(state, cdir, store, max(20, n // 10))  # warm up the node and the codec
        base = run_console(state, cdir, store, n)
        time.sleep(0.5)  # the console lets node 0's reply address go; the door takes it next
        warm: list[float] = []
        errors: list[str] = []
        run_http(port, token, max(20, n // 10), warm, errors)
        one: list[float] = []
        t0 = time.perf_counter()
        run_http(port, token, n, one, errors)
        one_wall = time.perf_counter() - t0
        many, many_wall, errs = run_http_concurrent(port, token, n, CLIENTS)
        errors += errs
        if errors:
            sys.stderr.write(f"http_door_bench: {len(errors)} requests failed, e.g. {errors[0]}\n")
            return 1
        base_rate, one_rate, many_rate = n / sum(base), n / one_wall, len(many) / many_wall
        us = 1e6
        rows = [("calls/s, 1 client", one_rate, base_rate), (f"calls/s, {CLIENTS} clients", many_rate, base_rate),
                ("p50 µs, 1 client", percentile(one, 50) * us, percentile(base, 50) * us),
                ("p99 µs, 1 client", percentile(one, 99) * us, percentile(base, 99) * us),
                (f"p50 µs, {CLIENTS} clients", percentile(many, 50) * us, percentile(base, 50) * us),
                (f"p99 µs, {CLIENTS} clients", percentile(many, 99) * us, percentile(base, 99) * us)]
        print(f"  {'figure':<22} {'HTTP door':>10} {'console':>10} {'door/console':>13}")
        for name, v, b in rows:
            print(f"  {name:<22} {v:>10.0f} {b:>10.0f} {v / b:>13.2f}")
        print("  (the console figure is always 1 client: node 0 has one reply address)")
        for line in [result("http_door_calls_per_s_1_client", one_rate, "calls/s", base_rate),
                     result(f"http_door_calls_per_s_{CLIENTS}_clients", many_rate, "calls/s", base_rate),
                     result("http_door_p50_1_client_us", percentile(one, 50) * us, "us", percentile(base, 50) * us),
                     result("http_door_p99_1_client_us", percentile(one, 99) * us, "us", percentile(base, 99) * us),
                     result(f"http_door_p50_{CLIENTS}_clients_us", percentile(many, 50) * us, "us",
                            percentile(base, 50) * us),
                     result(f"http_door_p99_{CLIENTS}_clients_us", percentile(many, 99) * us, "us",
                            percentile(base, 99) * us)]:
            print(line)
        return 0
    finally:
        down(root, "http_door")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
