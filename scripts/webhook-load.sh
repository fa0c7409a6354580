#!/usr/bin/env bash
# Webhook delivery latency under load: from a `report.ready` (or `session.ended`) being
# recorded to the receiver having it, many interviews at once, on a real redis-server.
#
# Builds the release binaries, starts redis-server, scripts/webhook-receiver.py (which
# verifies every signature with the `standardwebhooks` package and logs each request's latency
# from the event's timestamp), the gateway with --webhook-url pointing at it, replays the
# shipped recordings, and prints p50/p99/max of the latency per event type.
#
#   SESSIONS=1000 CONCURRENCY=200 scripts/webhook-load.sh
#
# Settings (environment): SESSIONS (1000), CONCURRENCY (200), SPEED (10: the recordings'
# pauses divided by it), OUT (/tmp/webhook-load.json: the replay's summary; the receiver's
# lines in <OUT>.receiver.jsonl, logs beside), GATEWAY_ARGS, REPLAY_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-1000}
CONCURRENCY=${CONCURRENCY:-200}
SPEED=${SPEED:-10}
OUT=${OUT:-/tmp/webhook-load.json}
GATEWAY_ARGS=${GATEWAY_ARGS:-}
REPLAY_ARGS=${REPLAY_ARGS:-}
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

gateway=127.0.0.1:8080
bin=${CARGO_TARGET_DIR:-target}/release
base=${OUT%.json}

command -v jq >/dev/null || { echo "webhook-load: needs jq" >&2; exit 2; }
python3 -c 'import standardwebhooks' 2>/dev/null || python3 -m pip install --quiet standardwebhooks
name=webhook-load
# shellcheck source=lib/load.sh
. scripts/lib/load.sh
ports_free "$gateway"
build_and_lift_limits

redis_dir=$(mktemp -d)
redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
    --dir "$redis_dir" >"$base.redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

python3 -u scripts/webhook-receiver.py --secret "$SECRET" >"$base.receiver.jsonl" 2>"$base.receiver.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$base.receiver.jsonl" ] && break; sleep 0.1; done
hook=$(head -n 1 "$base.receiver.jsonl" | sed 's/^listening on //')

# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of flags
"$bin/viva-gateway" --listen $gateway --store "redis://127.0.0.1:$redis_port/0" --scripted-pace-ms 0 \
    --webhook-url "$hook" --webhook-secret "$SECRET" $GATEWAY_ARGS >"$base.gateway.log" 2>&1 &
pids+=($!)
wait_for "http://$gateway/healthz" "${pids[-1]}" "$base.gateway.log"
echo "webhook-load: gateway on $gateway, webhooks to $hook, redis on $redis_port"

rm -f "$OUT"
status=0
# shellcheck disable=SC2086
"$bin/viva-load" replay --url "ws://$gateway" --recordings load-tests/recordings \
    --sessions "$SESSIONS" --concurrency "$CONCURRENCY" --speed "$SPEED" --json "$OUT" $REPLAY_ARGS || status=$?

# Every message delivered (the outbox empty), 60 s at most.
for _ in $(seq 600); do
    pending=$(curl -fsS "http://$gateway/metrics" | awk '/^viva_webhook_outbox_pending/ { print $2 }')
    [ "${pending:-1}" = "0" ] && break
    sleep 0.1
done
echo "webhook-load: CPU time (user+system): gateway $(cpu_seconds "${pids[2]}") s, receiver $(cpu_seconds "${pids[1]}") s"
stop_servers
rm -rf "$redis_dir"

tail -n +2 "$base.receiver.jsonl" | jq -rs '
    def pct(p): sort | .[((length - 1) * p | floor)];
    group_by(.type)[] | . as $all | map(select(.status == 204) | .latency_ms) as $ms
    | "\($all[0].type): \($ms | length) delivered of \($all | length) requests, \($all | map(select(.verified | not)) | length) unverified;"
      + " recorded -> received, ms: p50 \($ms | pct(0.5))  p99 \($ms | pct(0.99))  max \($ms | max)"'
echo "webhook-load: summary $OUT, receiver lines $base.receiver.jsonl, logs $base.{gateway,receiver,redis}.log"
exit "$status"
