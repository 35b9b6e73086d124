"""target_facts.json: the board descriptions with the kernel facts compiled for each board."""

def _platform_transition_impl(settings, attr):
    return {"//command_line_option:platforms": str(attr.platform)}

_platform_transition = transition(
    implementation = _platform_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

def _board_facts_impl(ctx):
    desc = ctx.actions.declare_file(ctx.label.name + ".description.json")
    ctx.actions.write(desc, ctx.attr.description)
    libs = [f for f in ctx.attr.kernel_facts[0][DefaultInfo].files.to_list() if f.path.endswith(".a")]
    if not libs:
        fail("%s: %s produced no static library" % (ctx.label, ctx.attr.kernel_facts[0].label))
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    args = ctx.actions.args()
    args.add("board")
    args.add("--description", desc)
    args.add("--out", out)
    args.add_all(libs)
    ctx.actions.run(
        executable = ctx.executable._extract,
        arguments = [args],
        inputs = [desc] + libs,
        outputs = [out],
        mnemonic = "BoardFacts",
        progress_message = "Extracting kernel facts for %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]))]

# <name>.json: one board's description (a JSON string) plus the facts of `kernel_facts` (a
# cc_library using AMBIENCE_FACT), compiled for `platform`.
board_facts = rule(
    implementation = _board_facts_impl,
    attrs = {
        "description": attr.string(mandatory = True),
        "platform": attr.label(mandatory = True),
        "kernel_facts": attr.label(cfg = _platform_transition, mandatory = True),
        "_extract": attr.label(default = "//tools/facts:extract_facts", executable = True, cfg = "exec"),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def _target_facts_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    boards = ctx.files.boards
    ctx.actions.run(
        executable = ctx.executable._extract,
        arguments = ["merge", "--out", out.path] + [f.path for f in boards],
        inputs = boards,
        outputs = [out],
        mnemonic = "TargetFacts",
        progress_message = "Merging target facts %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

# <name>.json: every board_facts of `boards`, in order (what the deployment planner reads).
target_facts = rule(
    implementation = _target_facts_impl,
    attrs = {
        "boards": attr.label_list(allow_files = [".json"], mandatory = True),
        "_extract": attr.label(default = "//tools/facts:extract_facts", executable = True, cfg = "exec"),
    },
)
