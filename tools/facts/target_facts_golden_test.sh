#!/usr/bin/env bash
# Fails when the committed tools/ambience/target_facts.json (what the planner reads outside
# Bazel) differs from the facts the build extracts from boards.bzl and the kernel's headers.
#   target_facts_golden_test.sh <committed copy> <generated target_facts.json>
set -uo pipefail
if ! diff -u --label "tools/ambience/target_facts.json" --label "generated target_facts.json" "$1" "$2"; then
  echo
  echo "target facts: the committed copy is stale. Accept the change with"
  echo "  bazel run //tools/facts:target_facts_golden_update   (or tools/update_goldens.sh)"
  exit 1
fi
echo "target facts: tools/ambience/target_facts.json matches the build"
