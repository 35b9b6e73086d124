#!/usr/bin/env bash
# Compares a deployment's generated files (plans, node C++, linker fragments) with the copies
# checked in under <package>/golden/. A difference fails with a unified diff and the command
# that accepts it, so every change to the deployment compiler shows what it changes.
#   golden_test.sh <package> <golden files...> -- <generated files...>
set -uo pipefail
pkg=$1; shift
declare -A golden=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do golden[$(basename "$1")]=$1; shift; done
shift
update="bazel run //${pkg}:golden_update   (or tools/update_goldens.sh for every deployment)"
failed=0
declare -A seen=()
for gen in "$@"; do
  name=$(basename "$gen")
  seen[$name]=1
  want=${golden[$name]:-}
  if [ -z "$want" ]; then
    echo "golden: ${pkg}/golden/${name} is missing (new generated file)"
    failed=1
    continue
  fi
  if ! diff -u --label "${pkg}/golden/${name}" --label "generated ${name}" "$want" "$gen"; then
    failed=1
  fi
done
for name in "${!golden[@]}"; do
  if [ -z "${seen[$name]:-}" ]; then
    echo "golden: ${pkg}/golden/${name} is no longer generated (stale golden file)"
    failed=1
  fi
done
if [ "$failed" != 0 ]; then
  echo
  echo "golden: generated code of //${pkg} differs from ${pkg}/golden/. If the change is meant, accept it:"
  echo "  $update"
  exit 1
fi
echo "golden: ${#seen[@]} generated files of //${pkg} match ${pkg}/golden/"
