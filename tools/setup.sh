#!/usr/bin/env bash
# The single source of machine set-up for Ambience: Debian packages, pinned PyPI packages and the
# pinned buildifier (from the npm registry).
# Idempotent: when everything is present it only checks and returns in seconds.
# Fails loudly, naming what it could not install.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

DEBS=(
  bazel-bootstrap bazel-platforms bazel-rules-java bazel-rules-proto bazel-skylib
  gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
  qemu-system-arm nginx-light libgtest-dev libsqlite3-dev graphviz g++ clang-format-16
  mosquitto libmosquitto-dev
  clang-16 libclang-rt-16-dev llvm-16
)

missing=()
for p in "${DEBS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm fetches buildifier below; any npm on PATH will do (Debian's, or one that came with nodejs).
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null || { echo "setup: error: apt-get update failed" >&2; exit 1; }
  if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/ambience-apt.log 2>&1; then
    tail -20 /tmp/ambience-apt.log >&2
    echo "setup: error: could not install Debian packages: ${missing[*]} (log: /tmp/ambience-apt.log)" >&2
    exit 1
  fi
fi

# Python: the interpreter Bazel will use (same rule as @local_python: PYTHON_BIN_PATH or python3).
PY=${PYTHON_BIN_PATH:-$(command -v python3)}
if ! "$PY" - "$here/requirements.txt" <<'PYEOF'
import sys, importlib.metadata as md
ok = True
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, ver = line.split("==")
    try:
        if md.version(name) != ver:
            ok = False
    except md.PackageNotFoundError:
        ok = False
sys.exit(0 if ok else 1)
PYEOF
then
  echo "setup: installing pinned PyPI packages into $PY" >&2
  if ! "$PY" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"; then
    echo "setup: error: pip could not install $here/requirements.txt into $PY" >&2
    exit 1
  fi
fi

