#!/usr/bin/env bash
# Protocol conformance: builds the gateway, starts it on a free port with the scripted
# interviewer at pace 0, runs conformance/client.py (written from docs/protocol.md only)
# against it, then stops it with SIGTERM and checks that it exits 0. Run from anywhere;
# scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import websockets, msgpack' 2>/dev/null ||
    python3 -m pip install --quiet websockets msgpack

cargo build --locked -p viva-gateway
gateway="${CARGO_TARGET_DIR:-target}/debug/viva-gateway"

tmp="$(mktemp -d)"
gw_pid=""
cleanup() {
    if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
        kill -KILL "$gw_pid" 2>/dev/null || true
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

"$gateway" --listen 127.0.0.1:0 --scripted-pace-ms 0 >"$tmp/stdout" 2>"$tmp/stderr" &
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
        echo "conformance: the gateway exited before listening" >&2
        show_log
        exit 1
    fi
    sleep 0.1
done
if [ -z "$base" ]; then
    echo "conformance: no 'listening on' line from the gateway within 30 s" >&2
    show_log
    exit 1
fi
echo "conformance: gateway at $base (pid $gw_pid): $(head -n 1 "$tmp/stdout")"

status=0
timeout 120 python3 conformance/client.py --base "$base" || status=$?

# Graceful shutdown: SIGTERM, then the gateway must exit 0 (bounded wait: 30 s).
kill -TERM "$gw_pid"
for _ in $(seq 300); do
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$gw_pid" 2>/dev/null; then
    echo "conformance: FAIL the gateway did not exit within 30 s of SIGTERM" >&2
    show_log
    exit 1
fi
gw_status=0
wait "$gw_pid" || gw_status=$?
gw_pid=""
if [ "$gw_status" -ne 0 ]; then
    echo "conformance: FAIL the gateway exited with status $gw_status after SIGTERM (expected 0)" >&2
    show_log
    exit 1
fi
echo "conformance: gateway stopped by SIGTERM, exit status 0"

if [ "$status" -ne 0 ]; then
    show_log
    exit "$status"
fi
