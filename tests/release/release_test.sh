#!/usr/bin/env bash
# Release checks that need whole Bazel builds (run as `local` tests, outside the sandbox):
#   release_test.sh reproducible   two cold builds in two copies of the workspace (different
#                                  paths, different output bases, no disk cache) give
#                                  byte-identical images and deployment release archives, and
#                                  each archive's MANIFEST.sha256 lists exactly its files with
#                                  their hashes, which are those of the images the build made;
#                                  both use the fixed test key store (testdata/keys), and a
#                                  rebuild with a rotated store changes every node image and no
#                                  plan
#   release_test.sh remote_cache   after filling a fresh nginx cache, a cold build in another
#                                  output base executes no action at all (only cache hits)
set -euo pipefail
mode=$1
ws=$(dirname "$(readlink -f "$TEST_SRCDIR/ambience/WORKSPACE")")
tmp=${TEST_TMPDIR:-$(mktemp -d)}
targets=(//kernel/demo:demo_mps2_an386 //kernel/demo:demo_mps2_an500 //kernel/demo:demo_host)
outputs=(kernel/demo/demo_mps2_an386.elf kernel/demo/demo_mps2_an386.bin
         kernel/demo/demo_mps2_an500.elf kernel/demo/demo_mps2_an500.bin kernel/demo/demo_host)
# Deployment release archives (deployment()'s :release): package -> deployment name.
declare -A releases=([deployments/camera_trap]=camera_trap)

copy_workspace() {  # a source copy without outputs, git metadata or per-user settings
  mkdir -p "$2"
  (cd "$1" && tar --exclude=./.bazel --exclude='./bazel-*' --exclude=./.git --exclude=./user.bazelrc \
      -cf - .) | (cd "$2" && tar -xf -)
}

# The interpreter the outer build probed (tests run with a minimal PATH).
python_bin=$(cat "$TEST_SRCDIR/local_python/interpreter_path.txt")
# The cache tools/setup.sh filled (pinned third-party archives); tests run without HOME.
cache_home=$(dirname "$(cat "$TEST_SRCDIR/monocypher/cache_dir.txt")")

# A build is cold only without a disk cache (a user.bazelrc may name one); 2 jobs: shared cores.
build() {  # build WORKSPACE OUTPUT_BASE EXTRA_FLAGS...
  local w=$1 base=$2
  shift 2
  (cd "$w" && bazel --output_base="$base" build --symlink_prefix=/ --disk_cache= --jobs=2 \
      --repo_env=PYTHON_BIN_PATH="$python_bin" --repo_env=XDG_CACHE_HOME="$cache_home" \
      "$@" "${targets[@]}" 2>&1)
}

# check_release BIN PKG NAME: the archive's manifest lists exactly its files, with their hashes,
# and its node images and plans are the ones the build made for the deployment's targets.
check_release() {
  local bin=$1 pkg=$2 name=$3 x="$tmp/x.$RANDOM" fail=0
  mkdir -p "$x"
  tar -xf "$bin/$pkg/release.tar" -C "$x"
  [ "$(ls "$x")" = "$name" ] || { echo "FAIL: $pkg/release.tar holds $(ls "$x"), not $name/"; return 1; }
  local listed actual
  listed=$(cut -c67- "$x/$name/MANIFEST.sha256" | LC_ALL=C sort)
  actual=$(cd "$x/$name" && find . -type f ! -path ./MANIFEST.sha256 | sed 's|^\./||' | LC_ALL=C sort)
  if [ "$listed" != "$actual" ]; then
    echo "FAIL: $pkg/release.tar: MANIFEST.sha256 does not list exactly the archive's files"
    diff <(echo "$listed") <(echo "$actual") || true
    fail=1
  fi
  (cd "$x/$name" && sha256sum --quiet -c MANIFEST.sha256) || { echo "FAIL: $pkg: manifest hashes"; fail=1; }
  local member built n
  while read -r _ member; do
    case "$member" in
      nodes/*.elf | nodes/*.bin) n=${member#nodes/}; built="$bin/$pkg/$n" ;;
      nodes/*.tar) n=${member#nodes/}; built="$bin/$pkg/${n%.tar}_bundle.tar" ;;
      plans/*.plan.json) n=${member#plans/}; built="$bin/$pkg/$name/$n" ;;
      *) continue ;;
    esac
    if ! cmp -s "$x/$name/$member" "$built"; then
      echo "FAIL: $pkg: $member is not the built ${built#"$bin/"}"
      fail=1
    fi
  done <"$x/$name/MANIFEST.sha256"
  grep -q '^[0-9a-f]\{64\}  preload/' "$x/$name/MANIFEST.sha256" || {
    echo "FAIL: $pkg: no preloaded file in the release"
    fail=1
  }
  echo "manifest   $(wc -l <"$x/$name/MANIFEST.sha256") files  $pkg/release.tar"
  rm -rf "$x"
  return $fail
}

bin_dir() { (cd "$1" && bazel --output_base="$2" info bazel-bin 2>/dev/null); }

shutdown() { (cd "$1" && bazel --output_base="$2" shutdown >/dev/null 2>&1) || true; }

case "$mode" in
  reproducible)
    # The fixed test key store (mode 0600, as the key store insists), and a rotated copy.
    mkdir -p "$tmp/keys" "$tmp/rotated/deployments_camera_trap"
    cp -r "$ws/tests/release/testdata/keys/." "$tmp/keys/"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/rotated/deployments_camera_trap/master.key"
    echo >>"$tmp/rotated/deployments_camera_trap/master.key"
    find "$tmp/keys" "$tmp/rotated" -type f -exec chmod 600 {} +
    targets+=(--repo_env=AMBIENCE_KEY_STORE="$tmp/keys")
    for pkg in "${!releases[@]}"; do
      targets+=("//$pkg:release")
      outputs+=("$pkg/release.tar")
    done
    for i in 1 2; do
      copy_workspace "$ws" "$tmp/ws$i"
      build "$tmp/ws$i" "$tmp/base$i" >"$tmp/build$i.log" || { cat "$tmp/build$i.log"; exit 1; }
      # cold: nothing came from a cache
      if grep -E "processes:" "$tmp/build$i.log" | grep -q "cache hit"; then
        grep -E "processes:" "$tmp/build$i.log"
        echo "FAIL: build $i was not cold"
        exit 1
      fi
    done
    bin1=$(bin_dir "$tmp/ws1" "$tmp/base1")
    bin2=$(bin_dir "$tmp/ws2" "$tmp/base2")
    shutdown "$tmp/ws2" "$tmp/base2"
    fail=0
    for f in "${outputs[@]}"; do
      a=$(sha256sum <"$bin1/$f" | cut -d' ' -f1)
      b=$(sha256sum <"$bin2/$f" | cut -d' ' -f1)
      if [ "$a" = "$b" ]; then echo "identical  $a  $f"; else echo "DIFFERENT  $a $b  $f"; fail=1; fi
    done
    for pkg in "${!releases[@]}"; do
      check_release "$bin1" "$pkg" "${releases[$pkg]}" || fail=1
      if ! cmp -s "$bin1/$pkg/release.tar" "$bin2/$pkg/release.tar"; then  # which members differ
        diff <(tar -xOf "$bin1/$pkg/release.tar" "${releases[$pkg]}/MANIFEST.sha256") \
          <(tar -xOf "$bin2/$pkg/release.tar" "${releases[$pkg]}/MANIFEST.sha256") || true
      fi
    done
    # Rotation: the same workspace rebuilt with another key store (warm: only keys and links).
    mkdir -p "$tmp/before"
    tar -xf "$bin1/deployments/camera_trap/release.tar" -C "$tmp/before"
    (cd "$tmp/ws1" && bazel --output_base="$tmp/base1" build --symlink_prefix=/ --disk_cache= --jobs=2 \
        --repo_env=PYTHON_BIN_PATH="$python_bin" --repo_env=XDG_CACHE_HOME="$cache_home" \
        --repo_env=AMBIENCE_KEY_STORE="$tmp/rotated" \
        //deployments/camera_trap:release >"$tmp/rotate.log" 2>&1) || { cat "$tmp/rotate.log"; exit 1; }
    mkdir -p "$tmp/after"
    tar -xf "$bin1/deployments/camera_trap/release.tar" -C "$tmp/after"
    shutdown "$tmp/ws1" "$tmp/base1"
    rotation_fail=0
    while read -r f; do
      rel=${f#"$tmp/before/"}
      case "$rel" in */nodes/*.elf | */nodes/*.bin | */nodes/*.tar) want=different ;; *) want=identical ;; esac
      if cmp -s "$f" "$tmp/after/$rel"; then got=identical; else got=different; fi
      [ "$got" = "$want" ] || { echo "FAIL: rotated key store: $rel is $got"; rotation_fail=1; }
    done < <(find "$tmp/before/camera_trap" -type f ! -name MANIFEST.sha256 | LC_ALL=C sort)
    echo "rotation   node images changed, plans and preloads identical: $([ $rotation_fail = 0 ] && echo yes || echo NO)"
    [ $rotation_fail = 0 ] || fail=1
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
