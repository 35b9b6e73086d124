"""arm-none-eabi (Debian gcc-arm-none-eabi 12.2) cc_toolchain_config for Cortex-M4/M7, hard float."""

load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
    "with_feature_set",
)
load("//platforms/toolchains:actions.bzl", "COMPILE_ACTIONS", "CXX_ACTIONS", "LINK_ACTIONS", "mode_features")

_COMPILE = COMPILE_ACTIONS
_CXX = CXX_ACTIONS
_LINK = LINK_ACTIONS

def _impl(ctx):
    tools = [
        tool_path(name = n, path = "/usr/bin/arm-none-eabi-" + t)
        for n, t in [
            ("gcc", "gcc"),
            ("ld", "ld"),
            ("ar", "ar"),
            ("cpp", "cpp"),
            ("gcov", "gcov"),
            ("nm", "nm"),
            ("objdump", "objdump"),
            ("strip", "strip"),
            ("objcopy", "objcopy"),
        ]
    ]
    cpu = ctx.attr.cpu_flags
    features = mode_features(feature) + [
        feature(
            name = "ambience_arm_flags",
            enabled = True,
            flag_sets = [
                flag_set(actions = _COMPILE, flag_groups = [flag_group(flags = cpu + [
                    "-ffunction-sections",
                    "-fdata-sections",
                    "-fno-common",
                    "-g",
                    # GCC's note that the ARM ABI for some arguments changed in GCC 7.1: we link
                    # nothing built by an older compiler, so it is only noise.
                    "-Wno-psabi",
                    # Reproducibility: a custom config does not inherit Bazel's redactions.
                    "-Wno-builtin-macro-redefined",
                    "-D__DATE__=\"redacted\"",
                    "-D__TIMESTAMP__=\"redacted\"",
                    "-D__TIME__=\"redacted\"",
                ])]),
                # Size matters on a microcontroller even in fastbuild; opt/dbg refine below.
                flag_set(
                    actions = _COMPILE,
                    flag_groups = [flag_group(flags = ["-Os"])],
                    with_features = [with_feature_set(not_features = ["dbg"])],
                ),
                flag_set(
                    actions = _COMPILE,
                    flag_groups = [flag_group(flags = ["-Og"])],
                    with_features = [with_feature_set(features = ["dbg"])],
                ),
                flag_set(actions = _CXX, flag_groups = [flag_group(flags = [
                    "-fno-exceptions",
                    "-fno-rtti",
                    "-fno-threadsafe-statics",
                    "-fno-use-cxa-atexit",
                ])]),
                flag_set(actions = _LINK, flag_groups = [flag_group(flags = cpu + [
                    "-Wl,--gc-sections",
                    "--specs=nano.specs",
                    "--specs=nosys.specs",
                    "-nostartfiles",
                    "-lstdc++",
                    "-lm",
                ])]),
            ],
        ),
    ]
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "arm-none-eabi-" + ctx.attr.name,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = "arm-none-eabi",
        target_cpu = "arm",
        target_libc = "newlib",
        compiler = "gcc",
        abi_version = "eabi",
        abi_libc_version = "newlib",
        tool_paths = tools,
        features = features,
        cxx_builtin_include_directories = [
            "/usr/lib/gcc/arm-none-eabi/12.2.1",
            "/usr/lib/arm-none-eabi/include",
            "/usr/include/newlib",
        ],
    )

arm_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {"cpu_flags": attr.string_list(mandatory = True)},
    provides = [CcToolchainConfigInfo],
)
