#!/usr/bin/env bash
# expect_failure.sh CMD...: passes iff CMD fails and prints the FAIL diagnostic of the harness.
out=$("$@" 2>&1)
status=$?
echo "$out"
if [ "$status" = 0 ]; then echo "harness accepted an image it should have rejected"; exit 1; fi
grep -q "^FAIL: " <<<"$out" || { echo "harness failed without a FAIL diagnostic"; exit 1; }
echo "OK: harness rejected it (status $status)"
