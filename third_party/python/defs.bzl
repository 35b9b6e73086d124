"""The one place Ambience's BUILD files get Python rules from.

Bazel 4's native py_* rules (rules_python needs a newer Bazel than the offline Debian one);
a move to rules_python changes only these three definitions.
"""

def py_library(**kwargs):
    native.py_library(srcs_version = "PY3", **kwargs)

def py_binary(**kwargs):
    native.py_binary(python_version = "PY3", srcs_version = "PY3", **kwargs)

def py_test(**kwargs):
    native.py_test(python_version = "PY3", srcs_version = "PY3", **kwargs)

def py_pytest(name, srcs, deps = [], data = [], args = [], **kwargs):
    """A py_test that runs pytest over `srcs` (files named *_test.py or test_*.py)."""
    native.py_test(
        name = name,
        srcs = srcs + ["//third_party/python:pytest_main.py"],
        main = "//third_party/python:pytest_main.py",
        args = args + ["$(rootpath %s)" % s for s in srcs],
        deps = deps,
        data = data,
        python_version = "PY3",
        srcs_version = "PY3",
        **kwargs
    )
