"""Fuzzes the deployment loader, planner and code generators with mutations of real inputs:
the `<name>.inputs.json` bundles the deployment() macro writes from BUILD files (description,
services, lidl JSON; `facts` left out: the committed target facts are used). Whatever the
declarations and services say, the compiler must answer with plans whose code generates, or
with DiagnosticError whose every diagnostic is located (a file, and a line in the BUILD file it
names). robustness_test.py draws random manifests from a small vocabulary; this starts from the
checked-in deployments instead, so most inputs are one or two edits away from a valid one.

    bazel run //tools:manifest_fuzz -- --seconds 60
    python3 tools/ambience/manifest_fuzz.py --seconds 60   (PYTHONPATH=repo root:tools)

Seeds: tools/ambience/fuzz_seeds/*.json (snapshots of bazel-bin/deployments/**/*.inputs.json).
Only what a BUILD file controls is mutated: the declarations' attributes (any JSON value, as
Starlark can pass), their kinds, order and number, and the services' attributes (keeping their
types: a rule's typed attributes); the macro's own structure (declaration dicts with "decl" and
"loc", the lidl documents) is kept, and inputs without it are skipped.
"""
from __future__ import annotations

import copy
import json
import os
import random
import re
import sys
import tempfile
from typing import Any

from ambience import codegen
from ambience.compiler import compile_plan
from ambience.diagnostics import Diagnostic, DiagnosticError, format_all
from ambience.plan_json import plan_documents
from lidl.fuzz import driver

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_seeds")
DECLS = ["network", "node", "instance", "group", "deploy", "export", "import_service", "bogus"]
WEIRD: list[Any] = [None, True, False, 0, 1, -1, 2 ** 31, 2 ** 64, 1.5, -0.0, "", "x", "9x", "a b", "a/b", "//x:y",
                    ":local", "//services/nope", "64K", "1M", "0K", "lots", "-1K", "10.0.0.1", "1", "x:y", "\u00e9",
                    "a" * 300, [], [""], ["a", "a"], [1], {}, {"": ""}, {"a": 1}, {"a": None}, [[]], {"a": {"b": "c"}}]


def _strings(doc: Any, out: set[str]) -> None:
    if isinstance(doc, str):
        out.add(doc)
    elif isinstance(doc, list):
        for v in doc:
            _strings(v, out)
    elif isinstance(doc, dict):
        for k, v in doc.items():
            out.add(k)
            _strings(v, out)


def _value(rng: random.Random, pool: list[str], others: list[Any]) -> Any:
    r = rng.random()
    if r < 0.35 and pool:
        return rng.choice(pool)
    if r < 0.55 and others:
        return copy.deepcopy(rng.choice(others))
    return copy.deepcopy(rng.choice(WEIRD))


def _mutate_service(obj: dict[str, Any], rng: random.Random, pool: list[str]) -> None:
    """A service description is written by a rule from typed attributes: values keep their type."""
    user = [k for k in obj if k not in ("loc", "label", "ambience_service")]
    if not user:
        return
    k = rng.choice(user)
    v = obj[k]
    if isinstance(v, str):
        obj[k] = rng.choice(pool + [w for w in WEIRD if isinstance(w, str)])
    elif isinstance(v, bool):
        obj[k] = not v
    elif isinstance(v, int):
        obj[k] = rng.choice([0, -1, 1, 2 ** 31, 2 ** 64, v * 1000])
    elif isinstance(v, dict):
        if v and rng.random() < 0.4:
            del v[rng.choice(list(v))]
        else:
            v[rng.choice(pool) if pool else "x"] = rng.choice(pool) if pool else ""


def _mutate_obj(obj: dict[str, Any], rng: random.Random, pool: list[str], keys: list[str],
                same_key: dict[str, list[Any]]) -> None:
    user = [k for k in obj if k not in ("decl", "loc")]
    op = rng.randrange(6)
    if op == 0 and user:  # replace a value
        k = rng.choice(user)
        obj[k] = _value(rng, pool, same_key.get(k, []))
    elif op == 1 and user:
        del obj[rng.choice(user)]
    elif op == 2:
        k = rng.choice(keys) if keys and rng.random() < 0.8 else rng.choice(["extra", "", "decl2", "name "])
        if k not in ("decl", "loc"):
            obj[k] = _value(rng, pool, same_key.get(k, []))
    elif op == 3 and user:  # edit inside a dict or list value
        k = rng.choice(user)
        v = obj[k]
        if isinstance(v, dict):
            if v and rng.random() < 0.4:
                del v[rng.choice(list(v))]
            else:
                v[rng.choice(pool) if pool else "x"] = _value(rng, pool, list(v.values()))
        elif isinstance(v, list):
            if v and rng.random() < 0.4:
                del v[rng.randrange(len(v))]
            else:
                v.insert(rng.randint(0, len(v)), _value(rng, pool, v))
        else:
            obj[k] = _value(rng, pool, same_key.get(k, []))
    elif op == 4 and "decl" in obj:
        obj["decl"] = rng.choice(DECLS)


