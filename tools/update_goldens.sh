#!/usr/bin/env bash
# Accepts the current output of the deployment compiler for every deployment in the tree:
# rewrites each <package>/golden/ from a fresh build. Review the diff (git diff) before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t targets < <(bazel query 'attr(name, "golden_update$", kind(sh_binary, //...))' 2>/dev/null)
[ "${#targets[@]}" -gt 0 ] || { echo "update_goldens: no :golden_update target found" >&2; exit 1; }
bazel build "${targets[@]}"
for t in "${targets[@]}"; do
  bazel run --ui_event_filters=-info --noshow_progress "$t"
done
