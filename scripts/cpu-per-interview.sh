#!/usr/bin/env bash
# The gateway's CPU per whole scripted interview, measured from outside: a release gateway
# (in-memory store unless STORE is set, scripted interviewer answering at once), viva-load
# replaying the shipped recordings, and the gateway's user + system CPU time (/proc) over the
# replay alone, divided by the interviews. Gateway and viva-load share the machine's cores,
# so the figure moves with other load: run it twice, and see scripts/callgrind.sh for the
# deterministic count of the core's part.
#
#   scripts/cpu-per-interview.sh
#   SESSIONS=5000 CONCURRENCY=200 STORE=redis://127.0.0.1:6379/0 scripts/cpu-per-interview.sh
#
# Settings (environment):
#   SESSIONS (5000), CONCURRENCY (200), SPEED (40), ENCODING (json)   the replay
#   STORE (memory)                     the gateway's --store
#   OUT (/tmp/cpu-per-interview.json)  the replay's summary; the gateway's log beside it
#   GATEWAY_ARGS, REPLAY_ARGS          more flags
#   PERF (unset)                       a file: record the gateway's profile there
#                                      (perf record -g) during the replay
# Exits with the replay's status (0 when every session completed cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-5000}
CONCURRENCY=${CONCURRENCY:-200}
SPEED=${SPEED:-40}
ENCODING=${ENCODING:-json}
STORE=${STORE:-memory}
OUT=${OUT:-/tmp/cpu-per-interview.json}
GATEWAY_ARGS=${GATEWAY_ARGS:-}
REPLAY_ARGS=${REPLAY_ARGS:-}
PERF=${PERF:-}

gateway=127.0.0.1:8080
bin=${CARGO_TARGET_DIR:-target}/release
base=${OUT%.json}

command -v jq >/dev/null || { echo "cpu-per-interview: needs jq" >&2; exit 2; }
name=cpu-per-interview
# shellcheck source=lib/load.sh
. scripts/lib/load.sh
ports_free "$gateway"
build_and_lift_limits

# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of flags
"$bin/viva-gateway" --listen $gateway --store "$STORE" --scripted-pace-ms 0 --max-live-per-user 0 \
    --log warn $GATEWAY_ARGS >"$base.gateway.log" 2>&1 &
pids+=($!)
gateway_pid=${pids[-1]}
wait_for "http://$gateway/healthz" "$gateway_pid" "$base.gateway.log"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
if [ -n "$PERF" ]; then
    perf record -e cpu-clock ${PERF_CALL_GRAPH:--g} -o "$PERF" -p "$gateway_pid" 2>/dev/null &
    perf_pid=$!
fi
before=$(ticks "$gateway_pid")
status=0
# shellcheck disable=SC2086 # REPLAY_ARGS is a list of flags
"$bin/viva-load" replay --url "ws://$gateway" --recordings load-tests/recordings \
    --sessions "$SESSIONS" --concurrency "$CONCURRENCY" --speed "$SPEED" --encoding "$ENCODING" \
    --json "$OUT" $REPLAY_ARGS || status=$?
after=$(ticks "$gateway_pid")
if [ -n "$PERF" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
fi

completed=$(jq '.sessions.completed' "$OUT" 2>/dev/null || true)
awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$SESSIONS" -v c="${completed:-?}" 'BEGIN {
    printf "cpu-per-interview: gateway CPU %.2f s for %d interviews (%s completed): %.3f ms per interview\n",
        t / hz, n, c, 1000 * t / hz / n }'
exit "$status"
