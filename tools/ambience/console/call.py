"""`ambience call <node>/<instance>.<procedure> '<json args>'`: one call into a running cluster.

The cluster runner's state (`state.json`, key "console") says where the console binds, which
hosted node each node is entered through and that node's console endpoint, the node numbers,
the instances with their interfaces and object ids, and the lidl sources it copied. The
interface's Python client is generated from those sources (lidl's Python generator) and its
calls go through `rpc.RpcClient` as the console, node 0, protected with K(console, node) from
the deployment's master key in the key store (`keys.default_store()`, or `key_store`). The
result is printed as JSON; every error is one line and exit status 1.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import types
from collections.abc import Sequence
from typing import Any

from ambience import keys
from ambience.console.rpc import CallError, Route, RpcClient, console_keys
from kernel.net import net
from lidl.checker import Options, check_files
from lidl.diagnostics import LidlError
from lidl.gen_common import py_module
from lidl.gen_py import generate_py
from lidl.runtime import codec

TARGET = re.compile(r"^([A-Za-z0-9_.-]+)/([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")


class ConsoleError(Exception):
    """One line for the operator."""


class _Generated(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the generated lidl modules (and their parent packages) to `import`."""

    def __init__(self, code: dict[str, str]) -> None:
        self.code = code
        self.packages = {".".join(m.split(".")[:i]) for m in code for i in range(1, m.count(".") + 1)}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.code or fullname in self.packages:
            return importlib.util.spec_from_loader(fullname, self, is_package=fullname in self.packages)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__ in self.code:
            exec(compile(self.code[module.__name__], f"<lidl {module.__name__}>", "exec"), module.__dict__)


_CLIENTS: dict[tuple[str, tuple[str, ...]], dict[str, type[codec.Client]]] = {}


def load_clients(lidl_dir: str, sources: list[str]) -> dict[str, type[codec.Client]]:
    """interface full name -> its generated client class, from the cluster's copy of the sources
    (generated once per process: a program that calls many times pays the checker once)."""
    key = (lidl_dir, tuple(sources))
    if key not in _CLIENTS:
        _CLIENTS[key] = _generate_clients(lidl_dir, sources)
    return _CLIENTS[key]


def _generate_clients(lidl_dir: str, sources: list[str]) -> dict[str, type[codec.Client]]:
    if not sources:
        return {}
    paths = [os.path.join(lidl_dir, s) for s in sources]
    try:
        schema = check_files(paths, Options(search_paths=(lidl_dir,), strip_prefixes=(lidl_dir,)))
    except LidlError as e:
        raise ConsoleError(f"the cluster's interfaces do not check: {str(e).splitlines()[0]}") from None
    code = {py_module(f.source): generate_py(schema, path) for path, f in schema.files.items()}
    finder = _Generated(code)
    sys.meta_path.insert(0, finder)
    try:
        clients: dict[str, type[codec.Client]] = {}
        for name in sorted(code):
            module = importlib.import_module(name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, codec.Client) and value is not codec.Client:
                    clients[value.SERVICE] = value
        return clients
    finally:
        sys.meta_path.remove(finder)
        for name in set(code) | finder.packages:  # another cluster's sources may use the same names
            sys.modules.pop(name, None)


class ConsoleTransport:
    """lidl's Transport for one route: the procedure's idempotency decides re-sends."""

    def __init__(self, rpc: RpcClient, route: Route, idempotent_mask: int) -> None:
        self.rpc, self.route, self.mask = rpc, route, idempotent_mask

    def call(self, request: bytes) -> bytes:
        procedure = codec.read_header(request).procedure
        return self.rpc.call(self.route, request, procedure, bool((self.mask >> procedure) & 1))


def call_json(rpc: RpcClient, route: Route, cls: type[codec.Client], procedure: str, args: dict[str, Any]) -> Any:
    """One call of `procedure` with JSON-shaped arguments through `rpc`; its JSON-shaped result.
    Raises codec.JsonValueError (arguments), codec.RemoteError (the service's status), CallError
    (the call itself). Shared by `ambience call` and the HTTP door."""
    procedures = cls.PROCEDURES  # type: ignore[attr-defined]
    mask = sum(1 << p.id for p in procedures if p.idempotent)
    client = cls(ConsoleTransport(rpc, route, mask), retries=0)
    return codec.call_json(client, procedure, args)


