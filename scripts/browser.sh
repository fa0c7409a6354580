#!/usr/bin/env bash
# Browser tests of the web console: builds the gateway, starts it on a free port (dev auth,
# memory store, the scripted interviewer slow enough that streaming can be seen and
# interrupted), and runs gateway/tests/browser (node --test, playwright-core driving the
# system's Chromium, axe-core checking every view's accessibility) against it. Screenshots go
# to target/browser-artifacts/. Installs Chromium (Debian package) when it is missing and the
# npm dependencies when the lockfile changed. Run from anywhere; scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

chromium="${VIVA_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
    echo "browser: installing chromium (Debian package)"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

tests=gateway/tests/browser
# shellcheck source=lib/npm.sh
. scripts/lib/npm.sh
npm_ci "$tests"

artifacts="${CARGO_TARGET_DIR:-$PWD/target}/browser-artifacts"
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png

# Voice (voice.test.mjs): offline speech when espeak-ng and pocketsphinx are here (scripts/test.sh
# installs them), pocketsphinx restricted to the words of the sentence the test's fake
# microphone says. Voice is opt-in per session: text sessions are the same either way. Without
# the programs the voice test skips (and fails in CI).
voice_sentence="${VIVA_VOICE_SENTENCE:-I would use a cache with a time to live}"
voice_args=()
voice=0
if command -v espeak-ng >/dev/null 2>&1 && command -v pocketsphinx_continuous >/dev/null 2>&1 \
    && [ -d /usr/share/pocketsphinx/model/en-us ]; then
    voice_args=(--stt pocketsphinx --stt-grammar "$voice_sentence" --tts espeak-ng)
    voice=1
else
    echo "browser: espeak-ng or pocketsphinx missing: the gateway starts without voice"
fi

# shellcheck source=lib/gateway.sh
. scripts/lib/gateway.sh
# 50 ms a word: a question takes a couple of seconds to speak, long enough to click
# "Interrupt" in the middle of it; a whole interview still takes well under a minute.
# Minutes metered (every test's user is credited through the admin API first; the minutes
# test gets a few seconds), in 2 s slices so that the end is settled to the second.
admin_token="browser-admin-token-$RANDOM$RANDOM"
start_gateway browser --auth dev --store memory --scripted-pace-ms "${VIVA_BROWSER_PACE_MS:-50}" "${voice_args[@]}" \
    --metering minutes --metering-slice-s 2 --admin-token "$admin_token"
for _ in $(seq 300); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null || { echo "browser: $base/healthz does not answer" >&2; show_gateway_log; exit 1; }
echo "browser: gateway at $base (pid $gw_pid); console at $base/"

status=0
gateway_bin="$(realpath "${CARGO_TARGET_DIR:-target}/debug/viva-gateway")"
(cd "$tests" && VIVA_URL="$base" VIVA_ARTIFACTS="$artifacts" VIVA_CHROMIUM="$chromium" VIVA_ADMIN_TOKEN="$admin_token" \
    VIVA_GATEWAY="$gateway_bin" \
    VIVA_VOICE="$voice" VIVA_VOICE_SENTENCE="$voice_sentence" \
    timeout 600 node --test --test-concurrency=3) || status=$?

if [ "$status" -ne 0 ]; then
    show_gateway_log
fi
echo "browser: screenshots in $artifacts"
echo "browser: $( [ "$status" -eq 0 ] && echo passed || echo FAILED ) in $((SECONDS - started)) s"
exit "$status"
