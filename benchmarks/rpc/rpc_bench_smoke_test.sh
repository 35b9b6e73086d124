#!/bin/bash
# Runs the RPC benchmark in --smoke mode: it must finish (every call succeeded, the protected
# pair's requests were sealed and nothing was refused: exit 0) and print its RESULT lines. Timing is not checked: the machine is shared.
set -euo pipefail
rc=0
out="$("$1" --smoke)" || rc=$?
echo "$out"
if [[ $rc -ne 0 ]]; then
  echo "rpc_bench --smoke exited with $rc (a call failed, a node did not start, or the protected pair was not sealed)" >&2
  exit 1
fi
for id in rpc_rtt_median_us rpc_rtt_p99_us rpc_link_only_rtt_median_us rpc_calls_per_s_64_in_flight rpc_forwarded_rtt_median_us \
  rpc_forwarder_us_per_hop rpc_protected_rtt_ratio rpc_protected_rtt_p99_ratio rpc_protected_calls_per_s_ratio \
  rpc_protected_latency_p50_64_in_flight_ratio rpc_protected_calls_per_s_64_in_flight_ratio \
  rpc_protected_crypto_us_per_call; do
  if ! grep -Eq "^RESULT ${id} value=[-0-9.e+]+ unit=[^ ]+ baseline=[-0-9.e+]+ ratio=[-0-9.e+]+$" <<<"$out"; then
    echo "missing or malformed: RESULT ${id}" >&2
    exit 1
  fi
done