def _parse_endpoint(text: str, what: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConsoleError(f"the cluster's state has no console endpoint for {what}")
    return host, int(port)


def find_cluster(root: str, deployment: str | None) -> tuple[str, dict[str, Any]]:
    """(cluster directory, state) of the one running cluster, or the one named."""
    from ambience.cluster import runner
    found = []
    if os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            if deployment is not None and name != deployment:
                continue
            cdir = os.path.join(root, name)
            try:
                with open(os.path.join(cdir, "state.json"), encoding="utf-8") as f:
                    state = json.load(f)
            except (OSError, json.JSONDecodeError):
                continue
            if "console" in state and runner._alive(int(state.get("runner_pid") or 0)):
                found.append((cdir, state))
    if not found:
        raise ConsoleError("no cluster is up" + (f" for '{deployment}'" if deployment else "")
                           + " (`ambience cluster up //deployments/<name>` starts one)")
    if len(found) > 1:
        names = ", ".join(s["deployment"] for _, s in found)
        raise ConsoleError(f"several clusters are up ({names}): name one with --deployment")
    return found[0]


def policy_for(node: dict[str, Any], timeout_s: float | None) -> net.CallPolicy:
    """The default of the slowest network kind the call crosses (the console's hop is UDP)."""
    p = net.default_policy("serial" if node["entry"] != node.get("self") and "serial" in node["networks"] else "udp")
    if timeout_s is None:
        return p
    t = int(timeout_s * 1e6)
    return net.CallPolicy(t, min(p.first_retry_us, t), min(p.max_retry_us, t), p.max_attempts)


def call(target: str, args_json: str, root: str, deployment: str | None = None,
         timeout_s: float | None = None, key_store: str | None = None) -> Any:
    """The JSON-shaped result of one call; raises ConsoleError (one line)."""
    m = TARGET.match(target)
    if m is None:
        raise ConsoleError(f"'{target}' is not <node>/<instance>.<procedure>")
    node_name, instance, procedure = m.groups()
    try:
        args = json.loads(args_json)
    except json.JSONDecodeError as e:
        raise ConsoleError(f"the arguments are not JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(args, dict):
        raise ConsoleError("the arguments must be a JSON object, e.g. '{\"name\": \"x\"}'")
    cdir, state = find_cluster(root, deployment)
    console = state["console"]
    label = console.get("deployment_label")
    if not label:
        raise ConsoleError(f"the state of cluster '{state['deployment']}' names no deployment label "
                           "(started by an older runner: restart it)")
    try:
        master = keys.load_master(key_store or keys.default_store(), label)
    except keys.KeyStoreError as e:
        raise ConsoleError(str(e)) from None
    node = console["nodes"].get(node_name)
    if node is None:
        raise ConsoleError(f"cluster '{state['deployment']}' has no node '{node_name}' "
                           f"(nodes: {', '.join(sorted(console['nodes']))})")
    inst = node["instances"].get(instance)
    if inst is None:
        raise ConsoleError(f"node '{node_name}' has no instance '{instance}' "
                           f"(instances: {', '.join(sorted(node['instances'])) or 'none'})")
    if not node["entry"]:
        raise ConsoleError(f"node '{node_name}' is not reachable from the console (no network path from a hosted node)")
    clients = load_clients(os.path.join(cdir, "lidl"), console.get("lidl", []))
    cls = clients.get(inst["interface"])
    if cls is None:
        raise ConsoleError(f"no lidl source of interface '{inst['interface']}' in the cluster's state")
    procedures = cls.PROCEDURES  # type: ignore[attr-defined]
    if procedure not in [p.name for p in procedures]:
        raise ConsoleError(f"{target}: {inst['interface']} has no procedure '{procedure}' "
                           f"(has: {', '.join(p.name for p in procedures)})")
    route = Route(node["number"], inst["object_id"],
                  _parse_endpoint(node["entry_endpoint"], f"node '{node['entry']}'"),
                  policy_for(dict(node, self=node_name), timeout_s))
    names = {int(n["number"]): name for name, n in console["nodes"].items()}
    try:
        with RpcClient(_parse_endpoint(console["bind"], "the console"), console_keys(master, label, names)) as rpc:
            return call_json(rpc, route, cls, procedure, args)
    except codec.JsonValueError as e:
        raise ConsoleError(f"{node_name}/{instance}.{procedure}: {e}") from None
    except codec.RemoteError as e:
        raise ConsoleError(f"{node_name}/{instance}.{procedure}: {e}") from None
    except CallError as e:
        raise ConsoleError(f"{node_name}/{instance}.{procedure}: {e}") from None
