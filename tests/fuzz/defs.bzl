"""Coverage-guided fuzz targets: libfuzzer_binary and fuzz_test.

libfuzzer_binary(name, binary) builds an ordinary cc_binary for //platforms:linux_x86_64_libfuzzer,
i.e. with clang 16, libFuzzer, ASan and UBSan (platforms/toolchains/clang); its source defines
LLVMFuzzerTestOneInput where AMBIENCE_LIBFUZZER is defined and a built-in driver (main) elsewhere,
so the same target is a deterministic gcc test and a libFuzzer target.

fuzz_test(name, fuzzer, seeds, dict, seconds) runs the fuzzer for a bounded time on a copy of its
checked-in seed corpus; any crash, leak, sanitizer report or timeout fails the test and the
reproducer lands in the test's undeclared outputs.
"""

def _libfuzzer_transition_impl(settings, attr):
    return {"//command_line_option:platforms": "//platforms:linux_x86_64_libfuzzer"}

_libfuzzer_transition = transition(
    implementation = _libfuzzer_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

def _libfuzzer_binary_impl(ctx):
    src = ctx.attr.binary[0][DefaultInfo].files_to_run.executable
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.symlink(output = out, target_file = src, is_executable = True)
    return [DefaultInfo(executable = out, files = depset([out]))]

libfuzzer_binary = rule(
    implementation = _libfuzzer_binary_impl,
    attrs = {
        "binary": attr.label(cfg = _libfuzzer_transition, executable = True, mandatory = True),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    executable = True,
)

def fuzz_test(name, binary, seeds, dict = None, seconds = 20, **kwargs):
    """A libfuzzer_binary `name + "_libfuzzer"` of `binary` and a bounded run of it as `name`."""
    fuzzer = name + "_libfuzzer"
    libfuzzer_binary(name = fuzzer, binary = binary, testonly = True, tags = ["manual"])
    native.sh_test(
        name = name,
        srcs = ["//tests/fuzz:run_fuzzer.sh"],
        args = [
            "$(rootpath :%s)" % fuzzer,
            str(seconds),
            "$(rootpath %s)" % dict if dict else "-",
        ] + ["$(rootpaths %s)" % seeds],
        data = [":" + fuzzer, seeds] + ([dict] if dict else []),
        # Runs for `seconds` of wall time on one core; "moderate" leaves room for a loaded machine.
        timeout = "moderate",
        **kwargs
    )
