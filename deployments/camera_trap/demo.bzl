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
    py_binary(
        name = "demo",
        srcs = ["//deployments/camera_trap:demo.py"],
        main = "//deployments/camera_trap:demo.py",
        args = _ARGS,
        data = _DATA,
        deps = ["//tools:ambience_lib"],
    )
    py_test(
        name = "end_to_end_test",
        size = "large",
        srcs = ["//deployments/camera_trap:demo.py"],
        main = "//deployments/camera_trap:demo.py",
        args = _ARGS + ["--check", "--events", str(events)],
        data = _DATA,
        deps = ["//tools:ambience_lib"],
        tags = ["exclusive"],
    )
