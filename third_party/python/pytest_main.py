"""Runs pytest on the files given as arguments, inside a Bazel py_test (see defs.bzl py_pytest)."""

import os
import sys

import pytest

if __name__ == "__main__":
    args = ["-q", "-p", "no:cacheprovider", "--no-header", "-rfE"]
    # Under Bazel, hypothesis must not write its example database into the read-only tree.
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.environ.get("TEST_TMPDIR", "/tmp") + "/hypothesis")
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args += ["--junitxml", xml]
    sys.exit(pytest.main(args + sys.argv[1:]))
