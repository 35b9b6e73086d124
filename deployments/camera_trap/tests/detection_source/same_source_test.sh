#!/usr/bin/env bash
# same_source_test.sh SOURCE LISTING... [--absent LISTING...]
# Each LISTING is an image_sources file ('SOURCE OBJECT [E_MACHINE]' per compile action). Passes
# iff SOURCE (a workspace path: a checked-in file, not a generated one) is compiled into every
# image before --absent, for a different machine in each (one file, several targets), and into
# none of the images after --absent.
set -euo pipefail
src=${1:?usage: same_source_test.sh SOURCE LISTING... [--absent LISTING...]}
shift
case "$src" in bazel-out/* | /*) echo "FAIL: $src is not a workspace source path" >&2; exit 2 ;; esac
fail=0
present=1
configs=()
for listing in "$@"; do
  if [ "$listing" = --absent ]; then present=0; continue; fi
  [ -s "$listing" ] || { echo "FAIL: $listing lists no compile action at all"; fail=1; continue; }
  objs=$(awk -v s="$src" '$1 == s { print $2 }' "$listing")
  if ((present)); then
    if [ -z "$objs" ]; then
      echo "FAIL: $src is not compiled into the image of $listing"
      fail=1
      continue
    fi
    awk -v s="$src" '$1 == s { printf "compiled   %s -> %s (ELF machine %s)\n", $1, $2, $3 }' "$listing"
    # one image may compile it twice (e.g. PIC and not), but for one machine only
    mapfile -t m < <(awk -v s="$src" '$1 == s { print $3 }' "$listing" | sort -u)
    if ((${#m[@]} != 1)) || [ -z "${m[0]}" ]; then
      echo "FAIL: $listing: objects of $src for machines '${m[*]}', expected exactly one"
      fail=1
      continue
    fi
    configs+=("${m[0]}")
  elif [ -n "$objs" ]; then
    echo "FAIL: $src is compiled into the image of $listing, which must not run it: $objs"
    fail=1
  else
    echo "absent     $src from $(basename "$listing")"
  fi
done
if ((${#configs[@]} == 0)); then
  ((fail)) || echo "FAIL: no image before --absent compiles $src"
  exit 1
fi
distinct=$(printf '%s\n' "${configs[@]}" | sort -u | wc -l)
if ((fail == 0 && distinct != ${#configs[@]})); then
  echo "FAIL: two images compiled $src for the same ELF machine (${configs[*]}): not two targets"
  fail=1
fi
((fail == 0)) && echo "PASS: one $src, compiled for ELF machines ${configs[*]} (40 ARM, 62 x86-64)"
exit $fail
