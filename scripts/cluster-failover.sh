#!/usr/bin/env bash
# Measures a Redis Cluster master failover under load (docs/durability.md, "A Redis Cluster
# master failing over"): scripts/cluster.sh (3 masters + 3 replicas, 3 gateways, nginx),
# viva-load replaying SESSIONS interviews through nginx, and the master of the first slots
# SIGKILLed AFTER_S seconds in. Prints viva-load's summary and the audit of every stored log
# (seqs 1..n, no stale writer). A measurement, not a test: it exits 0 whatever it measured.
#
#   SESSIONS=1000 AFTER_S=6 scripts/cluster-failover.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${SESSIONS:-1000}
after_s=${AFTER_S:-6}

# shellcheck source=lib/cluster.sh
. scripts/lib/cluster.sh
start_cluster failover --scripted-pace-ms 0 --max-live-per-user 0

"$bin/viva-load" replay --url "$VIVA_URL" --sessions "$sessions" --concurrency 250 --speed 40 \
    --encoding msgpack --max-reconnects 5 --event-timeout-s 30 >"$dir/load.out" 2>&1 &
load_pid=$!
sleep "$after_s"
master="${redis_nodes[0]}"
kill -KILL "$(pgrep -f "redis-server 127.0.0.1:${master##*:}")"
echo "failover: master $master killed (SIGKILL) ${after_s} s into the run"
wait "$load_pid" || true
grep -vE '^[0-9]+/[0-9]+ sessions' "$dir/load.out" | sed -n '/^sessions/,/^throughput/p'
echo "failover: audit of the stored logs: $(python3 scripts/lib/audit_logs.py "${redis_nodes[@]:1}" || true)"
for gw in $VIVA_GATEWAY_IDS; do
    first="$(grep -m1 -E 'WARN.*(timed out|refused)' "$dir/cluster/$gw.log" | cut -c12-23)"
    last="$(grep -E 'WARN.*(timed out|refused)' "$dir/cluster/$gw.log" | grep -v 'shutdown\|registry' | tail -1 | cut -c12-23)"
    echo "failover: $gw store errors from ${first:--} to ${last:--} (UTC)"
done
