"""Ambience deployments in BUILD files: services, networks, nodes, instances, groups, deploys.

    load("//tools/bazel:defs.bzl", "ambience_service", "deploy", "deployment", "export", "group",
         "import_service", "instance", "network", "node")

These macros only *collect* declarations; every check and decision is the planner's
(tools/ambience, a Python action).  Each declaration becomes a tiny private target whose
attributes carry it; Bazel records where the macro was called (`generator_location`), so the
planner's diagnostics point at the BUILD line.  `deployment(name)`, called last in the BUILD
file, gathers them in source order into one JSON description, runs the planner and the node code
generator, and declares one image per node.  See tools/README.md for the reference.
"""

load("//lidl:defs.bzl", "LidlInfo")
load("//platforms:copts.bzl", "AMBIENCE_COPTS")
load("//platforms:defs.bzl", "mcu_image")
load("//platforms/boards:boards.bzl", "BOARDS")

AmbienceServiceInfo = provider(
    doc = "An ambience_service: its description for the planner and the lidl JSON it needs.",
    fields = {
        "json": "File: the service description (<name>.service.json)",
        "lidl_json": "depset of lidl JSON interface descriptions (implemented and used interfaces)",
        "lidl_srcs": "depset of the .lidl sources of those interfaces (for the console, `ambience call`)",
    },
)

# ----------------------------------------------------------------------------- locations

def _noop_impl(ctx):
    return []

# One declaration of the deployment language; `payload` is its attributes as JSON.
_ambience_decl = rule(
    implementation = _noop_impl,
    attrs = {
        "decl": attr.string(),
        "payload": attr.string(),
    },
)

def _location_of(target_name):
    """`path/BUILD.bazel:LINE:COL` of the macro call that created `target_name`.

    Bazel points at the call's opening parenthesis; step back over the macro's name so the
    caret lands where the declaration starts.
    """
    r = native.existing_rule(target_name)
    loc = r.get("generator_location") or ""
    fn = r.get("generator_function") or ""
    parts = loc.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        col = int(parts[2])
        if col > len(fn):
            col -= len(fn)
        return "%s:%s:%d" % (parts[0], parts[1], col)
    return loc

def _unique_name(base):
    name = base
    k = 1
    for _ in range(1000):
        if native.existing_rule(name) == None:
            return name
        k += 1
        name = "%s_%d" % (base, k)
    fail("too many declarations named like " + base)

_MARKER = "_ambience_deployment"

def _declare(decl, key, payload):
    if native.existing_rule(_MARKER) != None:
        fail("%s '%s' comes after deployment(): deployment() must be the last call in the BUILD file" % (decl, key))
    _ambience_decl(
        name = _unique_name("_ambience_%s_%s" % (decl, key)),
        decl = decl,
        payload = json.encode(payload),
        visibility = ["//visibility:private"],
    )

# ----------------------------------------------------------------------------- services

# lidl JSON of a lidl_library and of every library it imports (LidlInfo.json holds only the
# library's own), so interfaces a service inherits from another library are known too.
_LidlJsonInfo = provider(fields = {"json": "depset of lidl JSON files, transitive over deps"})

def _lidl_json_aspect_impl(target, ctx):
    direct = [target[LidlInfo].json] if LidlInfo in target else []
    deps = [d[_LidlJsonInfo].json for d in getattr(ctx.rule.attr, "deps", []) if _LidlJsonInfo in d]
    return [_LidlJsonInfo(json = depset(transitive = direct + deps))]

_lidl_json_aspect = aspect(implementation = _lidl_json_aspect_impl, attr_aspects = ["deps"])

def _lidl_cc(label):
    # lidl_library(name) and ambience_service(name) make name_cc; "//a/b" means "//a/b:b".
    if ":" in label:
        return label + "_cc"
    return label + ":" + label.split("/")[-1] + "_cc"

def _service_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".service.json")
    label = "//%s:%s" % (ctx.label.package, ctx.label.name)
    desc = {
        "ambience_service": 1,
        "label": label,
        "interface": ctx.attr.interface,
        "dependencies": ctx.attr.dependencies,
        "style": ctx.attr.style,
        "cc_class": ctx.attr.cc_class,
        "header": ctx.attr.header,
        "cc_library": "//%s:%s" % (ctx.label.package, ctx.attr.cc_library_name),
        "loc": ctx.attr.loc,
    }
    if ctx.attr.language != "cpp":
        desc["language"] = ctx.attr.language
        desc["py_module"] = ctx.attr.py_module
        desc["py_class"] = ctx.attr.py_class
    if ctx.attr.memory:
        desc["memory"] = ctx.attr.memory
    ctx.actions.write(out, json.encode_indent(desc, indent = " ") + "\n")
    lidl = depset(transitive = [d[_LidlJsonInfo].json for d in ctx.attr.implements + ctx.attr.interfaces])
    return [
        DefaultInfo(files = depset([out])),
        AmbienceServiceInfo(
            json = out,
            lidl_json = lidl,
            lidl_srcs = depset(transitive = [d[LidlInfo].srcs for d in ctx.attr.implements + ctx.attr.interfaces]),
        ),
    ]

