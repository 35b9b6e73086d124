#!/usr/bin/env bash
# Drives the minimal node over its serial transport (QEMU UART0 on stdin/stdout): a few calls to
# the kernelized service, a corrupted frame, then the stop frame.
set -u
elf=$1 machine=$2
# An mcu_image target's executable is its QEMU runner; the ELF sits beside it.
case "$elf" in *.qemu.sh) elf="${elf%.qemu.sh}.elf" ;; esac
# add(5) -> 5, add(7) -> 12, checksum of "abc", a frame with a bad checksum, stop.
mk() { local hex=$1 sum=0 i; for ((i=0;i<${#hex};i+=2)); do sum=$(( (sum + 16#${hex:i:2}) & 255 )); done
       printf ':%s%02X' "$hex" $(( (256 - sum) & 255 )); }
input="$(mk 01010405000000)
$(mk 01010407000000)
$(mk 010203616263)
:0101040500000001
$(mk FF0000)"
out=$( { printf '%s\n' "$input"; sleep 5; } | timeout 20 qemu-system-arm -M "$machine" -nographic -monitor none \
  -semihosting-config enable=on,target=native -kernel "$elf" | tr -d '\r')
status=$?
echo "$out"
fail() { echo "FAIL: $*"; exit 1; }
[ "$status" = 0 ] || fail "exit status $status"
# ok, 4 bytes, 5 / 12 little-endian; FNV-1a("abc") = 0x1A47E90B
for want in "$(mk 000405000000)" "$(mk 00040C000000)" "$(mk 00040BE9471A)" "$(mk 0400)"; do
  grep -qF -- "$want" <<<"$out" || fail "missing response $want"
done
grep -q "STACK_PEAK [0-9]" <<<"$out" || fail "no stack report"
echo "PASS: minimal node on $machine"
