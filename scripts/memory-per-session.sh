#!/usr/bin/env bash
# Resident memory per idle live session: a release gateway (on a fresh redis-server, or the
# in-memory store with STORE=memory), `viva-load hold` opening SESSIONS sessions that start
# and wait for an answer, the gateway's resident memory read from /proc before and while
# holding them. docs/performance.md "Memory per idle session".
#
#   scripts/memory-per-session.sh
#   SESSIONS=18000 STORE=memory scripts/memory-per-session.sh
#
# Settings (environment):
#   SESSIONS (10000)   sessions held at once (one process holds at most ~19,000 sockets here)
#   STORE (redis)      redis: a fresh redis-server on a free port; memory: the in-memory store
#   DURATION_S (20)    seconds to hold them
#   OUT (/tmp/memory-per-session)  prefix of the logs
#   GATEWAY_ARGS       more flags for the gateway
# Exits with viva-load's status (0 when every session was opened and held).
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-10000}
STORE=${STORE:-redis}
DURATION_S=${DURATION_S:-20}
OUT=${OUT:-/tmp/memory-per-session}
GATEWAY_ARGS=${GATEWAY_ARGS:-}

gateway=127.0.0.1:8080
bin=${CARGO_TARGET_DIR:-target}/release
base=$OUT

name=memory-per-session
# shellcheck source=lib/load.sh
. scripts/lib/load.sh
ports_free "$gateway"
build_and_lift_limits

store=memory
if [ "$STORE" = redis ]; then
    command -v redis-server >/dev/null || { echo "$name: needs redis-server" >&2; exit 2; }
    redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$base.redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    store="redis://127.0.0.1:$redis_port/0"
fi

# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of flags
"$bin/viva-gateway" --listen $gateway --store "$store" --max-live-per-user 0 --log warn $GATEWAY_ARGS \
    >"$base.gateway.log" 2>&1 &
pids+=($!)
wait_for "http://$gateway/healthz" "${pids[-1]}" "$base.gateway.log"
echo "$name: gateway on $gateway, store $store"

"$bin/viva-load" hold --url "http://$gateway" --sessions "$SESSIONS" --duration-s "$DURATION_S" \
    --gateway-pid "${pids[-1]}"
