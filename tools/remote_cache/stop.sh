#!/usr/bin/env bash
# Stops the cache started by start.sh:  tools/remote_cache/stop.sh [--dir DIR]
set -euo pipefail
dir="${HOME:-/tmp}/.cache/ambience-remote-cache"
[ "${1:-}" = "--dir" ] && dir=$2
if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
  kill "$(cat "$dir/nginx.pid")"
  echo "remote cache stopped"
else
  echo "no remote cache running for $dir"
fi
