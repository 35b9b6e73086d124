#!/bin/bash
# run_fuzzer.sh FUZZER SECONDS DICT|- SEED... : a bounded libFuzzer run over a writable copy of the
# checked-in seeds (the seed corpus in the source tree is never written). Exits non-zero on any
# crash, leak, sanitizer report, timeout or out-of-memory; the reproducer is kept in the test's
# undeclared outputs. Prints the seed count, executions and coverage.
set -euo pipefail
fuzzer=$1 seconds=$2 dict=$3
shift 3
work=${TEST_TMPDIR:-$(mktemp -d)}/corpus
artifacts=${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}}/
mkdir -p "$work"
for s in "$@"; do cp "$s" "$work/"; done
flags=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
       -artifact_prefix="$artifacts" -seed=1)
[ "$dict" = - ] || flags+=(-dict="$dict")
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
log=${TEST_TMPDIR:-/tmp}/fuzz.log
status=0
"$fuzzer" "${flags[@]}" "$work" >"$log" 2>&1 || status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -oE ' cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
echo "$(basename "$fuzzer"): $# seeds, ${execs:-0} executions (at most ${seconds} s), coverage $cov edges, exit $status"
if [ "$status" != 0 ]; then
  tail -60 "$log"
  echo "FAIL: the fuzzer found a failing input (kept under $artifacts)"
  exit 1
fi