_ambience_service = rule(
    implementation = _service_impl,
    attrs = {
        "implements": attr.label_list(providers = [LidlInfo], aspects = [_lidl_json_aspect]),
        "interfaces": attr.label_list(providers = [LidlInfo], aspects = [_lidl_json_aspect]),
        "interface": attr.string(mandatory = True),
        "dependencies": attr.string_dict(),
        "style": attr.string(default = "async"),
        "memory": attr.string(),
        "cc_class": attr.string(mandatory = True),
        "header": attr.string(mandatory = True),
        "cc_library_name": attr.string(mandatory = True),
        "loc": attr.string(),
        "language": attr.string(default = "cpp"),
        "py_module": attr.string(),
        "py_class": attr.string(),
    },
)

def _camel(name):
    return "".join([p[:1].upper() + p[1:] for p in name.split("_") if p])

def ambience_service(
        name,
        implements,
        interface,
        dependencies = {},
        srcs = [],
        hdrs = [],
        deps = [],
        interfaces = [],
        cc_class = None,
        style = "async",
        memory = None,
        copts = [],
        visibility = None,
        **kwargs):
    """A service: a C++ implementation of one lidl interface, with typed dependencies.

    Args:
      implements: the lidl_library declaring `interface`.
      interface: fully qualified lidl service name, e.g. "camera_trap.FrameHandler".
      dependencies: dependency name -> required lidl interface; the C++ constructor takes one
        reference per dependency, in this order, typed as the interface's abstract class.
      srcs, hdrs, deps, copts: as for cc_library (headers in srcs are exported too).
      interfaces: further lidl_library targets whose interfaces the dependencies use.
      cc_class: the C++ class (default: the interface's namespace + CamelCase(name)).
      style: "async" (coroutines) or "sync" (derives from the generated *Sync base).
      memory: RAM one instance needs, e.g. "8K" (planner default: 4 KiB).
    Creates :name (for instance(service = ...)) and :name_cc (the cc_library).
    """
    headers = hdrs + [s for s in srcs if s.endswith(".hpp") or s.endswith(".h")]
    sources = [s for s in srcs if not (s.endswith(".hpp") or s.endswith(".h"))]
    if not headers:
        fail("ambience_service '%s': needs a header declaring its class (in hdrs or srcs)" % name)
    native.cc_library(
        name = name + "_cc",
        srcs = sources,
        hdrs = headers,
        copts = AMBIENCE_COPTS + copts,
        deps = deps + [_lidl_cc(implements)] + [_lidl_cc(i) for i in interfaces] + ["//kernel/core"],
        visibility = visibility,
        **kwargs
    )
    marker = _unique_name("_ambience_service_" + name)
    _ambience_decl(name = marker, decl = "service", payload = "{}", visibility = ["//visibility:private"])
    namespace = "::".join(interface.split(".")[:-1])
    pkg = native.package_name()
    _ambience_service(
        name = name,
        implements = [implements],
        interfaces = interfaces,
        interface = interface,
        dependencies = dependencies,
        style = style,
        memory = str(memory) if memory != None else "",
        cc_class = cc_class or (namespace + "::" + _camel(name)),
        header = (pkg + "/" if pkg else "") + headers[0],
        cc_library_name = name + "_cc",
        loc = _location_of(marker),
        visibility = visibility,
        testonly = kwargs.get("testonly", False),
    )

def _lidl_py(label):
    # lidl_library(name) makes name_py; "//a/b" means "//a/b:b".
    if ":" in label:
        return label + "_py"
    return label + ":" + label.split("/")[-1] + "_py"

