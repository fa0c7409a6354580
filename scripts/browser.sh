#!/usr/bin/env bash
# Browser tests of the web console: builds the gateway, starts it on a free port (dev auth,
# memory store, the scripted interviewer slow enough that streaming can be seen and
# interrupted), and runs gateway/tests/browser (node --test, playwright-core driving the
# system's Chromium) against it. Screenshots go to target/browser-artifacts/. Installs
# Chromium (Debian package) and the npm dependencies when they are missing. Run from anywhere;
# scripts/test.sh calls it.
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

if [ ! -d gateway/tests/browser/node_modules ]; then
    (cd gateway/tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo build --locked -p viva-gateway
gateway="${CARGO_TARGET_DIR:-target}/debug/viva-gateway"
artifacts="${CARGO_TARGET_DIR:-$PWD/target}/browser-artifacts"
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png

tmp="$(mktemp -d)"
gw_pid=""
cleanup() {
    if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
        kill -TERM "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_log() {
    echo "--- gateway stderr (last 40 lines) ---" >&2
    tail -n 40 "$tmp/stderr" >&2 || true
}

# 50 ms a word: a question takes a couple of seconds to speak, long enough to click
# "Interrupt" in the middle of it; a whole interview still takes well under a minute.
"$gateway" --listen 127.0.0.1:0 --auth dev --store memory --scripted-pace-ms "${VIVA_BROWSER_PACE_MS:-50}" \
    >"$tmp/stdout" 2>"$tmp/stderr" &
gw_pid=$!

# First stdout line: "viva-gateway listening on http://ADDR ...". Wait for it, 30 s at most.
base=""
for _ in $(seq 300); do
    line="$(head -n 1 "$tmp/stdout")"
    if [[ "$line" =~ listening\ on\ (http://[^ ]+) ]]; then
        base="${BASH_REMATCH[1]}"
        break
    fi
    if ! kill -0 "$gw_pid" 2>/dev/null; then
        echo "browser: the gateway exited before listening" >&2
        show_log
        exit 1
    fi
    sleep 0.1
done
if [ -z "$base" ]; then
    echo "browser: no 'listening on' line from the gateway within 30 s" >&2
    show_log
    exit 1
fi
for _ in $(seq 300); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null || { echo "browser: $base/healthz does not answer" >&2; show_log; exit 1; }
echo "browser: gateway at $base (pid $gw_pid); console at $base/"

status=0
(cd gateway/tests/browser && VIVA_URL="$base" VIVA_ARTIFACTS="$artifacts" VIVA_CHROMIUM="$chromium" \
    timeout 600 node --test --test-concurrency=3) || status=$?

if [ "$status" -ne 0 ]; then
    show_log
fi
echo "browser: screenshots in $artifacts"
echo "browser: $( [ "$status" -eq 0 ] && echo passed || echo FAILED ) in $((SECONDS - started)) s"
exit "$status"
