#!/usr/bin/env bash
# Checks to run before sending a change (CI runs them too, see .ci/run). From the repo root:
#   bash tools/presubmit.sh [--base REV]
# Formatting is checked only where a change touches code, so unformatted code elsewhere never
# blocks it: clang-format on the changed lines of changed C++ files, buildifier on changed
# BUILD/.bzl files. Changed means relative to a base revision (`git diff --name-only BASE`,
# committed and uncommitted, plus untracked files):
#   --base REV / $PRESUBMIT_BASE   that revision;
#   otherwise in CI ($CI set)      HEAD~1 (the commit under test);
#   otherwise                      the merge-base of HEAD with origin/main (or with main).
# Prints one line per check (ok / FAIL / skipped, with details) and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source tools/style_lib.sh

base=""
while (($#)); do
  case "$1" in
    --base) base=${2:?--base needs a revision}; shift 2 ;;
    --base=*) base=${1#--base=}; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "presubmit: unknown argument '$1' (usage: tools/presubmit.sh [--base REV])" >&2; exit 2 ;;
  esac
done
[ -n "$base" ] || base=$(style_default_base)

failed=()
report() {  # report NAME ok|FAIL|skipped [DETAIL]
  printf 'presubmit: %-14s %s%s\n' "$1" "$2" "${3:+ ($3)}"
  [ "$2" = FAIL ] && failed+=("$1")
  return 0
}
indent() { sed 's/^/    /'; }

# --- files changed relative to the base -------------------------------------------------------
if git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  base_desc=$(git rev-parse --short "$base^{commit}")
  [ "$base" = "$(git rev-parse "$base^{commit}")" ] || base_desc="$base = $base_desc"
else
  base_desc="$base does not exist: uncommitted changes only"
fi
mapfile -t changed < <(style_changed_files "$base")
echo "presubmit: base $base_desc, ${#changed[@]} changed files"
mapfile -t changed_cxx < <(printf '%s\n' "${changed[@]}" | style_cxx_filter)
mapfile -t changed_starlark < <(printf '%s\n' "${changed[@]}" | style_starlark_filter)

# --- clang-format on the changed lines of changed C++ files -----------------------------------
if ! command -v "$CLANG_FORMAT" >/dev/null || ! command -v "$CLANG_FORMAT_DIFF" >/dev/null; then
  report clang-format FAIL "$CLANG_FORMAT or $CLANG_FORMAT_DIFF missing: run tools/setup.sh"
elif ((${#changed_cxx[@]} == 0)); then
  report clang-format ok "no changed C++ files"
else
  out=$(style_cxx_changed_lines_diff "$base" "${changed_cxx[@]}")
  if [ -n "$out" ]; then
    mapfile -t bad < <(sed -nE 's/^\+\+\+ ([^\t]*).*/\1/p' <<<"$out" | sed -E 's/ \(formatted\)$//' | sort -u)
    report clang-format FAIL "changed lines in ${#bad[@]} of ${#changed_cxx[@]} C++ files need formatting; run: tools/format.sh --changed --base $base"
    indent <<<"$out"
  else
    report clang-format ok "changed lines of ${#changed_cxx[@]} C++ files"
  fi
fi

# --- buildifier on changed BUILD / .bzl files -------------------------------------------------
if [ ! -x "$BUILDIFIER" ]; then
  report buildifier FAIL "buildifier missing at $BUILDIFIER: run tools/setup.sh"
elif ((${#changed_starlark[@]} == 0)); then
  report buildifier ok "no changed BUILD/.bzl files"
else
  if out=$(style_buildifier -mode=check -lint=off -- "${changed_starlark[@]}" 2>&1); then
    report buildifier ok "${#changed_starlark[@]} changed BUILD/.bzl files"
  else
    mapfile -t bad < <(sed -nE 's/^(.*) # reformat$/\1/p' <<<"$out")
    report buildifier FAIL "${#bad[@]} of ${#changed_starlark[@]} changed BUILD/.bzl files need formatting; run: tools/format.sh ${bad[*]}"
    indent <<<"$out"
  fi
fi

# --- Python: ruff and mypy (versions in tools/requirements.txt, configuration in pyproject.toml).
# Without configuration ruff would apply its defaults and mypy has no files to check, so a tree
# without it skips them, saying so.
python_check() {  # python_check NAME MODULE CONFIG_FILE ARGS...: CONFIG_FILE is the tool's own
  local name=$1 module=$2 own_config=$3 out
  shift 3
  if ! python3 -c "import $module" 2>/dev/null; then
    report "$name" skipped "python3 has no module '$module' yet: run tools/setup.sh"
  elif ! grep -qE "^\[tool\.$module(\]|\.)" pyproject.toml 2>/dev/null && [ ! -f "$own_config" ]; then
    report "$name" skipped "no [tool.$module] configuration in pyproject.toml yet"
  elif out=$(python3 -m "$module" "$@" 2>&1); then
    report "$name" ok "python3 -m $module${*:+ $*}"
  else
    report "$name" FAIL "python3 -m $module${*:+ $*}"
    head -n 200 <<<"$out" | indent
    (($(wc -l <<<"$out") <= 200)) || echo "    ... $(($(wc -l <<<"$out") - 200)) more lines: run the command above"
  fi
}
python_check ruff ruff ruff.toml check tools lidl
python_check mypy mypy mypy.ini

# --- layering: kernel/ depends on nothing above it (docs/ARCHITECTURE.md) ---------------------
includes=$(git grep --untracked -nE '#[[:space:]]*include[[:space:]]*[<"](lidl|tools|runtime)/' -- kernel)
# Visibility grants (`//tools/facts:__pkg__` may read a kernel target) are not dependencies.
deps=$(git grep --untracked -nE '"(@[A-Za-z0-9_]*)?//(lidl|tools|runtime)[:/"]' -- 'kernel/*BUILD' 'kernel/*BUILD.bazel' \
  'kernel/*.bzl' | grep -vE 'visibility|:__(pkg|subpackages)__"' || true)
out=$(printf '%s\n%s\n' "$includes" "$deps" | sed '/^$/d')
if [ -n "$out" ]; then
  report layering FAIL "kernel/ includes or depends on lidl/, tools/ or runtime/"
  indent <<<"$out"
else
  report layering ok "kernel/ has no include of or BUILD dependency on lidl/, tools/, runtime/"
fi

# --- documentation links stay inside the repository -------------------------------------------
out=$("${PYTHON_BIN_PATH:-python3}" - <<'PYEOF'
import os, re, subprocess

root = os.getcwd()
docs = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
                      capture_output=True, text=True, check=True).stdout.split()
link = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
for doc in docs:
    if not os.path.isfile(doc):
        continue
    in_code = False
    for number, line in enumerate(open(doc, encoding="utf-8"), 1):
        if re.search(r"(?<![\w.])/work/|\.\./shared\b", line):
            print(f"{doc}:{number}: names a path outside the repository: {line.strip()}")
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        if in_code:
            continue  # code (C++ lambdas look like links), not links
        for target in link.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # URL or an anchor in the same file
            path = target.split("#")[0]
            if path.startswith("/"):
                print(f"{doc}:{number}: absolute link {target}")
                continue
            resolved = os.path.normpath(os.path.join(root, os.path.dirname(doc), path))
            if os.path.relpath(resolved, root).startswith(".."):
                print(f"{doc}:{number}: link leaves the repository: {target}")
            elif not os.path.exists(resolved):
                print(f"{doc}:{number}: link to a missing file: {target}")
PYEOF
)
if [ -n "$out" ]; then
  report doc-links FAIL "Markdown links must point at files inside the repository"
  indent <<<"$out"
else
  report doc-links ok "every Markdown link stays inside the repository and exists"
fi

# --- every top-level folder has a README.md ---------------------------------------------------
missing=()
for d in $(git ls-files --cached --others --exclude-standard | style_existing | sed -n 's|^\([^./][^/]*\)/.*|\1|p' | sort -u); do
  [ -f "$d/README.md" ] || missing+=("$d/")
done
if ((${#missing[@]})); then
  report readmes FAIL "top-level folders without README.md: ${missing[*]}"
else
  report readmes ok "every top-level folder has a README.md"
fi

if ((${#failed[@]})); then
  echo "presubmit: FAILED: ${failed[*]}"
  exit 1
fi
echo "presubmit: all checks passed"
