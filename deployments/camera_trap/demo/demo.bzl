"""The camera trap's demo and end-to-end test for a deployment package (the default and every
variant): both run demo.py against the package's own :cluster."""

load("//third_party/python:defs.bzl", "py_binary", "py_test")

_ARGS = [
    "--cluster",
    "$(rootpath :cluster)",
    "--scenes",
    "$(rootpath //services/camera_trap/scenes:index)",
]

_DATA = [
    ":cluster",
    "//services/camera_trap/scenes:index",
]

def camera_trap_demo(events = 19):
    """:demo (bazel run, prints the table) and :end_to_end_test (--check, `events` events)."""

    # A py_binary's main must be in its own package: a copy of the one demo.py.
    native.genrule(
        name = "demo_main",
        srcs = ["//deployments/camera_trap/demo:demo.py"],
        outs = ["demo_main.py"],
        cmd = "cp $< $@",
    )
    py_binary(
        name = "demo",
        srcs = [":demo_main.py"],
        main = ":demo_main.py",
        args = _ARGS,
        data = _DATA,
        deps = ["//tools:ambience_lib"],
    )
    py_test(
        name = "end_to_end_test",
        size = "large",
        srcs = [":demo_main.py"],
        main = ":demo_main.py",
        args = _ARGS + ["--check", "--events", str(events)],
        data = _DATA,
        deps = ["//tools:ambience_lib"],
        tags = ["exclusive"],
    )
