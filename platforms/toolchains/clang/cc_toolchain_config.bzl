"""clang 16 (Debian clang-16) for x86_64 Linux with libFuzzer, AddressSanitizer and UBSan.

Only fuzz targets are built with it: they ask for the //platforms:linux_x86_64_libfuzzer platform
(tests/fuzz/defs.bzl), whose `instrumentation = libfuzzer` constraint no other target platform has,
so ordinary host builds keep Debian's gcc. Every object is instrumented for coverage
(-fsanitize=fuzzer-no-link) and the link adds libFuzzer's driver (-fsanitize=fuzzer); UBSan
aborts on its first report so that an undefined behaviour is a crash the fuzzer records.
"""

load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
)
load("//platforms/toolchains:actions.bzl", "COMPILE_ACTIONS", "LINK_ACTIONS", "mode_features")

_COMPILE = COMPILE_ACTIONS
_LINK = LINK_ACTIONS
_SANITIZERS = "address,undefined"

def _impl(ctx):
    tools = [
        tool_path(name = "gcc", path = "/usr/bin/clang-16"),
        tool_path(name = "cpp", path = "/usr/bin/clang-cpp-16"),
        tool_path(name = "ld", path = "/usr/bin/ld"),
        tool_path(name = "ar", path = "/usr/bin/llvm-ar-16"),
        tool_path(name = "nm", path = "/usr/bin/llvm-nm-16"),
        tool_path(name = "objcopy", path = "/usr/bin/llvm-objcopy-16"),
        tool_path(name = "objdump", path = "/usr/bin/llvm-objdump-16"),
        tool_path(name = "strip", path = "/usr/bin/llvm-strip-16"),
        tool_path(name = "gcov", path = "/usr/bin/llvm-cov-16"),
    ]
    features = mode_features(feature) + [
        feature(
            name = "ambience_libfuzzer_flags",
            enabled = True,
            flag_sets = [
                flag_set(actions = _COMPILE, flag_groups = [flag_group(flags = [
                    "-fsanitize=fuzzer-no-link," + _SANITIZERS,
                    "-fno-sanitize-recover=all",
                    # -fsanitize=function needs a runtime entry point Debian's clang-rt 16 lacks.
                    "-fno-sanitize=function",
                    "-fno-omit-frame-pointer",
                    "-g",
                    "-O1",
                    # Defined for sources that switch their entry point to LLVMFuzzerTestOneInput.
                    "-DAMBIENCE_LIBFUZZER",
                    "-Wno-builtin-macro-redefined",
                    "-D__DATE__=\"redacted\"",
                    "-D__TIMESTAMP__=\"redacted\"",
                    "-D__TIME__=\"redacted\"",
                ])]),
                flag_set(actions = _LINK, flag_groups = [flag_group(flags = [
                    "-fsanitize=fuzzer," + _SANITIZERS,
                    "-fuse-ld=bfd",
                    "-lstdc++",
                    "-lm",
                    "-lpthread",
                ])]),
            ],
        ),
    ]
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "clang-16-libfuzzer",
        host_system_name = "x86_64-linux-gnu",
        target_system_name = "x86_64-linux-gnu",
        target_cpu = "k8",
        target_libc = "glibc",
        compiler = "clang",
        abi_version = "local",
        abi_libc_version = "local",
        tool_paths = tools,
        features = features,
        cxx_builtin_include_directories = [
            "/usr/include",
            "/usr/local/include",
            "/usr/lib/gcc/x86_64-linux-gnu/12",
            "/usr/lib/llvm-16/lib/clang/16",
        ],
    )

libfuzzer_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {},
    provides = [CcToolchainConfigInfo],
)
