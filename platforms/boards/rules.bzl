"""Linker scripts generated from the board descriptions (boards.bzl)."""

load("//platforms/boards:boards.bzl", "linker_script_substitutions")

def _board_linker_script_impl(ctx):
    ctx.actions.expand_template(
        template = ctx.file.template,
        output = ctx.outputs.out,
        substitutions = linker_script_substitutions(ctx.attr.board),
    )
    return [DefaultInfo(files = depset([ctx.outputs.out]))]

# `out`: `template` with the board's memory map and main stack filled in (a file label, so that
# a cc_library can list it in deps and -T$(location ...) it).
board_linker_script = rule(
    implementation = _board_linker_script_impl,
    attrs = {
        "board": attr.string(mandatory = True),
        "template": attr.label(allow_single_file = True, mandatory = True),
        "out": attr.output(mandatory = True),
    },
)
