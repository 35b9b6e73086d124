"""opt_binary: the same cc_binary, built with -c opt (a transition), whatever the command line says.

Benchmarks must measure optimized code all the way down (kernel libraries included), and
`bazel run //benchmarks/ipc` should not need the caller to remember `-c opt`.
"""

def _opt_transition_impl(settings, attr):
    return {"//command_line_option:compilation_mode": "opt"}

_opt_transition = transition(
    implementation = _opt_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:compilation_mode"],
)

def _opt_binary_impl(ctx):
    src = ctx.attr.binary[0][DefaultInfo].files_to_run.executable
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.symlink(output = out, target_file = src, is_executable = True)
    return [DefaultInfo(
        files = depset([out]),
        executable = out,
        runfiles = ctx.runfiles(files = [out]).merge(ctx.attr.binary[0][DefaultInfo].default_runfiles),
    )]

opt_binary = rule(
    implementation = _opt_binary_impl,
    executable = True,
    attrs = {
        "binary": attr.label(cfg = _opt_transition, mandatory = True),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)
