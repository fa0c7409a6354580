#!/usr/bin/env bash
# The same recordings replayed at recorded speed against the gateway and then against the
# baseline-server (a bare tokio-tungstenite server: the yardstick), in the same conditions:
# SESSIONS live at once, ramped up. Prints each run's summary, the ratio of their p99 answer ->
# first `turn.delta`, and the gateway's CPU and peak resident memory. docs/performance.md
# "10,000 and 19,000 live sessions against the baseline".
#
#   scripts/replay-vs-baseline.sh                   10,000 sessions
#   SESSIONS=19000 scripts/replay-vs-baseline.sh    the most one process holds here
#
# Settings (environment):
#   SESSIONS (10000)   sessions, all live at once
#   RAMP_PER_S (400)   sessions started per second
#   OUT (/tmp/replay-vs-baseline)  prefix of the logs and JSON reports
#   GATEWAY_ARGS       more flags for the gateway (default: in-memory store)
# Exits non-zero when a run fails or has violations.
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-10000}
RAMP_PER_S=${RAMP_PER_S:-400}
OUT=${OUT:-/tmp/replay-vs-baseline}
GATEWAY_ARGS=${GATEWAY_ARGS:-}

gateway=127.0.0.1:18080
baseline=127.0.0.1:18090
bin=${CARGO_TARGET_DIR:-target}/release
base=$OUT

name=replay-vs-baseline
# shellcheck source=lib/load.sh
. scripts/lib/load.sh
ports_free "$gateway" "$baseline"
build_and_lift_limits

# CPU seconds (user + system) a process has used.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Replays the recordings against $1 (a ws:// URL), report in $2.
replay() {
    "$bin/viva-load" replay --url "$1" --recordings load-tests/recordings --sessions "$SESSIONS" \
        --concurrency "$SESSIONS" --speed 1 --ramp-per-s "$RAMP_PER_S" --json "$2"
}

# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of flags
"$bin/viva-gateway" --listen $gateway --scripted-pace-ms 0 --max-live-per-user 0 --log warn $GATEWAY_ARGS \
    >"$base.gateway.log" 2>&1 &
pids+=($!)
gateway_pid=$!
wait_for "http://$gateway/healthz" "$gateway_pid" "$base.gateway.log"
echo "$name: gateway on $gateway; replaying $SESSIONS sessions"
before=$(cpu_s "$gateway_pid")
replay "ws://$gateway" "$base.gateway.json" | tee "$base.gateway.txt"
echo "gateway CPU over the run: $(awk -v a="$before" -v b="$(cpu_s "$gateway_pid")" 'BEGIN { printf "%.1f", b - a }') s;" \
    "peak resident $(awk '/VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$gateway_pid/status")"
stop_servers

"$bin/viva-load" baseline-server --listen $baseline >"$base.baseline.log" 2>&1 &
pids+=($!)
baseline_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://$baseline/" && break; sleep 0.1; done
echo "$name: baseline-server on $baseline; replaying $SESSIONS sessions"
before=$(cpu_s "$baseline_pid")
replay "ws://$baseline" "$base.baseline.json" | tee "$base.baseline.txt"
echo "baseline-server CPU over the run: $(awk -v a="$before" -v b="$(cpu_s "$baseline_pid")" 'BEGIN { printf "%.1f", b - a }') s"
stop_servers

p99() { awk '$1 == "first_delta" { print $5 }' "$1"; }
echo "p99 answer -> first turn.delta: gateway $(p99 "$base.gateway.txt") ms, baseline-server $(p99 "$base.baseline.txt") ms," \
    "ratio $(awk -v g="$(p99 "$base.gateway.txt")" -v b="$(p99 "$base.baseline.txt")" 'BEGIN { printf "%.2f", g / b }')"
