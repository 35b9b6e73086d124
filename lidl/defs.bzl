"""lidl_library: compile .lidl files into C++, Python and the JSON interface description.

    load("//lidl:defs.bzl", "lidl_library")
    lidl_library(name = "frames", srcs = ["frames.lidl"], deps = ["//services/base:base"])

creates
    :frames       the lidl target itself: LidlInfo (for deps and the deployment compiler), default
                  outputs = the JSON descriptions (<stem>.lidl.json); output groups "cpp", "py", "json"
    :frames_cc    cc_library with <stem>.lidl.hpp (include "<package>/<stem>.lidl.hpp")
    :frames_py    py_library with <stem>_lidl.py (import <package dotted>.<stem>_lidl)
    :frames_json  filegroup of the JSON descriptions
The generator is the py_binary //lidl:lidlc (exec configuration).
"""

LidlInfo = provider(
    doc = "lidl sources of a lidl_library and of everything it imports.",
    fields = {
        "srcs": "depset of .lidl files (direct and transitive)",
        "json": "depset of the JSON interface descriptions of the direct srcs",
    },
)

_OUTPUTS = [("cpp", ".lidl.hpp"), ("py", "_lidl.py"), ("json", ".lidl.json")]

def _relative_stem(ctx, src):
    # Keep subdirectories below the package so generated paths mirror the sources.
    short = src.short_path
    pkg = ctx.label.package
    if pkg and short.startswith(pkg + "/"):
        short = short[len(pkg) + 1:]
    return short[:-len(".lidl")] if short.endswith(".lidl") else short

def _lidl_library_impl(ctx):
    transitive = depset(ctx.files.srcs, transitive = [d[LidlInfo].srcs for d in ctx.attr.deps])
    groups = {"cpp": [], "py": [], "json": []}
    for src in ctx.files.srcs:
        stem = _relative_stem(ctx, src)
        for lang, suffix in _OUTPUTS:
            out = ctx.actions.declare_file(stem + suffix)
            args = ctx.actions.args()
            args.add_all(["gen", "--lang", lang, src.path, "-o", out.path])

            # Imports resolve relative to the importing file, then from the workspace root
            # (import "services/base/base.lidl"), for sources and generated .lidl files alike.
            args.add_all(["-I", ".", "-I", ctx.bin_dir.path])
            args.add("--bazel")
            args.add("--strip-prefix", ctx.bin_dir.path)
            args.add("--strip-prefix", ctx.genfiles_dir.path)
            ctx.actions.run(
                executable = ctx.executable._lidlc,
                arguments = [args],
                inputs = transitive,
                outputs = [out],
                mnemonic = "LidlGen",
                progress_message = "lidl %s %s" % (lang, src.short_path),
            )
            groups[lang].append(out)
    return [
        DefaultInfo(files = depset(groups["json"])),
        LidlInfo(srcs = transitive, json = depset(groups["json"])),
        OutputGroupInfo(cpp = depset(groups["cpp"]), py = depset(groups["py"]), json = depset(groups["json"])),
    ]

lidl_gen = rule(
    implementation = _lidl_library_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = [".lidl"], mandatory = True),
        "deps": attr.label_list(providers = [LidlInfo]),
        "_lidlc": attr.label(default = "//lidl:lidlc", executable = True, cfg = "exec"),
    },
    doc = "Generates C++, Python and JSON from .lidl files (use the lidl_library macro).",
)

def _label_with_suffix(dep, suffix):
    if ":" in dep:
        return dep + suffix

    # "//a/b" means "//a/b:b"
    return dep + ":" + dep.split("/")[-1] + suffix

def lidl_library(name, srcs, deps = [], visibility = None, testonly = False, tags = []):
    lidl_gen(name = name, srcs = srcs, deps = deps, visibility = visibility, testonly = testonly, tags = tags)
    for lang in ["cpp", "py", "json"]:
        native.filegroup(
            name = name + "_" + lang + "_files",
            srcs = [":" + name],
            output_group = lang,
            visibility = ["//visibility:private"],
            testonly = testonly,
            tags = tags,
        )
    native.cc_library(
        name = name + "_cc",
        hdrs = [":" + name + "_cpp_files"],
        deps = [_label_with_suffix(d, "_cc") for d in deps] + ["//lidl/runtime:rpc"],
        visibility = visibility,
        testonly = testonly,
        tags = tags,
    )
    native.py_library(
        name = name + "_py",
        srcs = [":" + name + "_py_files"],
        deps = [_label_with_suffix(d, "_py") for d in deps] + ["//lidl/runtime:py"],
        srcs_version = "PY3",
        visibility = visibility,
        testonly = testonly,
        tags = tags,
    )
    native.filegroup(
        name = name + "_json",
        srcs = [":" + name + "_json_files"],
        visibility = visibility,
        testonly = testonly,
        tags = tags,
    )
