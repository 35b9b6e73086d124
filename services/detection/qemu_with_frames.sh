#!/usr/bin/env bash
# qemu_with_frames.sh IMAGE MACHINE FRAMES ADDRESS TIMEOUT
# Boots a test image in QEMU with the frame store loaded at ADDRESS (as the camera board gets
# it) and passes iff the image exits 0 and printed ALL TESTS PASSED.
set -u
image=$1 machine=$2 frames=$3 address=$4 limit=$5
case "$image" in *.qemu.sh) image="${image%.qemu.sh}.elf" ;; esac
log="${TEST_UNDECLARED_OUTPUTS_DIR:-${TMPDIR:-/tmp}}/console.log"
timeout --kill-after=5 "$limit" qemu-system-arm -M "$machine" -nographic -monitor none \
  -semihosting-config enable=on,target=native -kernel "$image" \
  -device "loader,file=$frames,addr=$address,force-raw=on" </dev/null >"$log" 2>&1
status=$?
tr -d '\r' <"$log"
if [ "$status" != 0 ]; then
  echo "FAIL: $image exited with status $status on $machine"
  exit 1
fi
if ! tr -d '\r' <"$log" | grep -qF "ALL TESTS PASSED"; then
  echo "FAIL: no ALL TESTS PASSED from $image"
  exit 1
fi
echo "PASS: $image on $machine"
