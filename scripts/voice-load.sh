#!/usr/bin/env bash
# The voice path under load: spoken answers and spoken turns, many interviews at once, with
# `--stt openai --tts openai` against `viva-load provider` (a local OpenAI-format server:
# transcripts 300 ms after the request, speech audio 200 ms after it, 60 ms of audio a
# character). The scripted interviewer asks; the memory store keeps the sessions.
#
# Builds the release binaries, starts the provider on 127.0.0.1:8091 and the gateway on
# 127.0.0.1:8080, replays the shipped recordings with `viva-load replay --voice` (each prose
# answer spoken by espeak-ng in 20 ms frames at real pace), prints speech_end_to_answer and
# speech_end_to_audio (p50/p90/p99/max) and each process's CPU seconds, and stops both servers.
#
#   SESSIONS=40 CONCURRENCY=20 scripts/voice-load.sh
#
# Settings (environment):
#   SESSIONS (40), CONCURRENCY (20)                the replay (speech goes at real pace: a
#                                                  session takes minutes)
#   VOICE_MAX_CHARS (300)                          characters of an answer spoken at most
#   OUT (/tmp/voice-load.json)                     the replay's summary; next to it:
#                                                  <OUT>.metrics.txt, <OUT>.gateway.log,
#                                                  <OUT>.provider.log (".json" dropped)
#   SESSION_TIMEOUT_S (1200)                       seconds one session may take
#   GATEWAY_ARGS, PROVIDER_ARGS, REPLAY_ARGS       more flags, e.g.
#                                                  PROVIDER_ARGS="--stt-ms 800"
#                                                  REPLAY_ARGS="--ramp-per-s 2"
# Needs espeak-ng (apt-get install espeak-ng), curl and jq. Exits with the replay's status
# (0 when every session completed cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-40}
CONCURRENCY=${CONCURRENCY:-20}
VOICE_MAX_CHARS=${VOICE_MAX_CHARS:-300}
OUT=${OUT:-/tmp/voice-load.json}
SESSION_TIMEOUT_S=${SESSION_TIMEOUT_S:-1200}
GATEWAY_ARGS=${GATEWAY_ARGS:-}
PROVIDER_ARGS=${PROVIDER_ARGS:-}
REPLAY_ARGS=${REPLAY_ARGS:-}

provider=127.0.0.1:8091
gateway=127.0.0.1:8080
bin=${CARGO_TARGET_DIR:-target}/release
base=${OUT%.json}

command -v espeak-ng >/dev/null || {
    echo "voice-load: needs espeak-ng to speak the answers (apt-get install espeak-ng)" >&2
    exit 2
}
command -v jq >/dev/null || { echo "voice-load: needs jq" >&2; exit 2; }
name=voice-load
# shellcheck source=lib/load.sh
. scripts/lib/load.sh
ports_free "$provider" "$gateway"
build_and_lift_limits

start_provider

# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of flags
"$bin/viva-gateway" --listen $gateway --store memory --interviewer scripted --scripted-pace-ms 0 \
    --stt openai --stt-base-url "http://$provider" --tts openai --tts-base-url "http://$provider" \
    $GATEWAY_ARGS >"$base.gateway.log" 2>&1 &
pids+=($!)
wait_for "http://$gateway/healthz" "${pids[-1]}" "$base.gateway.log"
echo "voice-load: gateway on $gateway (--stt openai --tts openai${GATEWAY_ARGS:+ $GATEWAY_ARGS})"

rm -f "$OUT"
status=0
# shellcheck disable=SC2086
TIMEFORMAT='voice-load: viva-load replay: %R s, CPU time %U s user + %S s system'
time "$bin/viva-load" replay --url "ws://$gateway" --recordings load-tests/recordings --voice \
    --voice-max-chars "$VOICE_MAX_CHARS" --sessions "$SESSIONS" --concurrency "$CONCURRENCY" \
    --session-timeout-s "$SESSION_TIMEOUT_S" --json "$OUT" $REPLAY_ARGS || status=$?

curl -fsS "http://$gateway/metrics" | grep -E '^viva_(stt|tts|vad|voice)' >"$base.metrics.txt" || true
# Where the two cores went: CPU seconds of each process over the run.
echo "voice-load: CPU time (user+system): provider $(cpu_seconds "${pids[0]}") s, gateway $(cpu_seconds "${pids[1]}") s"
stop_servers
tail -n 2 "$base.provider.log"

if [ -f "$OUT" ]; then
    for metric in speech_end_to_answer speech_end_to_audio; do
        jq -r --arg m "$metric" '.latency_ms[$m]
            | "\($m), ms: p50 \(.p50)  p90 \(.p90)  p99 \(.p99)  max \(.max)  (\(.count) samples)"' "$OUT"
    done
    jq -r '.audio | "audio: \(.turn_audio_chunks) turn.audio chunks (\(.turn_audio_s) s) received, \(.speech_sent_s) s sent"' "$OUT"
fi
echo "voice-load: summary $OUT, gateway metrics $base.metrics.txt ($(wc -l <"$base.metrics.txt") lines), logs $base.{gateway,provider}.log"
exit "$status"
