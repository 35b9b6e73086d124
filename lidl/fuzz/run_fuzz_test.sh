#!/bin/sh
# Runs the built-in fuzz driver for a fixed, deterministic number of inputs; fails on any crash,
# sanitizer report (with --config=asan) or non-zero exit.
set -eu
# UBSan only prints by default; make any report fail the test (ASan already aborts).
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
exec "$@"
