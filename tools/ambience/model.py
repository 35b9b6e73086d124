"""Manifest model: the declarations of one deployment, as written in its BUILD file.

`load_description()` turns the JSON description that `deployment()` writes (or a dict built by
a test) into typed dataclasses, reporting malformed attributes with the location of the
declaration.  Nothing here decides anything; see planner.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ambience.diagnostics import Location, Reporter

NETWORK_KINDS = ("serial", "udp")  # link kinds a deployment may declare (the planner routes over them)
SERVICE_STYLES = ("async", "sync")
SERVICE_LANGUAGES = ("cpp", "python")


@dataclass(frozen=True)
class Network:
    name: str
    kind: str
    encrypted: bool
    hop_cost: int
    loc: Location


@dataclass(frozen=True)
class Node:
    name: str
    board: str
    memory: int | None  # RAM budget in bytes; None = the board's RAM
    networks: tuple[tuple[str, str], ...]  # (network, address), sorted by network
    loc: Location
    provides: tuple[tuple[str, str], ...] = ()  # (service name on this node, service label)
    preload: tuple[tuple[str, str], ...] = ()  # (memory region, file target) the node holds at boot

    @property
    def addresses(self) -> dict[str, str]:
        return dict(self.networks)


@dataclass(frozen=True)
class Service:
    label: str
    interface: str
    dependencies: tuple[tuple[str, str], ...]  # (dependency name, required interface), declaration order
    style: str
    memory: int
    cc_class: str
    header: str
    cc_library: str
    loc: Location
    language: str = "cpp"  # "python": an ambience_py_service (runtime/hosted/python)
    py_module: str = ""  # python: the module that defines py_class
    py_class: str = ""


@dataclass(frozen=True)
class Instance:
    name: str
    service: str  # normalized label
    dependencies: tuple[tuple[str, str], ...]  # (dependency name, bound instance or import)
    memory: int | None
    loc: Location
    timeouts: tuple[tuple[str, str], ...] = ()  # (dependency name, duration as written: "2s", "250ms")


@dataclass(frozen=True)
class Group:
    name: str
    instances: tuple[str, ...]
    kernel: bool
    loc: Location
    implicit: bool = False  # default group of an ungrouped instance


@dataclass(frozen=True)
class Deploy:
    node: str
    groups: tuple[str, ...]
    loc: Location


@dataclass(frozen=True)
class Export:
    instance: str
    network: str
    port: int | None
    loc: Location
    http: int | None = None  # an HTTP door on the gateway node (127.0.0.1:http), token-checked


@dataclass(frozen=True)
class Import:
    name: str
    interface: str
    network: str
    address: str
    port: int | None
    loc: Location


@dataclass
class Deployment:
    name: str
    package: str
    build_file: str
    networks: list[Network] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    loc: Location = field(default_factory=lambda: Location("<deployment>"))


_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]i?B?|B)?\s*$", re.IGNORECASE)


def parse_size(value: Any) -> int | None:
    """Accepts 4096, "64K", "64KiB", "1M"; returns bytes, or None when malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    m = _SIZE.match(value)
    if not m:
        return None
    unit = (m.group(2) or "B").upper()[0]
    return int(m.group(1)) * {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]


def normalize_label(label: str, package: str) -> str:
    """`//a/b` -> `//a/b:b`, `:x` -> `//<package>:x`, `@ambience//a:b` -> `//a:b`."""
    label = label.strip()
    if label.startswith("@ambience//"):
        label = label[len("@ambience"):]
    if label.startswith(":"):
        return f"//{package}{label}"
    if label.startswith("//") and ":" not in label:
        return f"{label}:{label.rsplit('/', 1)[-1]}"
    if not label.startswith("//") and not label.startswith("@"):
        return f"//{package}:{label}"
    return label


class _Attrs:
    """Typed access to one declaration's attributes, reporting problems at its location."""

    def __init__(self, decl: dict[str, Any], what: str, loc: Location, reporter: Reporter):
        self.decl, self.what, self.loc, self.reporter = decl, what, loc, reporter
        self.ok = True

    def _bad(self, message: str) -> None:
        self.ok = False
        self.reporter.error(self.loc, f"{self.what}: {message}")

    def string(self, key: str, default: str | None = None, required: bool = True) -> str:
        v = self.decl.get(key, default)
        if v is None:
            if required:
                self._bad(f"missing attribute '{key}'")
            return ""
        if not isinstance(v, str) or (required and v == ""):
            self._bad(f"attribute '{key}' must be a non-empty string, got {v!r}")
            return ""
        return v

    def integer(self, key: str, default: int | None, lo: int, hi: int | None = None) -> int | None:
        v = self.decl.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            rng = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            self._bad(f"attribute '{key}' must be an integer {rng}, got {v!r}")
            return None
        return v

    def boolean(self, key: str, default: bool) -> bool:
        v = self.decl.get(key, default)
        if not isinstance(v, bool):
            self._bad(f"attribute '{key}' must be True or False, got {v!r}")
            return default
        return v

    def size(self, key: str) -> int | None:
        v = self.decl.get(key)
        if v is None:
            return None
        n = parse_size(v)
        if n is None:
            self._bad(f"attribute '{key}' must be a size in bytes like 4096 or \"64K\", got {v!r}")
        return n

    def str_list(self, key: str) -> tuple[str, ...]:
        v = self.decl.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            self._bad(f"attribute '{key}' must be a list of names, got {v!r}")
            return ()
        return tuple(v)

    def str_dict(self, key: str, keep_order: bool = False) -> tuple[tuple[str, str], ...]:
        v = self.decl.get(key, {})
        if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
            self._bad(f"attribute '{key}' must be a dict of strings, got {v!r}")
            return ()
        return tuple(v.items()) if keep_order else tuple(sorted(v.items()))


