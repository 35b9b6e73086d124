#!/bin/sh
# Runs the built-in fuzz driver of the IPv4 stack for a fixed, deterministic number of frames.
set -e
"$1" 30000 1
