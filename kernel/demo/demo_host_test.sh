#!/usr/bin/env bash
set -eu
out=$(kernel/demo/demo_host)
echo "$out"
grep -q "DEMO OK" <<<"$out"