def load_service(data: dict[str, Any], reporter: Reporter, origin: str = "<service>") -> Service | None:
    loc = Location.parse(data.get("loc"), origin)
    if data.get("ambience_service") != 1:
        reporter.error(loc, "not an ambience service description (expected \"ambience_service\": 1)")
        return None
    label = data.get("label", "")
    a = _Attrs(data, f"service '{label}'", loc, reporter)
    package = label[2:].split(":", 1)[0] if label.startswith("//") else ""
    language = a.string("language", "cpp")
    cpp = language != "python"  # a Python service has no C++ class or header
    svc = Service(
        label=normalize_label(a.string("label"), package),
        interface=a.string("interface"),
        dependencies=a.str_dict("dependencies", keep_order=True),  # = constructor parameter order
        style=a.string("style", "async"),
        memory=a.size("memory") or 0,
        cc_class=a.string("cc_class", required=cpp),
        header=a.string("header", required=cpp),
        cc_library=normalize_label(a.string("cc_library", label), package),
        loc=loc,
        language=language,
        py_module=a.string("py_module", required=False),
        py_class=a.string("py_class", required=False),
    )
    if svc.language not in SERVICE_LANGUAGES:
        reporter.error(loc, f"service '{label}': language must be one of {', '.join(SERVICE_LANGUAGES)}, "
                            f"got '{svc.language}'")
    if svc.language == "python" and not (svc.py_module and svc.py_class):
        reporter.error(loc, f"service '{label}': a Python service needs py_module and py_class")
    if svc.style and svc.style not in SERVICE_STYLES:
        reporter.error(loc, f"service '{label}': style must be one of {', '.join(SERVICE_STYLES)}, got '{svc.style}'")
    return svc if a.ok else None


def load_description(desc: dict[str, Any], services: list[dict[str, Any]], reporter: Reporter) -> Deployment:
    """Builds the model from the description JSON and the service descriptions it refers to."""
    package = str(desc.get("package", ""))
    build_file = str(desc.get("build_file", f"{package}/BUILD.bazel"))
    dep = Deployment(
        name=str(desc.get("name", "")),
        package=package,
        build_file=build_file,
        loc=Location.parse(desc.get("loc"), build_file),
    )
    if desc.get("ambience_description") != 1:
        reporter.error(Location(build_file),
                       "not an ambience deployment description (expected \"ambience_description\": 1)")
        return dep
    for s in services:
        svc = load_service(s, reporter)
        if svc is None:
            continue
        if svc.label in dep.services:
            continue  # the same service reached through two instances
        dep.services[svc.label] = svc

    for decl in desc.get("declarations", []):
        loc = Location.parse(decl.get("loc"), build_file)
        kind = decl.get("decl")
        name = decl.get("name", "")
        if kind == "network":
            a = _Attrs(decl, f"network '{name}'", loc, reporter)
            net = Network(
                name=a.string("name"),
                kind=a.string("kind"),
                encrypted=a.boolean("encrypted", False),
                hop_cost=a.integer("hop_cost", 1, 1) or 1,
                loc=loc,
            )
            dep.networks.append(net)
        elif kind == "node":
            a = _Attrs(decl, f"node '{name}'", loc, reporter)
            dep.nodes.append(Node(
                name=a.string("name"),
                board=normalize_label(a.string("board"), package) if decl.get("board") else "",
                memory=a.size("memory"),
                networks=a.str_dict("networks"),
                loc=loc,
                provides=tuple((k, normalize_label(v, package)) for k, v in a.str_dict("provides")),
                preload=tuple((k, normalize_label(v, package)) for k, v in a.str_dict("preload")),
            ))
            if not decl.get("board"):
                a.string("board")
        elif kind == "instance":
            a = _Attrs(decl, f"instance '{name}'", loc, reporter)
            service = a.string("service")
            dep.instances.append(Instance(
                name=a.string("name"),
                service=normalize_label(service, package) if service else "",
                dependencies=a.str_dict("dependencies"),
                memory=a.size("memory"),
                loc=loc,
                timeouts=a.str_dict("timeouts"),
            ))
        elif kind == "group":
            a = _Attrs(decl, f"group '{name}'", loc, reporter)
            dep.groups.append(Group(
                name=a.string("name"),
                instances=a.str_list("instances"),
                kernel=a.boolean("kernel", False),
                loc=loc,
            ))
        elif kind == "deploy":
            a = _Attrs(decl, f"deploy on '{decl.get('node', '')}'", loc, reporter)
            dep.deploys.append(Deploy(node=a.string("node"), groups=a.str_list("groups"), loc=loc))
        elif kind == "export":
            a = _Attrs(decl, f"export of '{decl.get('instance', '')}'", loc, reporter)
            dep.exports.append(Export(
                instance=a.string("instance"),
                network=a.string("network"),
                port=a.integer("port", None, 0, 65535),
                loc=loc,
                http=a.integer("http", None, 1, 65535),
            ))
        elif kind == "import_service":
            a = _Attrs(decl, f"import '{name}'", loc, reporter)
            dep.imports.append(Import(
                name=a.string("name"),
                interface=a.string("interface"),
                network=a.string("network"),
                address=a.string("address"),
                port=a.integer("port", None, 0, 65535),
                loc=loc,
            ))
        else:
            reporter.error(loc, f"unknown declaration kind {kind!r}")
    return dep