def ambience_py_service(
        name,
        implements,
        interface,
        srcs,
        dependencies = {},
        deps = [],
        interfaces = [],
        py_class = None,
        memory = None,
        visibility = None,
        **kwargs):
    """A service written in Python: a class implementing the generated async base of one lidl
    interface, run in a Python group process on hosted nodes (runtime/hosted/python).

    Args:
      implements: the lidl_library declaring `interface`.
      interface: fully qualified lidl service name, e.g. "camera_trap.Recognizer".
      srcs: the Python sources; the first defines the class.
      dependencies: dependency name -> required lidl interface; `__init__` takes one async client
        (or, in the same group, the Python object) per dependency, in this order.
      deps: further py_library targets the sources import.
      interfaces: further lidl_library targets whose interfaces the dependencies use.
      py_class: the class (default: CamelCase(name)) in the module of srcs[0].
      memory: RAM one instance needs, e.g. "8M" (planner default: 4 KiB).
    Creates :name (for instance(service = ...)), :name_py (the py_library) and :name_cc (what a
    hosted node links: the Python group launcher and these sources in its runfiles).
    """
    if not srcs or not srcs[0].endswith(".py"):
        fail("ambience_py_service '%s': srcs must start with the .py file defining the class" % name)
    native.py_library(
        name = name + "_py",
        srcs = srcs,
        srcs_version = "PY3",
        deps = deps + [_lidl_py(implements)] + [_lidl_py(i) for i in interfaces] + ["//lidl/runtime:py"],
        visibility = visibility,
        **kwargs
    )
    native.cc_library(
        name = name + "_cc",
        data = [":" + name + "_py"],
        deps = ["//runtime/hosted/python:supervisor"],
        target_compatible_with = ["@platforms//os:linux"],
        visibility = visibility,
        **kwargs
    )
    marker = _unique_name("_ambience_service_" + name)
    _ambience_decl(name = marker, decl = "service", payload = "{}", visibility = ["//visibility:private"])
    pkg = native.package_name()
    module = srcs[0][:-len(".py")].replace("/", ".")
    _ambience_service(
        name = name,
        implements = [implements],
        interfaces = interfaces,
        interface = interface,
        dependencies = dependencies,
        style = "async",
        memory = str(memory) if memory != None else "",
        cc_class = "",
        header = "",
        cc_library_name = name + "_cc",
        language = "python",
        py_module = (pkg.replace("/", ".") + "." if pkg else "") + module,
        py_class = py_class or _camel(name),
        loc = _location_of(marker),
        visibility = visibility,
        testonly = kwargs.get("testonly", False),
    )

# ----------------------------------------------------------------------------- deployment language

def network(name, kind, hop_cost = 1, encrypted = False):
    """A link between nodes: kind "udp" or "serial"; hop_cost weighs routes (lower is preferred)."""
    _declare("network", name, {"name": name, "kind": kind, "hop_cost": hop_cost, "encrypted": encrypted})

def node(name, board, networks = {}, memory = None, provides = {}, preload = {}):
    """A machine running one image. board: a //platforms board; networks: network -> address.

    provides: service name -> ambience_service the node runs in its kernel group; a dependency
    bound to that name means the one on the caller's own node.
    preload: memory region of the board -> file target the region holds at boot (the camera
    board's "frame_store"); the cluster runner has QEMU's loader put it there.
    """
    p = {"name": name, "board": board, "networks": networks}
    if provides:
        p["provides"] = provides
    if preload:
        p["preload"] = preload
    if memory != None:
        p["memory"] = memory
    _declare("node", name, p)

def instance(name, service, dependencies = {}, memory = None, timeouts = {}):
    """A named service object; dependencies: dependency name -> instance (or import) name.

    timeouts: dependency name -> the deadline of each call on it when it crosses nodes
    ("250ms", "2s", "1.5s", "500us"; default: that of the first hop's network kind).
    """
    p = {"name": name, "service": service, "dependencies": dependencies}
    if memory != None:
        p["memory"] = memory
    if timeouts:
        p["timeouts"] = timeouts
    _declare("instance", name, p)

def group(name, instances, kernel = False):
    """Instances sharing one address space (direct calls); kernel = True: the node's kernel group."""
    _declare("group", name, {"name": name, "instances": instances, "kernel": kernel})

def deploy(node, groups):
    """Runs groups (or instances: their group) on a node."""
    _declare("deploy", node, {"node": node, "groups": groups})

def export(instance, network, port = None, http = None):
    """Makes an instance callable from outside the cluster on a network (token required).

    http: a TCP port; the gateway node (a hosted node running the instance) then runs an HTTP
    door on 127.0.0.1:http: `POST /<instance>/<procedure>` with JSON and a bearer token.
    """
    p = {"instance": instance, "network": network}
    if port != None:
        p["port"] = port
    if http != None:
        p["http"] = http
    _declare("export", instance, p)

def import_service(name, interface, network, address, port = None):
    """A service outside the cluster, reachable on a network; instances may depend on it by name."""
    p = {"name": name, "interface": interface, "network": network, "address": address}
    if port != None:
        p["port"] = port
    _declare("import_service", name, p)

# ----------------------------------------------------------------------------- deployment()

