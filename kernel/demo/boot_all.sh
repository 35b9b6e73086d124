#!/usr/bin/env bash
# Boots the kernel demo on the host and on both QEMU boards, one after the other.
set -euo pipefail
cd "${RUNFILES_DIR:-$0.runfiles}/ambience"
status=0
echo "== linux_x86_64 (hosted process) =="
kernel/demo/demo_host || status=1
for board in mps2_an386 mps2_an500; do
  echo
  echo "== $board (QEMU) =="
  kernel/demo/demo_$board.qemu.sh </dev/null | tr -d '\r' || status=1
done
exit $status
