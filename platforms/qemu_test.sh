#!/usr/bin/env bash
# qemu_test.sh IMAGE MACHINE EXPECTED_EXIT TIMEOUT [EXPECTED_LINE...]
# Boots IMAGE in qemu-system-arm, captures the console, and passes iff QEMU exits with
# EXPECTED_EXIT before TIMEOUT seconds and every EXPECTED_LINE appears in the output.
set -u
image=$1 machine=$2 want_exit=$3 limit=$4
shift 4
# An mcu_image target's executable is its QEMU runner script; the ELF sits beside it.
case "$image" in *.qemu.sh) image="${image%.qemu.sh}.elf" ;; esac
log="${TEST_UNDECLARED_OUTPUTS_DIR:-${TMPDIR:-/tmp}}/console.log"
timeout --kill-after=5 "$limit" qemu-system-arm -M "$machine" -nographic -monitor none \
  -semihosting-config enable=on,target=native -kernel "$image" </dev/null >"$log" 2>&1
status=$?
tr -d '\r' <"$log"
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  echo "FAIL: $image hung on $machine (no exit within ${limit}s)"
  exit 1
fi
if [ "$status" != "$want_exit" ]; then
  echo "FAIL: $image exited with status $status on $machine, expected $want_exit"
  exit 1
fi
for line in "$@"; do
  if ! tr -d '\r' <"$log" | grep -qF -- "$line"; then
    echo "FAIL: expected console output not found: $line"
    exit 1
  fi
done
echo "PASS: $image on $machine (exit $status)"
