#!/usr/bin/env bash
# Runs the MCU benchmarks on both boards under QEMU instruction counting (method: bench.cc), then
# measures the minimal node (minimal_node.cc): flash = text + data, RAM = data + bss + the main
# stack's high-water mark (painted stack, read after serving a few framed requests over UART0).
set -euo pipefail
here="${RUNFILES_DIR:-$0.runfiles}/ambience/benchmarks/mcu"
status=0
for pair in mps2_an386:mps2-an386:m4 mps2_an500:mps2-an500:m7; do
  IFS=: read -r board machine cpu <<<"$pair"
  echo "== $board ($machine), qemu -icount shift=0,sleep=off"
  if ! timeout 300 qemu-system-arm -M "$machine" -nographic -monitor none \
      -icount shift=0,sleep=off -semihosting-config enable=on,target=native \
      -kernel "$here/bench_$board.elf" </dev/null | tr -d '\r'; then
    echo "benchmark on $board FAILED"; status=1
  fi
  # Interrupt -> first service instruction, counted exactly from QEMU's instruction trace:
  # every instruction executed from the NVIC pend (ambience_bench_pend_irq) until the probe
  # service's first instruction, 8 samples per placement (irq_trace image = bench.cc, trace mode).
  telf="$here/irq_trace_$board.elf"
  tlog="$(mktemp "${TMPDIR:-/tmp}/irq_trace.XXXXXX")"
  timeout 120 qemu-system-arm -M "$machine" -nographic -monitor none -icount shift=0,sleep=off \
    -semihosting-config enable=on,target=native -d in_asm,exec,nochain -D "$tlog" -kernel "$telf" \
    </dev/null >/dev/null || { echo "trace run on $board FAILED"; status=1; }
  start=$(arm-none-eabi-nm "$telf" | awk '$3 == "ambience_bench_pend_irq" {print $1}')
  stop=$(arm-none-eabi-nm -C "$telf" | awk '/Probe::handle/ {print $1}')
  if counts=$(python3 "$here/trace_count.py" "$tlog" "$start" "$stop"); then
    read -r -a c <<<"$counts"
    echo "instruction trace, interrupt pend -> first service instruction (8 samples each):"
    echo "  kernelized: ${c[*]:0:8}"
    echo "  user group: ${c[*]:8:8}"
    # Median: the steady state (the first user-group sample also pays one-time costs, shown above).
    median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%.1f", (v[int((NR+1)/2)] + v[int(NR/2)+1]) / 2}'; }
    kmean=$(median "${c[@]:0:8}")
    umean=$(median "${c[@]:8:8}")
    echo "RESULT mcu_irq_to_service_kernelized_trace_$cpu value=$kmean unit=instructions"
    echo "RESULT mcu_irq_to_service_user_group_trace_$cpu value=$umean unit=instructions baseline=$kmean ratio=$(awk -v u=$umean -v k=$kmean 'BEGIN{printf "%.1f", u/k}')"
  else
    echo "trace count on $board FAILED"; status=1
  fi
  rm -f "$tlog"
  elf="$here/minimal_node_$board.elf"
  read -r text data bss < <(arm-none-eabi-size -A "$elf" | awk '
    $1 ~ /^\.(text|ARM\.exidx|ARM\.extab)$/ { t += $2 } $1 == ".data" { d += $2 } $1 == ".bss" { b += $2 }
    END { print t + 0, d + 0, b + 0 }')
  stack=$( { printf ':01010405000000F5\n:FF000001\n'; sleep 3; } | timeout 20 qemu-system-arm -M "$machine" \
      -nographic -monitor none -semihosting-config enable=on,target=native -kernel "$elf" \
      | tr -d '\r' | sed -n 's/^STACK_PEAK \([0-9]*\)$/\1/p')
  if [ -z "$stack" ]; then echo "minimal node on $board FAILED"; status=1; stack=0; fi
  flash=$((text + data)) ram=$((data + bss + stack))
  echo "minimal node (kernel + 1 kernelized service + buffered-UART framed transport):"
  echo "  text $text data $data bss $bss, main stack high-water $stack bytes"
  echo "  flash $flash bytes (target 16384), RAM $ram bytes (target 4096)"
  echo "RESULT mcu_minimal_node_flash_$cpu value=$flash unit=bytes baseline=16384 ratio=$(awk -v a=$flash 'BEGIN{printf "%.2f", a/16384}')"
  echo "RESULT mcu_minimal_node_ram_$cpu value=$ram unit=bytes baseline=4096 ratio=$(awk -v a=$ram 'BEGIN{printf "%.2f", a/4096}')"
done
exit $status
