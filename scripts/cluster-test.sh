#!/usr/bin/env bash
# Several nodes behind a balancer, tested whole: scripts/cluster.sh brings up a Redis Cluster
# (3 masters + 3 replicas), 3 gateways and nginx; viva-load replays SESSIONS interviews (1,000
# by default) through nginx with no stickiness; once the second gateway runs some of them it
# is killed (SIGKILL: no handover), then the third is drained (it hands its sessions over and
# exits). Passes when every interview completes with no protocol violation (viva-load checks
# seqs across reconnects, acknowledgements, the report), the sessions of the dead and the
# drained node reconnected elsewhere, the drained one exited, and the audit of every stored log finds
# seqs 1..n and never an event written by an epoch older than one before it (0 double
# writers). Prints the reconnect latency and where the sockets went. Run from anywhere;
# scripts/test.sh calls it.
#
#   SESSIONS=1000 CONCURRENCY=250 scripts/cluster-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
sessions=${SESSIONS:-1000}
concurrency=${CONCURRENCY:-250}

# shellcheck source=lib/cluster.sh
. scripts/lib/cluster.sh
load_pid=""
on_exit='[ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null'
start_cluster cluster-test -- --scripted-pace-ms 0 --session-lease-ms 3000 --max-live-per-user 0

# Recordings at 40x: an interview lasts seconds, so sessions are live when the node dies.
"$bin/viva-load" replay --url "$VIVA_URL" --sessions "$sessions" --concurrency "$concurrency" --speed 40 \
    --encoding msgpack --max-reconnects 5 --json "$dir/summary.json" >"$dir/load.out" 2>"$dir/load.err" &
load_pid=$!

# Sessions a gateway runs, as the registry says (asked of the first gateway).
live() {
    curl -fs -H "Authorization: Bearer $VIVA_ADMIN_TOKEN" "http://${gw_addrs[0]}/v1/admin/nodes" |
        python3 -c 'import json, sys; print(next((n["live_sessions"] for n in json.load(sys.stdin)["items"] if n["id"] == sys.argv[1]), 0))' "$1" 2>/dev/null || echo 0
}

# The victim: the second gateway, once it runs at least 20 sessions.
for _ in $(seq 600); do
    [ "$(live gw-2)" -ge 20 ] && break
    sleep 0.1
done
victim_live="$(live gw-2)"
kill -KILL "${gw_pids[1]}"
echo "cluster-test: gw-2 killed (SIGKILL) running $victim_live sessions"

# Then the third is drained (from the first: any node takes the request) once it runs 20
# sessions: it hands them over (4000: their clients reconnect through nginx) and exits.
for _ in $(seq 600); do
    [ "$(live gw-3)" -ge 20 ] && break
    sleep 0.1
done
drained_live="$(live gw-3)"
status="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $VIVA_ADMIN_TOKEN" \
    "http://${gw_addrs[0]}/v1/admin/nodes/gw-3/drain")"
echo "cluster-test: gw-3 drained (HTTP $status) running $drained_live sessions"
[ "$status" = 202 ] || [ "$status" = 200 ] || { echo "cluster-test: FAIL the drain was refused: $status" >&2; exit 1; }

load_status=0
wait "$load_pid" || load_status=$?
load_pid=""
cat "$dir/load.out"
if [ "$load_status" -ne 0 ]; then
    echo "cluster-test: FAIL viva-load exited $load_status" >&2
    tail -20 "$dir/load.err" >&2
    exit 1
fi

python3 scripts/lib/check_summary.py cluster-test "$dir/summary.json" "$sessions" --nodes 3

# The drained node exited by itself, and said it stopped cleanly (its last words: another
# task's line may be written after the "stopped" line, so not the log's last line), without a
# panic after the drain began.
for _ in $(seq 300); do
    kill -0 "${gw_pids[2]}" 2>/dev/null || break
    sleep 0.1
done
after_drain="$(sed -n '/draining/,$p' "$dir/cluster/gw-3.log")"
if kill -0 "${gw_pids[2]}" 2>/dev/null || ! grep -q 'viva_gateway: stopped' <<<"$after_drain" \
    || grep -q panicked <<<"$after_drain"; then
    echo "cluster-test: FAIL the drained gateway did not exit cleanly:" >&2
    tail -5 "$dir/cluster/gw-3.log" >&2
    exit 1
fi
echo "cluster-test: gw-3 handed its sessions over and exited"

audit="$(python3 scripts/lib/audit_logs.py "${redis_nodes[@]}")" || { echo "cluster-test: FAIL audit: $audit" >&2; exit 1; }
echo "cluster-test: audit of the stored logs: $audit"
echo "cluster-test: passed in $((SECONDS - started)) s"