def mutate(data: bytes, rng: random.Random) -> bytes:
    try:
        bundle = json.loads(data)
    except (ValueError, RecursionError):
        return data
    if not _well_shaped(bundle):
        return data
    decls: list[dict[str, Any]] = bundle["description"]["declarations"]
    services: list[dict[str, Any]] = bundle["services"]
    strings: set[str] = set()
    _strings(decls, strings)
    _strings(services, strings)
    pool = sorted(strings)
    same_key: dict[str, list[Any]] = {}
    for d in decls + services:
        for k, v in d.items():
            same_key.setdefault(k, []).append(v)
    keys = sorted(same_key)
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.6 and decls:
            _mutate_obj(rng.choice(decls), rng, pool, keys, same_key)
        elif r < 0.75 and services:
            _mutate_service(rng.choice(services), rng, pool)
        elif r < 0.85 and decls:  # the same declaration twice, or one gone
            i = rng.randrange(len(decls))
            if rng.random() < 0.5:
                decls.insert(rng.randint(0, len(decls)), copy.deepcopy(decls[i]))
            else:
                del decls[i]
        elif decls:
            i, j = rng.randrange(len(decls)), rng.randrange(len(decls))
            decls[i], decls[j] = decls[j], decls[i]
    return json.dumps(bundle, sort_keys=True, separators=(",", ":")).encode()


_LOC = re.compile(r".+:[1-9][0-9]*:[1-9][0-9]*")  # Bazel's generator_location, as the macro passes it


def _well_shaped(bundle: Any) -> bool:
    """What the deployment() macro always writes: a BUILD file cannot change this structure."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("description"), dict):
        return False
    desc = bundle["description"]
    if desc.get("ambience_description") != 1 or not all(isinstance(desc.get(k), str)
                                                         for k in ("build_file", "name", "package")):
        return False
    if not isinstance(desc.get("declarations"), list) or not isinstance(bundle.get("services"), list):
        return False
    if not isinstance(bundle.get("lidl"), list) or not all(
            isinstance(x, dict) and isinstance(x.get("origin"), str) and isinstance(x.get("doc"), dict)
            for x in bundle["lidl"]):
        return False
    try:  # Starlark's json.encode writes UTF-8: no lone surrogates
        json.dumps(bundle, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    decls_ok = all(isinstance(d, dict) and isinstance(d.get("decl"), str) and isinstance(d.get("loc"), str)
                   and _LOC.fullmatch(d["loc"]) is not None for d in desc["declarations"])
    return decls_ok and all(isinstance(s, dict) for s in bundle["services"])


def _check_located(d: Diagnostic, build_file: str, name: str) -> None:
    assert d.loc.file, f"a diagnostic without a file: {d.message}"
    if d.loc.file == build_file and not d.message.startswith(f"deployment '{name}' "):
        # only the deployment as a whole ("declares no node") has no declaration to point at
        assert d.loc.line >= 1, f"a diagnostic on {build_file} without a line: {d.message}"


_out = tempfile.mkdtemp(prefix="manifest-fuzz-")


def target(data: bytes) -> None:
    try:
        bundle = json.loads(data.decode("utf-8"))  # as `ambience compile` reads it
    except (ValueError, RecursionError):
        return  # not UTF-8 JSON: the macro always writes it
    if not _well_shaped(bundle):
        return
    desc, services = bundle["description"], bundle["services"]
    lidl = [(x["origin"], x["doc"]) for x in bundle["lidl"]]
    try:
        plan = compile_plan(desc, services, lidl)
    except DiagnosticError as e:
        assert e.diagnostics, "DiagnosticError without diagnostics"
        build_file = str(desc.get("build_file", ""))
        for d in e.diagnostics:
            _check_located(d, build_file, str(desc.get("name")))
        assert format_all(e.diagnostics, [])
        return
    codegen.write_all(plan_documents(plan), _out)


def _seeds() -> list[bytes]:
    out = []
    for f in sorted(os.listdir(SEEDS)):
        with open(os.path.join(SEEDS, f), "rb") as fh:
            out.append(fh.read())
    return out


def main(argv: list[str] | None = None) -> int:
    return driver.main("manifest", target, _seeds(), mutate, argv, instrument=["ambience"])


if __name__ == "__main__":
    sys.exit(main())
