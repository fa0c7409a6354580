#!/usr/bin/env bash
# Measures how long a dead node's unattended sessions wait for another node to take them over
# (docs/scale-out.md, "Figures"): scripts/cluster.sh (3 gateways on their defaults: 15 s
# leases), `viva-load hold` opens SESSIONS sessions through nginx and starts them, then is
# killed (the sessions run on, nobody connected), then the second gateway is SIGKILLed; the
# survivors' logs say when each of its sessions was taken over. A measurement, not a test.
#
#   SESSIONS=600 scripts/cluster-takeover.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${SESSIONS:-600}

# shellcheck source=lib/cluster.sh
. scripts/lib/cluster.sh
hold_pid=""
on_exit='[ -z "$hold_pid" ] || kill -KILL "$hold_pid" 2>/dev/null'
start_cluster takeover -- --max-live-per-user 0
nodes() {
    curl -fs -H "Authorization: Bearer $VIVA_ADMIN_TOKEN" "http://${gw_addrs[0]}/v1/admin/nodes" |
        python3 -c "import json, sys; print(json.dumps({n['id']: n['live_sessions'] for n in json.load(sys.stdin)['items']}))"
}

"$bin/viva-load" hold --url "$VIVA_URL" --sessions "$sessions" --duration-s 3600 >"$dir/hold.out" 2>&1 &
hold_pid=$!
# Every session open and counted by the registry (its heartbeat is every 5 s).
for _ in $(seq 1200); do
    total="$(nodes | python3 -c 'import json, sys; print(sum(json.load(sys.stdin).values()))' 2>/dev/null || echo 0)"
    [ "$total" -ge "$sessions" ] && break
    sleep 0.5
done
sleep 6
echo "takeover: sessions by node: $(nodes)"
kill -KILL "$hold_pid"
hold_pid=""
sleep 2
killed_at="$(date +%s.%N)"
kill -KILL "${gw_pids[1]}"
echo "takeover: gw-2 killed (SIGKILL); waiting 45 s"
sleep 45
python3 - "$killed_at" "$dir/cluster/gw-1.log" "$dir/cluster/gw-3.log" <<'EOF'
import datetime, sys
killed_at, delays = float(sys.argv[1]), []
for path in sys.argv[2:]:
    for line in open(path):
        if "taken over here" in line:
            at = datetime.datetime.strptime(line[:26], "%Y-%m-%dT%H:%M:%S.%f")
            delays.append(at.replace(tzinfo=datetime.timezone.utc).timestamp() - killed_at)
delays.sort()
if not delays:
    sys.exit("takeover: no session was taken over")
at = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))]
print(f"takeover: {len(delays)} sessions taken over; after the kill: min {delays[0]:.1f} s, "
      f"p50 {at(0.5):.1f} s, p99 {at(0.99):.1f} s, max {delays[-1]:.1f} s")
EOF
