#!/bin/sh
# Runs the built-in fuzz driver for a fixed, deterministic number of inputs.
set -e
"$1" 20000 1
