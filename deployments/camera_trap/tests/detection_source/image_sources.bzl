"""image_sources(name, image, source): which source files the build compiles into a node image.

An aspect walks the *configured* graph from the image (an mcu_image through its platform
transition, or a hosted cc_binary) along `binary` and `deps`, and records every C++ compile
action on the way: the source file it compiles and the object file it writes. The object's path names
the configuration (Cortex-M or x86_64), so a test can tell that one source file was compiled for
two targets, and the listing comes from the actions Bazel runs, not from what a BUILD file says.
"""

_CompiledInfo = provider(fields = {
    "lines": "depset of 'SOURCE OBJECT' strings",
    "objects": "depset of (source path, object File) pairs",
})

_COMPILED = ["c", "cc", "cpp", "cxx", "S", "s"]

def _compiled_aspect_impl(target, ctx):
    lines = []
    objects = []
    for a in target.actions:
        if a.mnemonic != "CppCompile":
            continue

        # The compiled file is the one C/C++/assembly source among the inputs (the rest are
        # headers and tools); the object is the one .o output.
        srcs = [f.path for f in a.inputs.to_list() if f.extension in _COMPILED]
        objs = [f for f in a.outputs.to_list() if f.extension == "o"]
        if len(srcs) == 1 and len(objs) == 1:
            lines.append("%s %s" % (srcs[0], objs[0].path))
            objects.append((srcs[0], objs[0]))
        else:
            lines.append("UNRECOGNIZED %s" % ",".join([o.path for o in objs] or ["?"]))
    deps = []
    for attr in ["binary", "deps"]:
        v = getattr(ctx.rule.attr, attr, None)
        if v == None:
            continue
        for d in (v if type(v) == "list" else [v]):
            if _CompiledInfo in d:
                deps.append(d[_CompiledInfo])
    return [_CompiledInfo(
        lines = depset(lines, transitive = [d.lines for d in deps]),
        objects = depset(objects, transitive = [d.objects for d in deps]),
    )]

_compiled_aspect = aspect(implementation = _compiled_aspect_impl, attr_aspects = ["binary", "deps"])

def _image_sources_impl(ctx):
    info = ctx.attr.image[_CompiledInfo]
    compiles = ctx.actions.declare_file(ctx.label.name + ".compiles")
    ctx.actions.write(compiles, "".join([l + "\n" for l in sorted(info.lines.to_list())]))

    # For objects compiled from `source`, a third column: the ELF machine (e_machine, 2 bytes
    # at offset 18), what the compiler really targeted (40 ARM, 62 x86-64).
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    objs = [o for s, o in info.objects.to_list() if s == ctx.attr.source]
    ctx.actions.run_shell(
        inputs = [compiles] + objs,
        outputs = [out],
        command = """set -e
compiles=$1 out=$2 source=$3
: > "$out"
while read -r src obj; do
  if [ "$src" = "$source" ]; then
    echo "$src $obj $(od -An -t u2 -j 18 -N 2 "$obj" | tr -d ' ')" >> "$out"
  else
    echo "$src $obj" >> "$out"
  fi
done < "$compiles"
""",
        arguments = [compiles.path, out.path, ctx.attr.source],
        mnemonic = "ImageSources",
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

image_sources = rule(
    implementation = _image_sources_impl,
    attrs = {
        "image": attr.label(mandatory = True, aspects = [_compiled_aspect]),
        "source": attr.string(mandatory = True, doc = "a workspace path, e.g. services/detection/detection.cc"),
    },
    doc = """<name>.txt: one line 'SOURCE OBJECT' per C++ compile action of the image, sorted;
    'SOURCE OBJECT E_MACHINE' for the objects compiled from `source`.""",
)
