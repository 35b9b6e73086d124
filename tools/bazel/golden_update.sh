#!/usr/bin/env bash
# Writes a deployment's generated files into <package>/golden/ of the source tree (run it with
# `bazel run //<package>:golden_update`), replacing what is there.
#   golden_update.sh <package> <generated files...>
set -euo pipefail
pkg=$1; shift
if [ -z "${BUILD_WORKSPACE_DIRECTORY:-}" ]; then
  echo "golden_update: run me with 'bazel run //${pkg}:golden_update'" >&2
  exit 2
fi
dir="$BUILD_WORKSPACE_DIRECTORY/$pkg/golden"
rm -rf "$dir"
mkdir -p "$dir"
for gen in "$@"; do
  install -m 0644 "$gen" "$dir/$(basename "$gen")"
done
echo "golden_update: wrote $# files to $pkg/golden/"
