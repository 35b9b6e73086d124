#!/usr/bin/env bash
# Starts a local Bazel HTTP cache (nginx WebDAV) on loopback.
#   tools/remote_cache/start.sh [--port N] [--dir DIR]
# Then build with:  bazel build --config=remote //...   (port 18080), or
#                   bazel build --remote_cache=http://127.0.0.1:N //...
# Stop with tools/remote_cache/stop.sh --dir DIR.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # nginx lives in /usr/sbin
port=18080
dir="${HOME:-/tmp}/.cache/ambience-remote-cache"
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "start.sh: error: unknown argument '$1'" >&2; exit 1 ;;
  esac
done
command -v nginx >/dev/null || { echo "start.sh: error: nginx not installed (run tools/setup.sh)" >&2; exit 1; }
mkdir -p "$dir/cache" "$dir/tmp" "$dir/logs"
dir=$(cd "$dir" && pwd)
if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
  echo "remote cache already running (pid $(cat "$dir/nginx.pid")) at http://127.0.0.1:$(cat "$dir/port")"
  exit 0
fi
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"  # workers must be able to write the cache dir
cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log $dir/logs/access.log;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $dir/cache;
    location / {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      client_max_body_size 2g;
    }
  }
}
CONF
nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
echo "$port" >"$dir/port"
for _ in $(seq 50); do
  [ -f "$dir/nginx.pid" ] && break
  sleep 0.1
done
echo "remote cache running at http://127.0.0.1:$port (pid $(cat "$dir/nginx.pid"), data in $dir/cache)"
