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

cargo test --locked --workspace --no-run --quiet
bin="${CARGO_TARGET_DIR:-target}/debug"
dir="$(mktemp -d -t viva-failover.XXXXXX)"
cluster_pid=""
finish() {
    if [ -n "$cluster_pid" ]; then
        kill -TERM "$cluster_pid" 2>/dev/null || true
        wait "$cluster_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap finish EXIT
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
VIVA_GATEWAY_BIN="$bin/viva-gateway" scripts/cluster.sh --port "$port" --dir "$dir/cluster" \
    -- --scripted-pace-ms 0 --max-live-per-user 0 >"$dir/cluster.out" 2>&1 &
cluster_pid=$!
for _ in $(seq 1200); do
    grep -q "viva cluster ready" "$dir/cluster.out" && break
    sleep 0.1
done
# shellcheck disable=SC1091
. "$dir/cluster/cluster.env"
read -r -a nodes <<<"$VIVA_REDIS_NODES"

"$bin/viva-load" replay --url "$VIVA_URL" --sessions "$sessions" --concurrency 250 --speed 40 \
    --encoding msgpack --max-reconnects 5 --event-timeout-s 30 >"$dir/load.out" 2>&1 &
load_pid=$!
sleep "$after_s"
master="${nodes[0]}"
kill -KILL "$(pgrep -f "redis-server 127.0.0.1:${master##*:}")"
echo "failover: master $master killed (SIGKILL) ${after_s} s into the run"
wait "$load_pid" || true
grep -vE '^[0-9]+/[0-9]+ sessions' "$dir/load.out" | sed -n '/^sessions/,/^throughput/p'
echo "failover: audit of the stored logs: $(python3 scripts/lib/audit_logs.py "${nodes[@]:1}" || true)"
for gw in $VIVA_GATEWAY_IDS; do
    first="$(grep -m1 -E 'WARN.*(timed out|refused)' "$dir/cluster/$gw.log" | cut -c12-23)"
    last="$(grep -E 'WARN.*(timed out|refused)' "$dir/cluster/$gw.log" | grep -v 'shutdown\|registry' | tail -1 | cut -c12-23)"
    echo "failover: $gw store errors from ${first:--} to ${last:--} (UTC)"
done
