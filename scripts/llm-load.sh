#!/usr/bin/env bash
# The LLM path under load: answer -> first turn.delta with `--interviewer llm` (and, by
# default, `--scorer llm`), many interviews at once, against `viva-load provider` (a local
# OpenAI-format server: 300 ms to the first token, 1.5 s turns, JSON scores after 1.2 s).
#
# Builds the release binaries, starts the provider on 127.0.0.1:8091 and the gateway on
# 127.0.0.1:8080, replays the shipped recordings against the gateway, prints first_delta's
# p50/p90/p99/max, saves the gateway's viva_llm* metrics, and stops both servers.
#
#   SESSIONS=600 CONCURRENCY=300 scripts/llm-load.sh
#
# Settings (environment):
#   SESSIONS (600), CONCURRENCY (300), SPEED (1)   the replay
#   SCORER (llm)                                   the gateway's --scorer: llm or heuristic
#   OUT (/tmp/llm-load.json)                       the replay's summary; next to it:
#                                                  <OUT>.metrics.txt, <OUT>.gateway.log,
#                                                  <OUT>.provider.log (".json" dropped)
#   SESSION_TIMEOUT_S (600)                        seconds one session may take (LLM turns
#                                                  queue behind the gateway's LLM permits)
#   GATEWAY_ARGS, PROVIDER_ARGS, REPLAY_ARGS       more flags, e.g.
#                                                  GATEWAY_ARGS="--llm-max-concurrency 512"
#                                                  PROVIDER_ARGS="--turn-ms 3000"
#                                                  REPLAY_ARGS="--ramp-per-s 20"
# Exits with the replay's status (0 when every session completed cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-600}
CONCURRENCY=${CONCURRENCY:-300}
SPEED=${SPEED:-1}
SCORER=${SCORER:-llm}
OUT=${OUT:-/tmp/llm-load.json}
SESSION_TIMEOUT_S=${SESSION_TIMEOUT_S:-600}
GATEWAY_ARGS=${GATEWAY_ARGS:-}
PROVIDER_ARGS=${PROVIDER_ARGS:-}
REPLAY_ARGS=${REPLAY_ARGS:-}

provider=127.0.0.1:8091
gateway=127.0.0.1:8080
bin=${CARGO_TARGET_DIR:-target}/release
base=${OUT%.json}

command -v jq >/dev/null || { echo "llm-load: needs jq" >&2; exit 2; }
name=llm-load
# shellcheck source=lib/load.sh
. scripts/lib/load.sh
ports_free "$provider" "$gateway"
build_and_lift_limits

start_provider

# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of flags
"$bin/viva-gateway" --listen $gateway --interviewer llm --scorer "$SCORER" \
    --llm-base-url "http://$provider" --llm-model paced --scripted-pace-ms 0 $GATEWAY_ARGS \
    >"$base.gateway.log" 2>&1 &
pids+=($!)
wait_for "http://$gateway/healthz" "${pids[-1]}" "$base.gateway.log"
echo "llm-load: gateway on $gateway (--interviewer llm --scorer $SCORER${GATEWAY_ARGS:+ $GATEWAY_ARGS})"

rm -f "$OUT"
status=0
# shellcheck disable=SC2086
TIMEFORMAT='llm-load: viva-load replay: %R s, CPU time %U s user + %S s system'
time "$bin/viva-load" replay --url "ws://$gateway" --recordings load-tests/recordings \
    --sessions "$SESSIONS" --concurrency "$CONCURRENCY" --speed "$SPEED" \
    --session-timeout-s "$SESSION_TIMEOUT_S" --json "$OUT" $REPLAY_ARGS || status=$?

curl -fsS "http://$gateway/metrics" | grep '^viva_llm' >"$base.metrics.txt" || true
# Where the two cores went: CPU seconds of each process over the run.
echo "llm-load: CPU time (user+system): provider $(cpu_seconds "${pids[0]}") s, gateway $(cpu_seconds "${pids[1]}") s"
stop_servers
tail -n 1 "$base.provider.log"

if [ -f "$OUT" ]; then
    jq -r '.latency_ms.first_delta
        | "first_delta (answer -> first turn.delta), ms: p50 \(.p50)  p90 \(.p90)  p99 \(.p99)  max \(.max)  (\(.count) samples)"' "$OUT"
fi
echo "llm-load: summary $OUT, gateway metrics $base.metrics.txt ($(wc -l <"$base.metrics.txt") viva_llm lines), logs $base.{gateway,provider}.log"
exit "$status"