# Monocypher (RPC authentication and encryption, token signatures): its C sources ship inside
# the source distribution of the PyPI package pymonocypher. Fetched once from the package registry
# (PEP 503 simple index) into the user's cache, pinned by version and sha256; the @monocypher
# repository (third_party/monocypher) checks the hash again and builds it for every target.
MONOCYPHER_SDIST_VERSION=4.0.3.4
MONOCYPHER_SDIST_SHA256=5e56e3d3eb770a53e0b9f6274146663c11a11f3d0de5cd48e3be0428d1b07a4a
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ambience"
sdist="$cache/pymonocypher-$MONOCYPHER_SDIST_VERSION.tar.gz"
if ! echo "$MONOCYPHER_SDIST_SHA256  $sdist" | sha256sum -c --quiet --status 2>/dev/null; then
  echo "setup: fetching pymonocypher $MONOCYPHER_SDIST_VERSION (Monocypher's sources) from PyPI into $cache" >&2
  mkdir -p "$cache"
  index=$("$PY" -m pip config get global.index-url 2>/dev/null || echo https://pypi.org/simple)
  if ! "$PY" - "$index" "$MONOCYPHER_SDIST_VERSION" "$MONOCYPHER_SDIST_SHA256" "$sdist" <<'PYEOF'
import hashlib, re, sys, urllib.parse, urllib.request
index, version, sha, out = sys.argv[1:]
name = f"pymonocypher-{version}.tar.gz"
page_url = index.rstrip("/") + "/pymonocypher/"
page = urllib.request.urlopen(page_url, timeout=120).read().decode()
links = [urllib.parse.urljoin(page_url, h) for h in re.findall(r'href="([^"]+)"', page)]
link = next((u for u in links if urllib.parse.urlparse(u).path.endswith("/" + name)), None)
if link is None:
    sys.exit(f"setup: error: {name} is not on {page_url}")
data = urllib.request.urlopen(link.split("#")[0], timeout=300).read()
got = hashlib.sha256(data).hexdigest()
if got != sha:
    sys.exit(f"setup: error: {name} has sha256 {got}, pinned {sha}")
with open(out + ".tmp", "wb") as f:
    f.write(data)
import os
os.replace(out + ".tmp", out)
PYEOF
  then
    echo "setup: error: could not fetch pymonocypher $MONOCYPHER_SDIST_VERSION from $index" >&2
    exit 1
  fi
fi

# The key store (outside the repository; $AMBIENCE_KEY_STORE, default ~/.config/ambience/keys): a
# master key for every deployment of this repository that has none yet, created on this machine
# and never committed. A deployment run for real gets its own store (`ambience keys init`).
mapfile -t deployments < <(cd "$here/.." && grep -rlE --include=BUILD.bazel '^deployment\(' \
  --exclude-dir=.bazel --exclude-dir='bazel-*' --exclude-dir=.git . | sed -e 's|^\./|//|' -e 's|/BUILD.bazel$||' | sort)
if ((${#deployments[@]})); then
  (cd "$here/.." && PYTHONPATH=tools:. "$PY" -m ambience keys init --if-missing "${deployments[@]}") |
    sed 's/^/setup: /' >&2 || { echo "setup: error: could not create the development key store" >&2; exit 1; }
fi

# Pin Bazel's @local_python to the interpreter that has the packages, whatever PATH says later.
exe=$("$PY" -c 'import sys; print(sys.executable)')
want="build --repo_env=PYTHON_BIN_PATH=$exe"
rc="$here/../user.bazelrc"
if ! grep -qxF -- "$want" "$rc" 2>/dev/null; then
  { grep -v -- '--repo_env=PYTHON_BIN_PATH=' "$rc" 2>/dev/null || true; echo "$want"; } >"$rc.tmp"
  mv "$rc.tmp" "$rc"
fi

# buildifier (formats BUILD/.bzl files; tools/format.sh, tools/presubmit.sh): the binary for this
# machine out of the pinned @bazel/buildifier npm tarball, into the user's cache (outside the repo).
source "$here/style_lib.sh"
have=$("$BUILDIFIER" --version 2>/dev/null || true)
if [[ "$have" != *"version: $BUILDIFIER_VERSION"* ]]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) platform=linux_amd64 ;;
    Linux-aarch64) platform=linux_arm64 ;;
    *) echo "setup: error: no prebuilt buildifier for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
  esac
  echo "setup: installing buildifier $BUILDIFIER_VERSION ($platform) into $(dirname "$BUILDIFIER")" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && npm pack --silent "@bazel/buildifier@$BUILDIFIER_VERSION" >pack.log 2>&1); then
    tail -5 "$tmp/pack.log" >&2
    echo "setup: error: npm could not fetch @bazel/buildifier@$BUILDIFIER_VERSION" >&2
    exit 1
  fi
  tarball="$tmp/bazel-buildifier-$BUILDIFIER_VERSION.tgz"
  got=$("$PY" -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
  if [ "$got" != "$BUILDIFIER_INTEGRITY" ]; then
    echo "setup: error: @bazel/buildifier@$BUILDIFIER_VERSION tarball is $got, pinned $BUILDIFIER_INTEGRITY" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$BUILDIFIER")"
  tar -xzf "$tarball" -C "$tmp" "package/buildifier-$platform"
  install -m 0755 "$tmp/package/buildifier-$platform" "$BUILDIFIER"
fi

for tool in bazel arm-none-eabi-gcc qemu-system-arm nginx dot "$CLANG_FORMAT" "$CLANG_FORMAT_DIFF" "$BUILDIFIER"; do
  command -v "$tool" >/dev/null || { echo "setup: error: '$tool' still missing after install" >&2; exit 1; }
done
echo "setup: ok ($("$PY" --version), $(arm-none-eabi-gcc -dumpversion) arm-none-eabi-gcc, $(qemu-system-arm --version | head -1)," \
  "clang-format $("$CLANG_FORMAT" --version | grep -oE '[0-9]+\.[0-9.]+' | head -1), buildifier $BUILDIFIER_VERSION)" >&2
