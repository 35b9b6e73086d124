#!/usr/bin/env bash
# Boots the RPC benchmark on both boards under QEMU instruction counting (method: bench.cc) and
# prints its RESULT lines.
set -euo pipefail
here="${RUNFILES_DIR:-$0.runfiles}/ambience/benchmarks/mcu_rpc"
status=0
for pair in mps2_an386:mps2-an386 mps2_an500:mps2-an500; do
  IFS=: read -r board machine <<<"$pair"
  echo "== $board ($machine), qemu -icount shift=0,sleep=off"
  timeout 120 qemu-system-arm -M "$machine" -nographic -monitor none -icount shift=0,sleep=off \
    -semihosting-config enable=on,target=native -kernel "$here/bench_$board.elf" </dev/null \
    | tr -d '\r' || { echo "benchmark on $board FAILED"; status=1; }
done
exit $status