def _plan_impl(ctx):
    desc = ctx.actions.declare_file(ctx.label.name + ".description.json")
    ctx.actions.write(desc, ctx.attr.description)
    inputs_bundle = ctx.actions.declare_file(ctx.label.name + ".inputs.json")
    services = [s[AmbienceServiceInfo] for s in ctx.attr.services]
    lidl = depset(transitive = [s.lidl_json for s in services]).to_list()
    outputs = [inputs_bundle]
    groups = {}
    args = ctx.actions.args()
    args.add("compile")
    args.add("--description", desc)
    for s in services:
        args.add("--service", s.json)
    for f in lidl:
        args.add("--lidl", f)
    args.add("--facts", ctx.file._facts)
    args.add("--inputs-out", inputs_bundle)
    args.add("--expect-nodes", ",".join(ctx.attr.nodes))
    gen_dir = None
    for n in ctx.attr.nodes:
        plan = ctx.actions.declare_file("%s/%s.plan.json" % (ctx.label.name, n))
        main = ctx.actions.declare_file("%s/%s_main.cc" % (ctx.label.name, n))
        args.add("--plan-out", "%s=%s" % (n, plan.path))
        outputs += [plan, main]
        groups["plan_" + n] = depset([plan])
        groups["main_" + n] = depset([main])
        if n in ctx.attr.mcu_nodes:
            ld = ctx.actions.declare_file("%s/%s_groups.ld" % (ctx.label.name, n))
            outputs.append(ld)
            groups["ld_" + n] = depset([ld])
        else:
            # The HTTP doors' config (an empty list on a node without one): runtime/hosted/http_door.
            doors = ctx.actions.declare_file("%s/%s_doors.json" % (ctx.label.name, n))
            outputs.append(doors)
            groups["doors_" + n] = depset([doors])
        gen_dir = main.dirname
    if gen_dir:
        args.add("--codegen-dir", gen_dir)
    ctx.actions.run(
        executable = ctx.executable._compiler,
        arguments = [args],
        inputs = [desc, ctx.file._facts] + [s.json for s in services] + lidl + ctx.files.build_file,
        outputs = outputs,
        mnemonic = "AmbiencePlan",
        progress_message = "Planning deployment %s" % ctx.label,
    )
    default = [desc, inputs_bundle] + [f for f in outputs if f.path.endswith(".plan.json")]
    return [
        DefaultInfo(files = depset(default), runfiles = ctx.runfiles(files = default)),
        OutputGroupInfo(**groups),
    ]

_ambience_plan = rule(
    implementation = _plan_impl,
    attrs = {
        "description": attr.string(mandatory = True),
        "services": attr.label_list(providers = [AmbienceServiceInfo]),
        "nodes": attr.string_list(),
        "mcu_nodes": attr.string_list(),
        "build_file": attr.label_list(allow_files = True),
        "_compiler": attr.label(default = "//tools:ambience_cli", executable = True, cfg = "exec"),
        # Boards and kernel limits, extracted from boards.bzl and the kernel's headers.
        "_facts": attr.label(default = "//tools/facts:target_facts", allow_single_file = True),
    },
)

