# Sourced by tools/setup.sh, tools/format.sh and tools/presubmit.sh (bash, from the repo root):
# which files are formatted by which tool, and where the pinned buildifier lives.

# clang-format from Debian: version 16 (package clang-format-16), not bookworm's default 14, which
# splits immediately invoked template lambdas (`}(std::make_index_sequence<N>{});`) over two lines.
CLANG_FORMAT=clang-format-16
CLANG_FORMAT_DIFF=clang-format-diff-16

# buildifier comes from the npm registry: the @bazel/buildifier package ships prebuilt binaries
# for each platform. Pinned by version and by the registry's integrity hash of the tarball.
BUILDIFIER_VERSION=8.2.1
BUILDIFIER_INTEGRITY="sha512-eZ/Aq+2r4PcJa6LbPCT6ffgIJfTU/gYilqIzoX2OLM4nNkbQC6tTMPZNn7aHHjhGPxbNLv41zm4Xqt1olCLgXw=="
# The user's cache (HOME may be unset, e.g. in a Bazel test).
BUILDIFIER="${BUILDIFIER:-${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/ambience/buildifier-$BUILDIFIER_VERSION/buildifier}"

# Generated code (golden files are compared byte for byte with the code generator's output) and
# third-party shims keep their own layout.
STYLE_EXCLUDES=(':!:*/golden/*' ':!:third_party/*')

# Reads paths on stdin, prints those clang-format owns.
style_cxx_filter() {
  grep -E '\.(c|cc|cpp|h|hpp)$' | grep -vE '(^|/)golden/|^third_party/' || true
}

# Reads paths on stdin, prints those buildifier owns.
style_starlark_filter() {
  grep -E '(^|/)(BUILD|BUILD\.bazel|WORKSPACE|WORKSPACE\.bazel)$|\.bzl$' | grep -vE '^third_party/' || true
}

# Runs buildifier with FLAGS on FILE...: `style_buildifier FLAGS... -- FILE...`. Deployment
# manifests (BUILD files calling deployment()) are formatted as plain Starlark (-type=bzl): their
# declarations stay one per line, as the tutorial writes them and as the planner's diagnostics
# quote them; BUILD mode would split every call over several lines and reorder its attributes.
style_buildifier() {
  local flags=() manifests=() others=() f status=0
  while (($#)) && [ "$1" != -- ]; do flags+=("$1"); shift; done
  shift
  for f in "$@"; do
    if [[ "$f" =~ (^|/)BUILD(\.bazel)?$ ]] && grep -qE '^deployment\(' "$f"; then manifests+=("$f"); else others+=("$f"); fi
  done
  if ((${#others[@]})); then "$BUILDIFIER" "${flags[@]}" "${others[@]}" || status=$?; fi
  if ((${#manifests[@]})); then "$BUILDIFIER" -type=bzl "${flags[@]}" "${manifests[@]}" || status=$?; fi
  return "$status"
}

# Prints the paths on stdin that are regular files (drops deleted ones).
style_existing() {
  local f
  while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done
  return 0
}

# Every tracked file and every untracked one that is not ignored, one per line.
style_all_files() {
  git ls-files --cached --others --exclude-standard -- . "${STYLE_EXCLUDES[@]}" | sort -u | style_existing
}

# The revision changes are measured against: $PRESUBMIT_BASE; else HEAD~1 in CI ($CI set, the
# commit under test); else the merge-base of HEAD with origin/main, or with a local main.
style_default_base() {
  if [ -n "${PRESUBMIT_BASE:-}" ]; then
    echo "$PRESUBMIT_BASE"
  elif [ -n "${CI:-}" ]; then
    echo HEAD~1
  elif git rev-parse -q --verify origin/main >/dev/null; then
    git merge-base HEAD origin/main
  elif git rev-parse -q --verify main >/dev/null; then
    git merge-base HEAD main
  else
    echo HEAD~1
  fi
}

# Files changed relative to BASE (`git diff --name-only BASE`: committed and uncommitted) and
# untracked files that are not ignored. A BASE that does not exist (a clone with one commit has
# no HEAD~1) leaves only the uncommitted changes.
style_changed_files() {
  local base=$1
  git rev-parse -q --verify "$base^{commit}" >/dev/null || base=HEAD
  { git diff --name-only "$base" --; git ls-files --others --exclude-standard; } | sort -u | style_existing
}

# Prints, as a unified diff, how clang-format would change the lines of FILE... that differ from
# BASE (untracked files: every line). Empty output: the changed lines are formatted.
style_cxx_changed_lines_diff() {
  local base=$1 f
  shift
  git rev-parse -q --verify "$base^{commit}" >/dev/null || base=HEAD
  local tracked=() untracked=()
  for f in "$@"; do
    if git ls-files --error-unmatch -- "$f" >/dev/null 2>&1; then tracked+=("$f"); else untracked+=("$f"); fi
  done
  if ((${#tracked[@]})); then
    git diff -U0 --no-color "$base" -- "${tracked[@]}" | "$CLANG_FORMAT_DIFF" -p1 -style=file -binary "$(command -v "$CLANG_FORMAT")"
  fi
  for f in "${untracked[@]}"; do
    "$CLANG_FORMAT" --style=file "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - || true
  done
}
