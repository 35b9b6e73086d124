"""`ambience`: the deployment compiler's command line.

Subcommands: plan, graph, sizes, explain (for people), cluster up|status|down (run a deployment
here), call (one procedure of a running cluster, from the host), token issue (for an HTTP door),
keys init|rotate|path (the key store), compile and keygen (what the Bazel rules run).
Exit codes: 0 ok, 1 user error (diagnostic printed), 2 internal error.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import traceback
from dataclasses import asdict
from typing import Any

from ambience import boards, report
from ambience.compiler import compile_plan
from ambience.diagnostics import DiagnosticError, format_all
from ambience.plan_json import (
    JsonObject,
    capability_json,
    dumps,
    instance_json,
    load_node_plan_text,
    node_info_json,
    plan_documents,
)
from ambience.planner import Plan

INPUTS_FORMAT = 1
DEFAULT_TOKEN_EXPIRY = "1h"


class UserError(Exception):
    pass


def _read_json(path: str) -> JsonObject:
    try:
        with open(path, encoding="utf-8") as f:
            doc: JsonObject = json.load(f)
            return doc
    except OSError as e:
        raise UserError(f"{path}: error: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}:{e.colno}: error: invalid JSON: {e.msg}") from None


def _workspace() -> str:
    return os.environ.get("BUILD_WORKSPACE_DIRECTORY") or os.getcwd()


def _resolve_deployment(target: str, extra_targets: tuple[str, ...] = ()) -> tuple[str, str]:
    """A deployment argument -> (path of its inputs bundle, workspace root for source lines).

    Accepts the bundle file itself (`<name>.inputs.json`, written by `deployment()`), or a
    Bazel package or label (`//deployments/hello`, `//deployments/hello:hello`), which is built
    first with `bazel build`.
    """
    ws = _workspace()
    if os.path.isfile(target):
        return target, ws
    if not target.startswith("//"):
        cand = os.path.join(ws, target)
        if os.path.isfile(cand):
            return cand, ws
        raise UserError(f"{target}: error: no such file; give a file <name>.inputs.json or a package like "
                        f"//deployments/hello")
    pkg, _, name = target[2:].partition(":")
    bazel = shutil.which("bazel")
    if bazel is None:
        raise UserError("error: 'bazel' not found; pass the inputs file instead of a label")
    if not name:
        q = subprocess.run([bazel, "query", "--output=label", f'kind("_ambience_plan", //{pkg}:*)'], cwd=ws,
                           capture_output=True, text=True)
        found = [x for x in q.stdout.split() if x]
        if q.returncode != 0 or not found:
            if q.returncode != 0:
                sys.stderr.write(q.stderr)
            raise UserError(f"error: no deployment() in //{pkg}")
        if len(found) > 1:
            raise UserError(f"error: //{pkg} has several deployments ({', '.join(found)}); name one")
        name = found[0].rsplit(":", 1)[1]
    label = f"//{pkg}:{name}"  # the deployment() target; its outputs include <name>.inputs.json
    extra = [f"//{pkg}:{name}{t}" for t in extra_targets]
    build = subprocess.run([bazel, "build", "--color=no", "--noshow_progress", label, *extra], cwd=ws,
                           capture_output=True, text=True)
    if build.returncode != 0:
        sys.stderr.write(build.stderr)
        raise UserError(f"error: building {label} failed")
    info = subprocess.run([bazel, "info", "bazel-bin"], cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True)
    path = os.path.join(info.stdout.strip(), pkg, f"{name}.inputs.json")
    if not os.path.isfile(path):
        raise UserError(f"error: {label} was built but {path} is missing")
    return path, ws


def _load_plan(target: str, extra_targets: tuple[str, ...] = ()) -> Plan:
    path, ws = _resolve_deployment(target, extra_targets)
    bundle = _read_json(path)
    if bundle.get("ambience_inputs") != INPUTS_FORMAT:
        raise UserError(f"{path}: error: not an ambience inputs bundle (expected \"ambience_inputs\": {INPUTS_FORMAT})")
    lidl = [(x["origin"], x["doc"]) for x in bundle.get("lidl", [])]
    if "facts" in bundle:
        _use_facts(bundle["facts"], path)
    try:
        return compile_plan(bundle["description"], bundle.get("services", []), lidl)
    except DiagnosticError as e:
        raise UserError(format_all(e.diagnostics, [ws])) from None


# ----------------------------------------------------------------------------- subcommands


def _use_facts(doc: dict[str, Any], origin: str) -> None:
    try:
        boards.use_facts(doc)
    except boards.FactsError as e:
        raise UserError(f"{origin}: error: {e}") from None


def cmd_compile(args: argparse.Namespace) -> int:
    desc = _read_json(args.description)
    services = [_read_json(p) for p in args.service]
    lidl = [(p, _read_json(p)) for p in args.lidl]
    facts = _read_json(args.facts) if args.facts else None
    if facts is not None:
        _use_facts(facts, args.facts)
    if args.inputs_out:
        bundle = {"ambience_inputs": INPUTS_FORMAT, "description": desc, "services": services,
                  "lidl": [{"origin": o, "doc": d} for o, d in lidl]}
        if facts is not None:
            bundle["facts"] = facts
        with open(args.inputs_out, "w", encoding="utf-8") as f:
            f.write(dumps(bundle))
    try:
        plan = compile_plan(desc, services, lidl)
    except DiagnosticError as e:
        sys.stderr.write(format_all(e.diagnostics, [args.source_root]) + "\n")
        sys.stderr.write(f"{len(e.diagnostics)} error{'s' if len(e.diagnostics) != 1 else ''} in deployment "
                         f"'{desc.get('name', '?')}'\n")
        return 1
    docs = plan_documents(plan)
    if args.expect_nodes is not None:
        expected = sorted(x for x in args.expect_nodes.split(",") if x)
        if expected != sorted(docs):
            raise RuntimeError(f"node list mismatch between rule ({expected}) and planner ({sorted(docs)})")
    if args.plan_dir:
        os.makedirs(args.plan_dir, exist_ok=True)
        for node, text in docs.items():
            with open(os.path.join(args.plan_dir, f"{node}.plan.json"), "w", encoding="utf-8") as f:
                f.write(text)
    for out in args.plan_out:
        node, _, path = out.partition("=")
        with open(path, "w", encoding="utf-8") as f:
            f.write(docs[node])
    if args.codegen_dir:
        from ambience import codegen
        codegen.write_all(docs, args.codegen_dir)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    plan = _load_plan(args.deployment)
    if args.json:
        print(json.dumps({"deployment": plan.deployment.name, "rows": [asdict(r) for r in report.summary_rows(plan)],
                          "start_order": plan.start_order}, indent=1, sort_keys=True))
    elif args.node:
        if args.node not in plan.nodes:
            raise UserError(f"error: deployment '{plan.deployment.name}' has no node '{args.node}' "
                            f"(nodes: {', '.join(plan.nodes)})")
        sys.stdout.write(json.dumps(json.loads(plan_documents(plan)[args.node]), indent=1, sort_keys=True) + "\n")
    else:
        print(report.summary(plan))
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    plan = _load_plan(args.deployment)
    dot = report.graph_dot(plan)
    if not args.output or args.output.endswith(".dot"):
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(dot)
        else:
            sys.stdout.write(dot)
        return 0
    fmt = os.path.splitext(args.output)[1].lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise UserError(f"error: cannot write '{args.output}': use a .svg, .png, .pdf or .dot file name")
    dot_bin = shutil.which("dot")
    if dot_bin is None:
        raise UserError("error: Graphviz 'dot' is not installed (run tools/setup.sh)")
    out = args.output if os.path.isabs(args.output) else os.path.join(_workspace(), args.output)
    r = subprocess.run([dot_bin, f"-T{fmt}", "-o", out], input=dot, text=True, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"dot failed: {r.stderr}")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _image_sizes(inputs_path: str, nodes: list[str]) -> dict[str, dict[str, int]]:
    """Size reports of built MCU images (<node>.size beside the deployment's outputs), if any."""
    out = {}
    d = os.path.dirname(inputs_path)
    for n in nodes:
        p = os.path.join(d, f"{n}.size")
        if not os.path.isfile(p):
            continue
        words = open(p, encoding="utf-8").read().split()
        vals = {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}
        try:
            out[n] = {k: int(vals[k]) for k in ("text", "data", "bss", "flash", "ram")}
        except (KeyError, ValueError):
            continue
    return out


def cmd_sizes(args: argparse.Namespace) -> int:
    extra = ("_images",) if args.images and args.deployment.startswith("//") else ()
    plan = _load_plan(args.deployment, extra)
    path, _ = (args.deployment, None) if os.path.isfile(args.deployment) else _resolve_deployment(args.deployment)
    images = _image_sizes(path, list(plan.nodes))
    data = report.sizes_json(plan)
    for n, img in images.items():
        data[n]["image"] = img
    if args.json:
        print(json.dumps(data, indent=1, sort_keys=True))
        return 0
    print(report.sizes(plan))
    if images:
        print()
        rows = [["node", "image text", "data", "bss", "kernel RAM in plan", "fits"]]
        for n, img in sorted(images.items()):
            lay = plan.nodes[n].layout
            room = lay.kernel_size if lay else 0
            rows.append([n, str(img["text"]), str(img["data"]), str(img["bss"]), str(room),
                         "yes" if img["ram"] <= room else "NO"])
        print(report.table(rows))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    plan = _load_plan(args.deployment)
    text = report.explain(plan, args.instance)
    if text is None:
        names = ", ".join(sorted(plan.instance_node))
        raise UserError(f"error: deployment '{plan.deployment.name}' has no instance '{args.instance}' "
                        f"(instances: {names})")
    if args.json:
        node = plan.instance_node[args.instance]
        doc = load_node_plan_text(plan_documents(plan)[node])
        inst = next(i for i in doc.instances if i.name == args.instance)
        print(json.dumps({"node": node_info_json(doc.node), "instance": instance_json(inst),
                          "callers": [capability_json(c) for c in doc.capabilities if c.callee == args.instance]},
                         indent=1, sort_keys=True))
        return 0
    print(text)
    return 0


def _cluster_script(target: str) -> str:
    """`up`'s argument -> the :cluster script of its deployment, built first if given as a package."""
    if os.path.isfile(target):
        return target  # a built cluster script
    pkg = target[2:] if target.startswith("//") else os.path.relpath(os.path.abspath(target), _workspace())
    pkg = pkg.split(":")[0].rstrip("/")
    bazel = shutil.which("bazel")
    if bazel is None:
        raise UserError("error: 'bazel' not found; pass a built cluster script instead")
    ws = _workspace()
    build = subprocess.run([bazel, "build", "--color=no", "--noshow_progress", f"//{pkg}:cluster"], cwd=ws,
                           capture_output=True, text=True)
    if build.returncode != 0:
        sys.stderr.write(build.stderr)
        raise UserError(f"error: building //{pkg}:cluster failed")
    info = subprocess.run([bazel, "info", "bazel-bin"], cwd=ws, capture_output=True, text=True)
    return os.path.join(info.stdout.strip(), pkg, "cluster.sh")


def cmd_cluster(args: argparse.Namespace) -> int:
    from ambience.cluster import runner

    root = args.runtime_dir or runner.runtime_root()
    if args.action == "up":
        if not args.deployment:
            raise UserError("error: `cluster up` needs a deployment (//deployments/hello/on_board)")
        extra = [f"--link={x}" for x in args.link] + ["--health-timeout", str(args.health_timeout)]
        return subprocess.call([_cluster_script(args.deployment), "--detach", "--runtime-dir", root, *extra])
    if args.action == "status":
        lines, docs = runner.status_report(root, args.deployment)
        print(json.dumps(docs, indent=1, sort_keys=True) if args.json else "\n".join(lines))
        return 0
    said = runner.down(root, args.deployment)
    print("\n".join(said) if said else "no cluster is up")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from ambience.cluster import runner
    from ambience.console.call import ConsoleError, call

    try:
        result = call(args.target, args.args, args.runtime_dir or runner.runtime_root(), args.deployment, args.timeout)
    except ConsoleError as e:
        raise UserError(f"ambience call: error: {e}") from None
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from ambience import keys, tokens

    plan = _load_plan(args.deployment)
    label = tokens.deployment_label(plan.deployment.package)
    exports = [x for np in plan.nodes.values() for x in np.exports if x.instance == args.instance]
    if not exports:
        exported = sorted({x.instance for np in plan.nodes.values() for x in np.exports})
        raise UserError(f"ambience token: error: '{args.instance}' is not exported by {label} (exported: "
                        f"{', '.join(exported) or 'none'}); only an exported instance takes tokens")
    if not any(x.http is not None for x in exports):
        raise UserError(f"ambience token: error: '{args.instance}' has no HTTP door in {label} "
                        "(export(..., http = PORT) gives it one)")
    caps = [c for np in plan.nodes.values() for c in np.capabilities
            if c.callee == args.instance and c.token_required]
    known = sorted({p.name for c in caps for p in c.procedures})
    procedures = None
    if args.procedures is not None:
        procedures = [p.strip() for p in args.procedures.split(",") if p.strip()]
        unknown = [p for p in procedures if p not in known]
        if unknown or not procedures:
            raise UserError(f"ambience token: error: --procedures {args.procedures}: "
                            f"{'no such procedure ' + ', '.join(unknown) if unknown else 'names none'} "
                            f"(procedures of '{args.instance}': {', '.join(known)})")
    try:
        expires = tokens.parse_expires(args.expires)
        master = keys.load_master(args.store or keys.default_store(), label)
    except (ValueError, keys.KeyStoreError) as e:
        raise UserError(f"ambience token: error: {e}") from None
    secret, _ = keys.token_keys(master, label)
    print(tokens.issue(secret, label, args.instance, procedures, expires))
    return 0


def _deployment_label(text: str) -> str:
    """A deployment label (//deployments/x); with `bazel run`, checked against the workspace."""
    label = text.rstrip("/")
    if not label.startswith("//"):
        raise UserError(f"ambience keys: error: '{text}' is not a deployment label (like //deployments/camera_trap)")
    ws = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if ws:
        pkg = os.path.join(ws, label[2:].split(":")[0])
        build = next((os.path.join(pkg, b) for b in ("BUILD.bazel", "BUILD") if os.path.isfile(os.path.join(pkg, b))),
                     None)
        if build is None or "deployment(" not in open(build, encoding="utf-8").read():
            raise UserError(f"ambience keys: error: {label} is not a deployment package (no deployment() in "
                            f"{build or pkg + '/BUILD.bazel'})")
    return label


def cmd_keys(args: argparse.Namespace) -> int:
    from ambience import keys

    store = os.path.abspath(os.path.expanduser(args.store or keys.default_store()))
    try:
        for text in args.deployments:
            label = _deployment_label(text)
            if args.action == "path":
                print(keys.master_path(store, label))
                continue
            if args.action == "init" and args.if_missing and os.path.exists(keys.master_path(store, label)):
                continue
            path = keys.init_store(store, label, rotate=args.action == "rotate")
            print(f"ambience keys: {'rotated' if args.action == 'rotate' else 'created'} the master key of {label}: "
                  f"{path}" + (" (rebuild every image of the deployment; issued tokens are void)"
                               if args.action == "rotate" else ""))
    except keys.KeyStoreError as e:
        raise UserError(f"ambience keys: error: {e}") from None
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """The build's step that puts a node's pair keys into its image (tools/bazel/defs.bzl)."""
    from ambience import keygen, keys

    doc = load_node_plan_text(open(args.plan, encoding="utf-8").read())
    label = keygen.deployment_label(doc)
    if args.store_missing:
        raise UserError(f"ambience: error: no key store at {open(args.store_missing, encoding='utf-8').read().strip()}"
                        f" for {label} (set AMBIENCE_KEY_STORE, or create it: "
                        f"`{keys.INIT_COMMAND.format(label=label)}`)")
    try:
        master = keys.load_master(args.store, label)
    except keys.KeyStoreError as e:
        # Name the store where the user keeps it, not the build's view of it.
        real = open(args.store_name, encoding="utf-8").read().strip() if args.store_name else args.store
        raise UserError(f"ambience: error: {str(e).replace(args.store, real)}") from None
    with open(args.cc_out, "w", encoding="utf-8") as f:
        f.write(keygen.node_keys_cc(doc, master))
    with open(args.doors_out, "w", encoding="utf-8") as f:
        f.write(keygen.door_keys_json(doc, master))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ambience", description="Ambience deployment compiler: plan, inspect and "
                                "generate per-node code for a deployment.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def deployment_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("deployment", help="a deployment package (//deployments/hello) or its <name>.inputs.json")

    sp = sub.add_parser("plan", help="summary table: nodes, groups, instances and how they reach their dependencies")
    deployment_arg(sp)
    sp.add_argument("--json", action="store_true", help="machine-readable summary")
    sp.add_argument("--node", help="print the full plan JSON of one node")
    sp.set_defaults(fn=cmd_plan)

    sp = sub.add_parser("graph", help="draw nodes, networks, groups and routes with Graphviz")
    deployment_arg(sp)
    sp.add_argument("-o", "--output", help="output file (.svg, .png, .pdf or .dot); default: dot text on stdout")
    sp.set_defaults(fn=cmd_graph)

    sp = sub.add_parser("sizes", help="memory per node: budget, need, MPU regions and their waste")
    deployment_arg(sp)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("--images", action="store_true", help="build the images first and compare their size reports")
    sp.set_defaults(fn=cmd_sizes)

    sp = sub.add_parser("explain", help="where an instance runs, how each dependency is reached, and why")
    deployment_arg(sp)
    sp.add_argument("instance", help="instance name")
    sp.add_argument("--json", action="store_true", help="the instance's plan entry, node and callers as JSON")
    sp.set_defaults(fn=cmd_explain)

    sp = sub.add_parser("cluster", help="run every node of a deployment here, wired together, in the background")
    sp.add_argument("action", choices=["up", "status", "down"])
    sp.add_argument("deployment", nargs="?", help="up: a deployment package or directory (or its built cluster "
                    "script); status/down: a deployment name (default: every cluster that is up)")
    sp.add_argument("--link", action="append", default=[], metavar="NETWORK=KEY:VALUE,...",
                    help="up: model of a serial line (baud, latency, drop, duplicate, reorder, corrupt, seed)")
    sp.add_argument("--health-timeout", type=float, default=30.0, help="up: seconds to wait for every node")
    sp.add_argument("--runtime-dir", help="where clusters keep their state (default: $XDG_RUNTIME_DIR or /tmp)")
    sp.add_argument("--json", action="store_true", help="status: machine-readable")
    sp.set_defaults(fn=cmd_cluster)

    sp = sub.add_parser("call", help="call a procedure of a running cluster from the host; prints the result as JSON")
    sp.add_argument("target", metavar="NODE/INSTANCE.PROCEDURE", help="e.g. board/greeter.greet")
    sp.add_argument("args", nargs="?", default="{}", metavar="JSON", help="the arguments as a JSON object "
                    "(default: {}), e.g. '{\"name\": \"x\"}'")
    sp.add_argument("--deployment", help="the cluster to call when several are up")
    sp.add_argument("--timeout", type=float, help="seconds before the call ends in timeout (default: the "
                    "default of the slowest network kind on the way)")
    sp.add_argument("--runtime-dir", help="where clusters keep their state (default: $XDG_RUNTIME_DIR or /tmp)")
    sp.set_defaults(fn=cmd_call)

    sp = sub.add_parser("token", help="issue a token for an exported instance's HTTP door (prints it)")
    sp.add_argument("action", choices=["issue"])
    deployment_arg(sp)
    sp.add_argument("instance", help="the exported instance")
    sp.add_argument("--procedures", metavar="A,B", help="the procedures it grants (default: all)")
    sp.add_argument("--expires", default=DEFAULT_TOKEN_EXPIRY, help="30m, 1h, 7d or an ISO time "
                    "(2026-12-31T00:00Z) (default: %(default)s)")
    sp.add_argument("--store", help="the key store (default: $AMBIENCE_KEY_STORE or ~/.config/ambience/keys)")
    sp.set_defaults(fn=cmd_token)

    sp = sub.add_parser("keys", help="the deployments' key store (outside the repository): create, rotate, locate")
    sp.add_argument("action", choices=["init", "rotate", "path"])
    sp.add_argument("deployments", nargs="+", metavar="DEPLOYMENT", help="deployment labels, e.g. "
                    "//deployments/camera_trap")
    sp.add_argument("--store", help="the key store directory (default: $AMBIENCE_KEY_STORE or ~/.config/ambience/keys)")
    sp.add_argument("--if-missing", action="store_true", help="init: keep an existing key without an error")
    sp.set_defaults(fn=cmd_keys)

    sp = sub.add_parser("keygen", help="(used by the deployment() Bazel rule) a node's pair keys from the key store")
    sp.add_argument("--plan", required=True, help="the node's plan JSON")
    sp.add_argument("--store", default="", help="the key store directory")
    sp.add_argument("--store-name", default="", help="a file naming the store (for messages)")
    sp.add_argument("--store-missing", default="", help="a file naming the store that was looked for and is absent")
    sp.add_argument("--cc-out", required=True)
    sp.add_argument("--doors-out", required=True)
    sp.set_defaults(fn=cmd_keygen)

    sp = sub.add_parser("compile", help="(used by the deployment() Bazel rule) validate, plan and generate code")
    sp.add_argument("--description", required=True, help="deployment description JSON written by deployment()")
    sp.add_argument("--service", action="append", default=[], help="service description JSON (repeatable)")
    sp.add_argument("--lidl", action="append", default=[], help="lidl interface JSON (repeatable)")
    sp.add_argument("--facts", help="target facts JSON (//tools/facts:target_facts); default: the committed copy")
    sp.add_argument("--source-root", default=".", help="where BUILD files are, for source lines in diagnostics")
    sp.add_argument("--inputs-out", help="write all inputs as one bundle, for the CLI")
    sp.add_argument("--plan-dir", help="write <node>.plan.json files here")
    sp.add_argument("--plan-out", action="append", default=[], metavar="NODE=PATH", help="write one node's plan")
    sp.add_argument("--codegen-dir", help="write generated per-node C++ here")
    sp.add_argument("--expect-nodes", help="comma-separated node names the build declared (consistency check)")
    sp.set_defaults(fn=cmd_compile)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.fn(args)
        return status
    except UserError as e:
        sys.stderr.write(str(e) + "\n")
        return 1
    except KeyboardInterrupt:
        return 1
    except Exception:  # an internal error: say so plainly, with the trace for the bug report
        sys.stderr.write("ambience: internal error (please report):\n" + traceback.format_exc())
        return 2
