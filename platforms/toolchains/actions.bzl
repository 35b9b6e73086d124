"""The action groups our cc_toolchain_configs attach their flags to (shared by every toolchain)."""

load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")

COMPILE_ACTIONS = [
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
]
CXX_ACTIONS = [ACTION_NAMES.cpp_compile, ACTION_NAMES.cpp_header_parsing]
LINK_ACTIONS = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

# The same feature names on every toolchain, so that -c opt / dbg / fastbuild mean one thing.
def mode_features(feature):
    return [feature(name = "opt"), feature(name = "dbg"), feature(name = "fastbuild")]