def _bundle_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    exe = ctx.attr.binary[DefaultInfo].files_to_run.executable
    plan = ctx.file.plan
    doors = ctx.file.doors
    ctx.actions.run_shell(
        inputs = [exe, plan, doors],
        outputs = [out],
        command = """set -e
stage=$(mktemp -d)
mkdir -p "$stage/$4/bin"
cp -L "$1" "$stage/$4/bin/$4"
cp -L "$2" "$stage/$4/plan.json"
cp -L "$5" "$stage/$4/doors.json"
printf '#!/bin/sh\n# Starts node %s: the supervisor, which starts one process per group.\nexec "$(dirname "$0")/bin/%s" "$@"\n' "$4" "$4" > "$stage/$4/run"
chmod 0755 "$stage/$4" "$stage/$4/bin" "$stage/$4/run" "$stage/$4/bin/$4"
chmod 0644 "$stage/$4/plan.json" "$stage/$4/doors.json"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" -cf "$3" "$4"
rm -rf "$stage"
""",
        arguments = [exe.path, plan.path, out.path, ctx.attr.node, doors.path],
        mnemonic = "AmbienceBundle",
        progress_message = "Bundling hosted node %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

# A hosted node as one reproducible archive: <node>/run, <node>/bin/<node> (supervisor and,
# re-executed, every group process), <node>/plan.json, <node>/doors.json (its HTTP doors' config).
_hosted_bundle = rule(
    implementation = _bundle_impl,
    attrs = {
        "binary": attr.label(executable = True, cfg = "target"),
        "plan": attr.label(allow_single_file = True),
        "doors": attr.label(allow_single_file = True),
        "node": attr.string(),
    },
)

def _cluster_impl(ctx):
    runner = ctx.attr._runner[DefaultInfo].files_to_run.executable
    args = []
    files = []
    for target, spec in zip(ctx.attr.preload_files, ctx.attr.preload_specs):
        node, address = spec.split("=")
        for f in target[DefaultInfo].files.to_list():
            files.append(f)
            args.append("--preload=%s=$r/%s=%s" % (node, f.short_path, address))
    for img, name, plan in zip(ctx.attr.hosted, ctx.attr.hosted_names, ctx.files.hosted_plans):
        exe = img[DefaultInfo].files_to_run.executable
        files.append(plan)
        args.append("--hosted=%s=$r/%s=$r/%s" % (name, exe.short_path, plan.short_path))
    for name, doors, keys in zip(ctx.attr.hosted_names, ctx.files.hosted_doors, ctx.files.hosted_door_keys):
        files += [doors, keys]
        args.append("--doors=%s=$r/%s" % (name, doors.short_path))
        args.append("--door-keys=%s=$r/%s" % (name, keys.short_path))
    door = ctx.attr._door[DefaultInfo].files_to_run.executable
    args.append("--door-program=$r/%s" % door.short_path)
    for img, name, machine, plan in zip(ctx.attr.mcu, ctx.attr.mcu_names, ctx.attr.mcu_machines, ctx.files.mcu_plans):
        elf = [f for f in img[DefaultInfo].files.to_list() if f.path.endswith(".elf")][0]
        files += [elf, plan]
        args.append("--mcu=%s=$r/%s=%s=$r/%s" % (name, elf.short_path, machine, plan.short_path))
    lidl = depset(transitive = [s[AmbienceServiceInfo].lidl_srcs for s in ctx.attr.services]).to_list()
    files += lidl
    args.append("--lidl-root=$r")
    args += ["--lidl=$r/%s" % f.short_path for f in lidl]
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, """#!/bin/sh
# Runs every node of %s, wired together: hosted nodes as processes, MCU nodes in QEMU, serial
# lines through the runner's link emulator (--help of the runner lists the options).
r="${RUNFILES_DIR:-$0.runfiles}/ambience"
exec "$r/%s" %s "$@"
""" % (ctx.label.package, runner.short_path, " ".join(['"%s"' % a for a in args])), is_executable = True)
    runfiles = ctx.runfiles(files = files + [runner, door]).merge(ctx.attr._runner[DefaultInfo].default_runfiles)
    runfiles = runfiles.merge(ctx.attr._door[DefaultInfo].default_runfiles)
    for img in ctx.attr.hosted:
        runfiles = runfiles.merge(img[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

_cluster = rule(
    implementation = _cluster_impl,
    executable = True,
    attrs = {
        "hosted": attr.label_list(),
        "hosted_names": attr.string_list(),
        # One plan JSON per node, in the order of the names: the runner wires nodes from them.
        "hosted_plans": attr.label_list(allow_files = [".json"]),
        # <node>_doors.json per hosted node, same order: the runner starts each node's HTTP doors.
        "hosted_doors": attr.label_list(allow_files = [".json"]),
        # <node>_door_keys.json per hosted node, same order: the doors' secrets (the keygen step).
        "hosted_door_keys": attr.label_list(allow_files = [".json"]),
        "mcu": attr.label_list(),
        "mcu_names": attr.string_list(),
        "mcu_machines": attr.string_list(),
        "mcu_plans": attr.label_list(allow_files = [".json"]),
        # node(preload = ...): each file target with "node=address" at the same index.
        "preload_files": attr.label_list(allow_files = True),
        "preload_specs": attr.string_list(),
        # The services' lidl sources: the cluster keeps a copy for `ambience call`.
        "services": attr.label_list(providers = [AmbienceServiceInfo]),
        "_runner": attr.label(default = "//tools:cluster_runner", executable = True, cfg = "target"),
        "_door": attr.label(default = "//runtime/hosted/http_door", executable = True, cfg = "target"),
    },
)

def _only(ctx, target, ext, what):
    fs = [f for f in target[DefaultInfo].files.to_list() if f.path.endswith(ext)]
    if len(fs) != 1:
        fail("release %s: %s has %d %s files, needs exactly one" % (ctx.label, what, len(fs), ext))
    return fs[0]

def _release_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    top = ctx.attr.deployment
    entries = []  # (path in the archive below <top>/, File)

    index = {"ambience_release": 1, "deployment": top, "package": ctx.label.package, "nodes": {}}
    for img, name in zip(ctx.attr.mcu, ctx.attr.mcu_names):
        files = ["nodes/%s.elf" % name, "nodes/%s.bin" % name]
        entries.append((files[0], _only(ctx, img, ".elf", "MCU image " + name)))
        entries.append((files[1], _only(ctx, img, ".bin", "MCU image " + name)))
        index["nodes"][name] = {"board": ctx.attr.boards[name], "image": files}
    for bundle, name in zip(ctx.attr.hosted_bundles, ctx.attr.hosted_names):
        path = "nodes/%s.tar" % name
        entries.append((path, _only(ctx, bundle, ".tar", "hosted bundle " + name)))
        index["nodes"][name] = {"board": ctx.attr.boards[name], "image": [path]}
    for plan, name in zip(ctx.files.plans, ctx.attr.plan_names):
        path = "plans/%s.plan.json" % name
        entries.append((path, plan))
        index["nodes"].setdefault(name, {})["plan"] = path
    entries.append(("plans/description.json", _only(ctx, ctx.attr.plan, ".description.json", "the plan")))
    for target, spec in zip(ctx.attr.preload_files, ctx.attr.preload_specs):
        name, region, address = spec.split("=")
        fs = target[DefaultInfo].files.to_list()
        if len(fs) != 1:
            fail("release %s: preload %s of node %s is %d files, needs exactly one" % (ctx.label, target.label, name, len(fs)))
        path = "preload/%s/%s%s" % (name, region, "." + fs[0].extension if fs[0].extension else "")
        entries.append((path, fs[0]))
        index["nodes"].setdefault(name, {}).setdefault("preload", {})[region] = {"file": path, "address": int(address)}
    seen = {}
    for path, _ in entries:
        if path in seen:
            fail("release %s: two files would be %s" % (ctx.label, path))
        seen[path] = True
    index_file = ctx.actions.declare_file(ctx.label.name + ".release.json")
    ctx.actions.write(index_file, json.encode_indent(index, indent = " ") + "\n")
    entries.append(("release.json", index_file))

    args = ctx.actions.args()
    args.add(out)
    args.add(top)
    for path, f in entries:
        args.add(path)
        args.add(f)
    ctx.actions.run_shell(
        inputs = [f for _, f in entries],
        outputs = [out],
        # Byte-identical across builds: fixed names, modes, owners and times, names sorted
        # bytewise; the manifest is in `sha256sum -c` format, relative to <deployment>/.
        command = """set -eu
export LC_ALL=C
out=$1 top=$2
shift 2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
while [ $# -gt 0 ]; do
  mkdir -p "$stage/$top/$(dirname "$1")"
  cp -L "$2" "$stage/$top/$1"
  shift 2
done
(cd "$stage/$top" && find . -type f | sed 's|^\\./||' | sort | while IFS= read -r f; do sha256sum "$f"; done) > "$stage/MANIFEST.sha256"
mv "$stage/MANIFEST.sha256" "$stage/$top/MANIFEST.sha256"
find "$stage/$top" -type d -exec chmod 0755 {} +
find "$stage/$top" -type f -exec chmod 0644 {} +
tar --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" -cf "$out" "$top"
""",
        arguments = [args],
        mnemonic = "AmbienceRelease",
        progress_message = "Packing release %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]))]

# The whole deployment as one reproducible archive, <deployment>/ inside: nodes/<node>.elf and
# .bin (MCU), nodes/<node>.tar (hosted bundle), plans/<node>.plan.json, plans/description.json,
# preload/<node>/<region>.<ext>, release.json (which file is what) and MANIFEST.sha256.
_release = rule(
    implementation = _release_impl,
    attrs = {
        "deployment": attr.string(mandatory = True),
        "plan": attr.label(mandatory = True),
        "boards": attr.string_dict(),  # node -> board label
        "mcu": attr.label_list(),
        "mcu_names": attr.string_list(),
        "hosted_bundles": attr.label_list(),
        "hosted_names": attr.string_list(),
        "plans": attr.label_list(allow_files = [".json"]),
        "plan_names": attr.string_list(),
        "preload_files": attr.label_list(allow_files = True),
        # "node=region=address", one per preload file
        "preload_specs": attr.string_list(),
    },
)

def _sort_key(loc):
    # "path:LINE:COL" -> (path, line, col), so declarations sort in source order
    parts = loc.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return (parts[0], int(parts[1]), int(parts[2]))
    return (loc, 0, 0)

def _absolute(label):
    if label.startswith(":"):
        return "//" + native.package_name() + label
    if label.startswith("//") or label.startswith("@"):
        # "//services/motion" is "//services/motion:motion", as everywhere in Bazel.
        if ":" not in label:
            return label + ":" + label.split("/")[-1]
        return label
    return "//" + native.package_name() + ":" + label

def _golden_targets(pkg, generated, testonly):
    """:golden_test compares the generated plans, node C++ and linker fragments with golden/;
    `bazel run :golden_update` rewrites golden/ (tools/update_goldens.sh does every deployment)."""
    native.filegroup(name = "golden_files", srcs = native.glob(["golden/*"]), testonly = testonly)
    native.sh_test(
        name = "golden_test",
        size = "small",
        srcs = ["//tools/bazel:golden_test.sh"],
        args = [pkg, "$(locations :golden_files)", "--"] + ["$(locations %s)" % g for g in generated],
        data = [":golden_files"] + generated,
        testonly = testonly,
    )
    native.sh_binary(
        name = "golden_update",
        srcs = ["//tools/bazel:golden_update.sh"],
        args = [pkg] + ["$(locations %s)" % g for g in generated],
        data = generated,
        testonly = testonly,
    )

def _node_keys_impl(ctx):
    cc = ctx.actions.declare_file(ctx.label.name + ".cc")
    doors = ctx.actions.declare_file(ctx.label.name.replace("_keys", "") + "_door_keys.json")
    status = ctx.file._key_status
    args = ctx.actions.args()
    args.add("keygen")
    args.add("--plan", ctx.file.plan)
    if status.basename == "missing.txt":
        args.add("--store-missing", status)
    else:
        args.add("--store", status.dirname + "/store")
        args.add("--store-name", status)
    args.add("--cc-out", cc)
    args.add("--doors-out", doors)
    ctx.actions.run(
        executable = ctx.executable._compiler,
        arguments = [args],
        inputs = [ctx.file.plan, status] + ctx.files._key_store,
        outputs = [cc, doors],
        mnemonic = "AmbienceKeys",
        progress_message = "Deriving the pair keys of %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset([cc])),
        OutputGroupInfo(door_keys = depset([doors])),
    ]

# A node's secret half: its pair keys, derived from the key store (tools/ambience/keygen.py).
_node_keys = rule(
    implementation = _node_keys_impl,
    attrs = {
        "plan": attr.label(allow_single_file = True, mandatory = True),
        "_compiler": attr.label(default = "//tools:ambience_cli", executable = True, cfg = "exec"),
        "_key_store": attr.label(default = "@ambience_keys//:store", allow_files = True),
        "_key_status": attr.label(default = "@ambience_keys//:status", allow_single_file = True),
    },
)

def deployment(name, visibility = None, testonly = False):
    """Call last in the BUILD file. Plans the deployment and declares one image per node.

    testonly: set it when the services are testonly (e.g. built on lidl test data).

    Creates :name (the plan: description, per-node plans, inputs bundle for the CLI),
    :<node> for every node (a cc_binary for hosted boards, plus :<node>_bundle, a tar of
    supervisor + plan + doors.json; an mcu_image for Cortex-M boards, which produces .elf, .bin and a size
    report), :<node>_plan, :name_images, :cluster (every node run locally) and :release
    (<name>/ in release.tar: every node image, the plans, the preloaded files, release.json and
    MANIFEST.sha256; byte-identical across clean builds).
    """

    # One deployment per package; later declarations would be missed, so they fail (_declare).
    if native.existing_rule(_MARKER) != None:
        fail("deployment '%s': a package holds one deployment(), and %s already has one (at %s)" %
             (name, native.package_name(), _location_of(_MARKER)))
    _ambience_decl(name = _MARKER, decl = "deployment", payload = "{}", visibility = ["//visibility:private"])

    # Images, plans and generated code are for anyone (tests, clusters, the CLI); the BUILD file
    # too, so tools can show the manifest next to its diagnostics.
    visibility = visibility or ["//visibility:public"]
    decls = []
    for rname, r in native.existing_rules().items():
        if r["kind"] != "_ambience_decl" or r["decl"] in ("service", "deployment"):
            continue
        loc = _location_of(rname)
        d = json.decode(r["payload"])
        d["decl"] = r["decl"]
        d["loc"] = loc
        decls.append((_sort_key(loc), rname, d))
    decls = [d for _, _, d in sorted(decls)]

    # Which services each node links: resolution of the declared names only (no decisions).
    instances = {}
    group_members = {}
    nodes = []
    provided_services = {}  # node -> service labels it provides

    # Malformed attributes (wrong types) are skipped here: the planner reports them with locations.
    for d in decls:
        if d["decl"] == "instance" and type(d.get("service")) == "string" and type(d.get("name")) == "string":
            instances[d["name"]] = _absolute(d["service"])
        elif d["decl"] == "group" and type(d.get("instances")) == "list" and type(d.get("name")) == "string":
            group_members[d["name"]] = [m for m in d["instances"] if type(m) == "string"]
        elif d["decl"] == "node" and type(d.get("name")) == "string" and type(d.get("board")) == "string":
            nodes.append(d)
            if type(d.get("provides")) == "dict":
                for pname, label in d["provides"].items():
                    if type(label) == "string":
                        provided_services.setdefault(d["name"], []).append(_absolute(label))
    for g, members in group_members.items():
        for m in members:
            if m not in group_members:
                group_members[m] = members  # naming a member in deploy() means its group
    node_services = {}
    for d in decls:
        if d["decl"] == "deploy" and type(d.get("node")) == "string" and type(d.get("groups")) == "list":
            svcs = node_services.setdefault(d["node"], {})
            for g in d["groups"]:
                for i in group_members.get(g, [g]):
                    if type(i) == "string" and i in instances:
                        svcs[instances[i]] = True

    for nname, labels in provided_services.items():
        for label in labels:
            node_services.setdefault(nname, {})[label] = True
    services = sorted({s: True for s in list(instances.values()) + [
        l
        for labels in provided_services.values()
        for l in labels
    ]}.keys())
    node_names = [n["name"] for n in nodes]
    mcu_nodes = [n["name"] for n in nodes if n["board"].split(":")[-1] in BOARDS]

    pkg = native.package_name()
    build_files = native.glob(["BUILD.bazel", "BUILD"])
    native.exports_files(build_files, visibility = visibility)
    description = {
        "ambience_description": 1,
        "name": name,
        "package": pkg,
        "build_file": pkg + "/" + (build_files[0] if build_files else "BUILD.bazel"),
        "declarations": decls,
    }
    _ambience_plan(
        name = name,
        description = json.encode_indent(description, indent = " ") + "\n",
        services = services,
        nodes = node_names,
        mcu_nodes = mcu_nodes,
        build_file = build_files,
        visibility = visibility,
        testonly = testonly,
    )

    images = []
    generated = []  # what the deployment compiler writes, compared with golden/ by :golden_test
    for n in nodes:
        nname = n["name"]
        for kind in ["plan", "main"] + (["ld"] if nname in mcu_nodes else []):
            generated.append(":%s_%s" % (nname, kind))
            native.filegroup(
                name = "%s_%s" % (nname, kind),
                srcs = [":" + name],
                output_group = "%s_%s" % (kind, nname),
                visibility = visibility,
                testonly = testonly,
            )

        _node_keys(
            name = "%s_keys" % nname,
            plan = ":%s_plan" % nname,
            visibility = visibility,
            testonly = testonly,
        )
        native.filegroup(
            name = "%s_door_keys" % nname,
            srcs = [":%s_keys" % nname],
            output_group = "door_keys",
            visibility = visibility,
            testonly = testonly,
        )

        # Each service's cc_library; a service named by its package ("//services/storage") too.
        libs = [_lidl_cc(s) for s in sorted(node_services.get(nname, {}).keys())]
        runtime = ["//kernel/core", "//runtime"]
        if nname in mcu_nodes:
            mcu_image(
                name = nname,
                board = n["board"],
                srcs = [":%s_main" % nname, ":%s_keys" % nname],
                deps = libs + runtime + ["//kernel/arch/cortex_m:groups", "//runtime/cortex_m:mcu_group", "//runtime/cortex_m:mcu_rpc"],
                copts = AMBIENCE_COPTS,
                additional_linker_inputs = [":%s_ld" % nname],
                linkopts = ["-T$(location :%s_ld)" % nname],
                visibility = visibility,
                testonly = testonly,
            )
        else:
            native.filegroup(
                name = "%s_doors" % nname,
                srcs = [":" + name],
                output_group = "doors_" + nname,
                visibility = visibility,
                testonly = testonly,
            )
            native.cc_binary(
                name = nname,
                srcs = [":%s_main" % nname, ":%s_keys" % nname],
                deps = libs + runtime + ["//runtime/hosted", "//runtime/hosted:hosted_rpc"],
                copts = AMBIENCE_COPTS,
                data = [":%s_plan" % nname, ":%s_doors" % nname],
                visibility = visibility,
                testonly = testonly,
            )
            _hosted_bundle(
                name = nname + "_bundle",
                binary = ":" + nname,
                plan = ":%s_plan" % nname,
                doors = ":%s_doors" % nname,
                node = nname,
                visibility = visibility,
                testonly = testonly,
            )
            images.append(":%s_bundle" % nname)
        images.append(":" + nname)
    native.filegroup(name = name + "_images", srcs = images, visibility = visibility, testonly = testonly)
    _golden_targets(pkg, generated, testonly)
    hosted_nodes = [n["name"] for n in nodes if n["name"] not in mcu_nodes]
    mcu = [n for n in nodes if n["name"] in mcu_nodes]
    preload_files = []
    preload_specs = []
    release_preload = []
    for n in mcu:
        preload = n.get("preload", {})
        if type(preload) != "dict":
            fail("node '%s': preload must be a dict of memory region -> file target" % n["name"])
        for region, label in sorted(preload.items()):
            b = BOARDS[n["board"].split(":")[-1]]
            if region != "frame_store" or not getattr(b, "frame_store_bytes", 0):
                fail("node '%s': board %s has no memory region '%s' to preload (it has: %s)" %
                     (n["name"], b.name, region, "frame_store" if getattr(b, "frame_store_bytes", 0) else "none"))
            preload_files.append(_absolute(label))
            preload_specs.append("%s=%d" % (n["name"], b.ext_ram_base))
            release_preload.append("%s=%s=%d" % (n["name"], region, b.ext_ram_base))
    _cluster(
        name = "cluster",
        hosted = [":" + n for n in hosted_nodes],
        hosted_names = hosted_nodes,
        hosted_plans = [":%s_plan" % n for n in hosted_nodes],
        hosted_doors = [":%s_doors" % n for n in hosted_nodes],
        hosted_door_keys = [":%s_door_keys" % n for n in hosted_nodes],
        mcu = [":" + n["name"] for n in mcu],
        mcu_names = [n["name"] for n in mcu],
        mcu_machines = [BOARDS[n["board"].split(":")[-1]].qemu_machine for n in mcu],
        mcu_plans = [":%s_plan" % n["name"] for n in mcu],
        preload_files = preload_files,
        preload_specs = preload_specs,
        services = services,
        visibility = visibility,
        testonly = testonly,
    )
    _release(
        name = "release",
        deployment = name,
        plan = ":" + name,
        boards = {n["name"]: n["board"] for n in nodes},
        mcu = [":" + n["name"] for n in mcu],
        mcu_names = [n["name"] for n in mcu],
        hosted_bundles = [":%s_bundle" % n for n in hosted_nodes],
        hosted_names = hosted_nodes,
        plans = [":%s_plan" % n for n in node_names],
        plan_names = node_names,
        preload_files = preload_files,
        preload_specs = release_preload,
        visibility = visibility,
        testonly = testonly,
    )
