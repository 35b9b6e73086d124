#!/usr/bin/env bash
# tools/presubmit.sh and tools/format.sh on a small throw-away repository: a clean change passes,
# and each kind of violation fails exactly its check; format.sh --changed repairs what the
# formatting checks report. Needs what tools/setup.sh installs (git, clang-format, buildifier).
set -euo pipefail

if [ -n "${TEST_SRCDIR:-}" ]; then
  src="$TEST_SRCDIR/${TEST_WORKSPACE:-ambience}"
else
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
# Bazel points HOME at the test's temporary directory; buildifier lives in the user's cache.
source "$src/tools/style_lib.sh"
if [ ! -x "$BUILDIFIER" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  BUILDIFIER="$(getent passwd "$(id -u)" | cut -d: -f6)/.cache/ambience/buildifier-$BUILDIFIER_VERSION/buildifier"
fi
export BUILDIFIER
[ -x "$BUILDIFIER" ] || { echo "FAIL: no buildifier at $BUILDIFIER (run tools/setup.sh)"; exit 1; }

repo=$(mktemp -d "${TEST_TMPDIR:-/tmp}/presubmit_test.XXXXXX")
trap 'rm -rf "$repo"' EXIT
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.com GIT_COMMITTER_NAME=test
export GIT_COMMITTER_EMAIL=test@example.com GIT_CONFIG_NOSYSTEM=1
unset CI PRESUBMIT_BASE

cd "$repo"
git init -q -b main .
mkdir -p tools kernel/core docs deployments/demo
cp "$src/.clang-format" .
cp "$src/tools/presubmit.sh" "$src/tools/format.sh" "$src/tools/style_lib.sh" tools/
for d in tools kernel docs deployments; do echo "# $d" >"$d/README.md"; done
printf '# repo\n\nSee [the kernel](kernel/README.md).\n' >README.md
cat >kernel/core/core.hpp <<'EOF'
#pragma once

namespace ambience {

int   legacy_spacing ;  // predates .clang-format: only lines a change touches are checked

inline int twice(int x) { return 2 * x; }

}  // namespace ambience
EOF
cat >kernel/core/BUILD.bazel <<'EOF'
cc_library(
    name = "core",
    hdrs = ["core.hpp"],
)
EOF
cat >deployments/demo/BUILD.bazel <<'EOF'
load("//tools/bazel:defs.bzl", "deployment", "node")

node(name = "host", board = "//platforms:linux_x86_64", networks = {"lan": "10.0.0.1"})

deployment(name = "demo")
EOF
git add -A
git commit -q -m base
git checkout -q -b work

failures=0
run() {  # run EXPECTED_STATUS: runs the presubmit, keeps its output in $out
  local want=$1 got=0
  out=$(bash tools/presubmit.sh 2>&1) || got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: presubmit exited $got, expected $want; output:"
    sed 's/^/  | /' <<<"$out"
    failures=$((failures + 1))
    return 1
  fi
}
expect() {  # expect CHECK STATE: the presubmit's line for CHECK says STATE
  if ! grep -qE "^presubmit: $1 +$2" <<<"$out"; then
    echo "FAIL: expected '$1 $2' in:"
    sed 's/^/  | /' <<<"$out"
    failures=$((failures + 1))
  fi
}
reset() { git checkout -q -- . && git clean -qfd; }
case_() { echo "--- $1"; reset; }

case_ "clean change: everything passes"
printf '\ninline int thrice(int x) { return 3 * x; }\n' >>kernel/core/core.hpp
run 0 && expect clang-format ok && expect buildifier ok && expect layering ok && expect doc-links ok &&
  expect readmes ok && expect ruff skipped && expect mypy skipped

case_ "unformatted changed C++ line fails; format.sh --changed fixes only it"
sed -i 's/inline int twice(int x) { return 2 \* x; }/inline int twice(int x){return 2*x;}/' kernel/core/core.hpp
run 1 && expect clang-format FAIL && expect buildifier ok
bash tools/format.sh --changed >/dev/null
run 0 && expect clang-format ok
grep -q 'int   legacy_spacing ;' kernel/core/core.hpp || { echo "FAIL: format.sh --changed touched an unchanged line"; failures=$((failures + 1)); }

case_ "unformatted new C++ file fails"
printf 'int  f( ) {return 1;}\n' >kernel/core/extra.cc
run 1 && expect clang-format FAIL

case_ "unformatted BUILD file fails; a one-line manifest declaration passes"
printf 'cc_library(name = "x", hdrs = ["core.hpp"])\n' >>kernel/core/BUILD.bazel
sed -i 's/deployment(name = "demo")/node(name = "edge", board = "\/\/platforms:linux_x86_64", networks = {"lan": "10.0.0.2"})\n\ndeployment(name = "demo")/' deployments/demo/BUILD.bazel
run 1 && expect buildifier FAIL
grep -q 'kernel/core/BUILD.bazel # reformat' <<<"$out" || { echo "FAIL: kernel BUILD not named"; failures=$((failures + 1)); }
if grep -q 'deployments/demo/BUILD.bazel # reformat' <<<"$out"; then
  echo "FAIL: the manifest's one-line declarations were reported"; failures=$((failures + 1))
fi
bash tools/format.sh --changed >/dev/null
run 0 && expect buildifier ok

case_ "kernel including runtime/ fails layering"
sed -i 's|#pragma once|#pragma once\n#include "runtime/node_runtime.hpp"|' kernel/core/core.hpp
run 1 && expect layering FAIL

case_ "kernel BUILD depending on //lidl fails layering"
sed -i 's|    hdrs = \["core.hpp"\],|    hdrs = ["core.hpp"],\n    deps = ["//lidl/runtime"],|' kernel/core/BUILD.bazel
run 1 && expect layering FAIL && expect buildifier ok

case_ "a kernel target visible to //tools is not a dependency"
sed -i 's|    hdrs = \["core.hpp"\],|    hdrs = ["core.hpp"],\n    visibility = ["//tools/facts:__pkg__"],|' kernel/core/BUILD.bazel
run 0 && expect layering ok

case_ "links out of the repository fail"
printf '\n[shared](../shared/notes.md)\n' >>docs/README.md
run 1 && expect doc-links FAIL
reset
printf '\nThe notes are in /work/shared/notes.md.\n' >>docs/README.md
run 1 && expect doc-links FAIL
reset
printf '\n[gone](missing.md)\n\n```c++\nauto f = [&](int x) { return x; };\n```\n' >>docs/README.md
run 1 && expect doc-links FAIL
if ! grep -q 'link to a missing file: missing.md' <<<"$out" || [ "$(grep -c 'link to a missing file' <<<"$out")" != 1 ]; then
  echo "FAIL: expected exactly the missing.md link (not the lambda in the code block):"
  sed 's/^/  | /' <<<"$out"
  failures=$((failures + 1))
fi

case_ "a top-level folder without README fails"
mkdir -p services && echo x >services/notes.txt
run 1 && expect readmes FAIL

case_ "--base picks the revision"
printf 'int  f( ) {return 1;}\n' >kernel/core/extra.cc
git add -A && git commit -q -m extra
run 1 && expect clang-format FAIL
out=$(bash tools/presubmit.sh --base HEAD 2>&1) && expect clang-format ok ||
  { echo "FAIL: --base HEAD should see no change"; failures=$((failures + 1)); }

reset
if ((failures)); then
  echo "presubmit_test: $failures failures"
  exit 1
fi
echo "presubmit_test: all cases pass"
