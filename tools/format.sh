#!/usr/bin/env bash
# Formats C++ (clang-format, style in .clang-format) and Starlark (buildifier) files in place.
#   tools/format.sh                       every C++ and BUILD/.bzl file of the repository
#   tools/format.sh FILE...               only these files (other kinds of files are ignored)
#   tools/format.sh --changed [--base REV]
#       what tools/presubmit.sh checks: the changed lines of C++ files and the changed
#       BUILD/.bzl files, relative to the same base revision
# Generated golden files and third_party/ are never touched. The tools come from tools/setup.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source tools/style_lib.sh

changed=false
base=""
files=()
while (($#)); do
  case "$1" in
    --changed) changed=true; shift ;;
    --base) base=${2:?--base needs a revision}; shift 2 ;;
    --base=*) base=${1#--base=}; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done
if $changed; then
  ((${#files[@]} == 0)) || { echo "format: --changed takes no file arguments" >&2; exit 2; }
  [ -n "$base" ] || base=$(style_default_base)
  mapfile -t files < <(style_changed_files "$base")
elif ((${#files[@]} == 0)); then
  mapfile -t files < <(style_all_files)
fi
mapfile -t cxx < <(printf '%s\n' "${files[@]}" | style_cxx_filter)
mapfile -t starlark < <(printf '%s\n' "${files[@]}" | style_starlark_filter)

status=0
if ((${#cxx[@]})); then
  if ! command -v "$CLANG_FORMAT" >/dev/null || ! command -v "$CLANG_FORMAT_DIFF" >/dev/null; then
    echo "format: error: $CLANG_FORMAT or $CLANG_FORMAT_DIFF missing (run tools/setup.sh)" >&2
    status=1
  elif $changed; then
    # Only the changed lines: a reformat of whole files would collide with parallel edits.
    patch=$(style_cxx_changed_lines_diff "$base" "${cxx[@]}")
    if [ -n "$patch" ]; then
      git apply -p0 --unidiff-zero - <<<"$patch"
    fi
    echo "format: clang-format: changed lines of ${#cxx[@]} C++ files (base $base)"
  else
    printf '%s\0' "${cxx[@]}" | xargs -0 "$CLANG_FORMAT" -i --style=file
    echo "format: clang-format: ${#cxx[@]} C++ files"
  fi
fi
if ((${#starlark[@]})); then
  if [ -x "$BUILDIFIER" ]; then
    style_buildifier -lint=off -- "${starlark[@]}"
    echo "format: buildifier: ${#starlark[@]} BUILD/.bzl files"
  else
    echo "format: error: buildifier missing at $BUILDIFIER (run tools/setup.sh)" >&2
    status=1
  fi
fi
exit "$status"
