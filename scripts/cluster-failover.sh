#!/usr/bin/env bash
# A Redis Cluster master failing over under load, tested (docs/durability.md, "A Redis Cluster
# master failing over"): scripts/cluster.sh with 3 masters of 2 replicas each (so a promoted
# replica still has one to confirm writes), 3 gateways that acknowledge events only once a
# replica has them (`--store-wait-replicas 1`), viva-load replaying SESSIONS interviews through
# nginx, and the master of the first slots SIGKILLed AFTER_S seconds in.
#
# The bound it checks: nothing acknowledged is lost. Every interview completes with no protocol
# violation (a client that had seen an event the store then lost would see a seq repeated or
# skipped when it resumes; a socket refused while the store is away is not a violation), and
# the audit of every stored log finds seqs 1..n and no stale writer. Prints how long each
# gateway saw store errors. Run from anywhere; scripts/test.sh calls it.
#
#   SESSIONS=500 AFTER_S=4 scripts/cluster-failover.sh
#
# WAIT_REPLICAS=0 runs it without WAIT, as a measurement: docs/durability.md allows a loss
# within the replication lag then, so only the audit must pass.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
sessions=${SESSIONS:-500}
after_s=${AFTER_S:-4}
wait_replicas=${WAIT_REPLICAS:-1}

# shellcheck source=lib/cluster.sh
. scripts/lib/cluster.sh
load_pid=""
on_exit='[ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null'
start_cluster failover --replicas 2 -- --scripted-pace-ms 0 --max-live-per-user 0 \
    --store-wait-replicas "$wait_replicas"

"$bin/viva-load" replay --url "$VIVA_URL" --sessions "$sessions" --concurrency 250 --speed 40 \
    --encoding msgpack --max-reconnects 10 --event-timeout-s 30 --json "$dir/summary.json" \
    >"$dir/load.out" 2>"$dir/load.err" &
load_pid=$!
sleep "$after_s"
master="${redis_nodes[0]}"
kill -KILL "$(pgrep -f "redis-server 127.0.0.1:${master##*:}")"
echo "failover: master $master killed (SIGKILL) ${after_s} s into the run"
load_status=0
wait "$load_pid" || load_status=$?
load_pid=""
grep -vE '^[0-9]+/[0-9]+ sessions' "$dir/load.out" | sed -n '/^sessions/,/^throughput/p'
for gw in $VIVA_GATEWAY_IDS; do
    first="$(grep -m1 -E 'WARN.*(timed out|refused|unavailable|replicas)' "$dir/cluster/$gw.log" | cut -c12-23)"
    last="$(grep -E 'WARN.*(timed out|refused|unavailable|replicas)' "$dir/cluster/$gw.log" |
        grep -v 'shutdown\|registry' | tail -1 | cut -c12-23)"
    echo "failover: $gw store errors from ${first:--} to ${last:--} (UTC)"
done

audit="$(python3 scripts/lib/audit_logs.py "${redis_nodes[@]:1}")" || {
    echo "failover: FAIL audit: $audit" >&2
    exit 1
}
echo "failover: audit of the stored logs: $audit"
if [ "$wait_replicas" = 0 ]; then
    echo "failover: measured without WAIT in $((SECONDS - started)) s (viva-load exited $load_status)"
    exit 0
fi
if [ "$load_status" -ne 0 ]; then
    echo "failover: FAIL viva-load exited $load_status" >&2
    tail -20 "$dir/load.err" >&2
    exit 1
fi
python3 scripts/lib/check_summary.py failover "$dir/summary.json" "$sessions"
echo "failover: passed in $((SECONDS - started)) s"
