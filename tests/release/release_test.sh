#!/usr/bin/env bash
# Release checks that need whole Bazel builds (run as `local` tests, outside the sandbox):
#   release_test.sh reproducible   two cold builds in two copies of the workspace (different
#                                  paths, different output bases) give byte-identical images
#   release_test.sh remote_cache   after filling a fresh nginx cache, a cold build in another
#                                  output base executes no action at all (only cache hits)
set -euo pipefail
mode=$1
ws=$(dirname "$(readlink -f "$TEST_SRCDIR/ambience/WORKSPACE")")
tmp=${TEST_TMPDIR:-$(mktemp -d)}
targets=(//kernel/demo:demo_mps2_an386 //kernel/demo:demo_mps2_an500 //kernel/demo:demo_host)
outputs=(kernel/demo/demo_mps2_an386.elf kernel/demo/demo_mps2_an386.bin
         kernel/demo/demo_mps2_an500.elf kernel/demo/demo_mps2_an500.bin kernel/demo/demo_host)

copy_workspace() {  # a source copy without outputs or git metadata
  mkdir -p "$2"
  (cd "$1" && tar --exclude=./.bazel --exclude='./bazel-*' --exclude=./.git -cf - .) | (cd "$2" && tar -xf -)
}

# The interpreter the outer build probed (tests run with a minimal PATH).
python_bin=$(cat "$TEST_SRCDIR/local_python/interpreter_path.txt")

build() {  # build WORKSPACE OUTPUT_BASE EXTRA_FLAGS...
  local w=$1 base=$2
  shift 2
  (cd "$w" && bazel --output_base="$base" build --symlink_prefix=/ \
      --repo_env=PYTHON_BIN_PATH="$python_bin" "$@" "${targets[@]}" 2>&1)
}

bin_dir() { (cd "$1" && bazel --output_base="$2" info bazel-bin 2>/dev/null); }

shutdown() { (cd "$1" && bazel --output_base="$2" shutdown >/dev/null 2>&1) || true; }

case "$mode" in
  reproducible)
    for i in 1 2; do
      copy_workspace "$ws" "$tmp/ws$i"
      build "$tmp/ws$i" "$tmp/base$i" >"$tmp/build$i.log" || { cat "$tmp/build$i.log"; exit 1; }
    done
    bin1=$(bin_dir "$tmp/ws1" "$tmp/base1")
    bin2=$(bin_dir "$tmp/ws2" "$tmp/base2")
    shutdown "$tmp/ws1" "$tmp/base1"
    shutdown "$tmp/ws2" "$tmp/base2"
    fail=0
    for f in "${outputs[@]}"; do
      a=$(sha256sum <"$bin1/$f" | cut -d' ' -f1)
      b=$(sha256sum <"$bin2/$f" | cut -d' ' -f1)
      if [ "$a" = "$b" ]; then echo "identical  $a  $f"; else echo "DIFFERENT  $a $b  $f"; fail=1; fi
    done
    exit $fail
    ;;
  remote_cache)
    port=$("$python_bin" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$ws/tools/remote_cache/start.sh" --port "$port" --dir "$tmp/cache"
    trap '"$ws/tools/remote_cache/stop.sh" --dir "$tmp/cache"' EXIT
    flags=(--remote_cache="http://127.0.0.1:$port")
    build "$ws" "$tmp/fill" "${flags[@]}" >"$tmp/fill.log" || { cat "$tmp/fill.log"; exit 1; }
    shutdown "$ws" "$tmp/fill"
    build "$ws" "$tmp/cold" "${flags[@]}" >"$tmp/cold.log" || { cat "$tmp/cold.log"; exit 1; }
    shutdown "$ws" "$tmp/cold"
    grep -E "processes:" "$tmp/fill.log" | sed 's/^/fill: /'
    line=$(grep -E "processes:" "$tmp/cold.log")
    echo "cold: $line"
    grep -q "remote cache hit" <<<"$line" || { echo "FAIL: no cache hits"; exit 1; }
    if grep -qE "linux-sandbox|processwrapper-sandbox| local|worker" <<<"$line"; then
      echo "FAIL: actions were executed despite a full cache"
      exit 1
    fi
    echo "PASS: the cold build executed no action"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
