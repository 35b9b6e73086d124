#!/usr/bin/env bash
# Copies the generated target_facts.json over tools/ambience/target_facts.json in the source tree.
set -euo pipefail
if [ -z "${BUILD_WORKSPACE_DIRECTORY:-}" ]; then
  echo "target_facts_golden_update: run me with 'bazel run //tools/facts:target_facts_golden_update'" >&2
  exit 2
fi
install -m 0644 "$1" "$BUILD_WORKSPACE_DIRECTORY/tools/ambience/target_facts.json"
echo "target_facts_golden_update: wrote tools/ambience/target_facts.json"
