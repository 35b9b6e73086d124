"""Building for a board from a host build: a platform transition, MCU images, QEMU tests.

mcu_image(name, board, srcs, deps) compiles a cc_binary for the board's platform inside an
ordinary `bazel build //...` and produces <name>.elf, <name>.bin and <name>.size (text/data/bss);
`bazel run` boots it in QEMU. qemu_test runs an image in QEMU as a test, checks its exit status
and expected console lines, and fails a hung image at its timeout.
"""

load("//platforms/boards:boards.bzl", "BOARDS", "board_info")

def _platform_transition_impl(settings, attr):
    return {"//command_line_option:platforms": str(attr.platform)}

_platform_transition = transition(
    implementation = _platform_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

_QEMU_RUNNER = """#!/bin/sh
# Boots {elf} in QEMU ({machine}); extra arguments go to QEMU. Exit status is the image's.
here="$(dirname "$0")"
elf="${{RUNFILES_DIR:-$0.runfiles}}/ambience/{elf}"
[ -f "$elf" ] || elf="$here/{base}.elf"
exec qemu-system-arm -M {machine} -nographic -monitor none \\
  -semihosting-config enable=on,target=native -kernel "$elf" "$@"
"""

def _mcu_image_impl(ctx):
    src = ctx.attr.binary[0][DefaultInfo].files_to_run.executable
    elf = ctx.actions.declare_file(ctx.label.name + ".elf")
    binf = ctx.actions.declare_file(ctx.label.name + ".bin")
    size = ctx.actions.declare_file(ctx.label.name + ".size")
    ctx.actions.run_shell(
        inputs = [src],
        outputs = [elf, binf, size],
        command = """set -e
cp -L "$1" "$2"
/usr/bin/arm-none-eabi-objcopy -O binary "$2" "$3"
/usr/bin/arm-none-eabi-size -A "$2" | awk -v board="$5" -v name="$6" '
  $1 ~ /^\\.(text|ARM\\.exidx|ARM\\.extab)$/ {{ text += $2 }}
  $1 == ".data" {{ data += $2 }}
  $1 == ".bss" {{ bss += $2 }}
  END {{ printf "image %s board %s text %d data %d bss %d flash %d ram %d\\n", name, board, text, data, bss, text + data, data + bss }}' > "$4"
""",
        arguments = [src.path, elf.path, binf.path, size.path, ctx.attr.board_name, str(ctx.label)],
        mnemonic = "McuImage",
        progress_message = "Packaging MCU image %s" % ctx.label,
    )
    runner = ctx.actions.declare_file(ctx.label.name + ".qemu.sh")
    ctx.actions.write(
        runner,
        _QEMU_RUNNER.format(
            elf = elf.short_path,
            base = ctx.label.name,
            machine = ctx.attr.qemu_machine,
        ),
        is_executable = True,
    )
    return [DefaultInfo(
        files = depset([elf, binf, size]),
        executable = runner,
        runfiles = ctx.runfiles(files = [elf]),
    )]

_mcu_image = rule(
    implementation = _mcu_image_impl,
    executable = True,
    attrs = {
        "binary": attr.label(cfg = _platform_transition, mandatory = True),
        "platform": attr.label(mandatory = True),
        "qemu_machine": attr.string(mandatory = True),
        "board_name": attr.string(mandatory = True),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def mcu_image(name, board, srcs = [], deps = [], copts = [], linkopts = [], visibility = None, tags = [], **kwargs):
    """A Cortex-M firmware image for `board`, built by any host build (see module doc)."""
    info = board_info(board)
    native.cc_binary(
        name = name + "_elf",
        srcs = srcs,
        deps = deps + [info.bsp],
        copts = copts,
        linkopts = linkopts,
        target_compatible_with = ["@platforms//os:none"],
        tags = ["manual"],
        visibility = ["//visibility:private"],
        **kwargs
    )
    _mcu_image(
        name = name,
        binary = ":" + name + "_elf",
        platform = info.platform,
        qemu_machine = info.qemu_machine,
        board_name = board.split(":")[-1],
        visibility = visibility,
        tags = tags,
        testonly = kwargs.get("testonly", False),
    )

def qemu_test(name, image, board, expect = [], exit_code = 0, timeout_s = 30, size = "small", **kwargs):
    """Boots `image` on `board` in QEMU; passes iff it exits with `exit_code` and printed `expect`."""
    info = board_info(board)
    native.sh_test(
        name = name,
        srcs = ["//platforms:qemu_test.sh"],
        data = [image],
        args = ["$(rootpath %s)" % image, info.qemu_machine, str(exit_code), str(timeout_s)] + expect,
        size = size,
        **kwargs
    )

def portable_cc_test(name, srcs, deps = [], copts = [], boards = None, timeout_s = 60, **kwargs):
    """One test source, several runs: a host cc_test and a QEMU run per board (same code, same checks).

    boards: board names; default every MCU board of platforms/boards/boards.bzl.

    The sources use kernel/testing/test.hpp; its runner prints a summary and sets the exit status.
    """
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + ["//kernel/testing:main"],
        copts = copts,
        **kwargs
    )
    for board in (boards if boards != None else sorted(BOARDS.keys())):
        mcu_image(
            name = name + "_" + board,
            board = board,
            srcs = srcs,
            deps = deps + ["//kernel/testing:main"],
            copts = copts,
            testonly = True,
        )
        qemu_test(
            name = name + "_" + board + "_qemu",
            image = ":" + name + "_" + board,
            board = board,
            expect = ["ALL TESTS PASSED"],
            timeout_s = timeout_s,
        )
