#!/usr/bin/env bash
# Protocol conformance: builds the gateway, starts it on a free port with the scripted
# interviewer at pace 0, runs conformance/client.py (written from docs/protocol.md only)
# against it, then stops it with SIGTERM and checks that it exits 0. Run from anywhere;
# scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import websockets, msgpack, jsonschema' 2>/dev/null ||
    python3 -m pip install --quiet websockets msgpack jsonschema

# shellcheck source=lib/gateway.sh
. scripts/lib/gateway.sh
start_gateway conformance --scripted-pace-ms 0

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
    show_gateway_log
    exit 1
fi
gw_status=0
wait "$gw_pid" || gw_status=$?
gw_pid=""
if [ "$gw_status" -ne 0 ]; then
    echo "conformance: FAIL the gateway exited with status $gw_status after SIGTERM (expected 0)" >&2
    show_gateway_log
    exit 1
fi
echo "conformance: gateway stopped by SIGTERM, exit status 0"

if [ "$status" -ne 0 ]; then
    show_gateway_log
    exit "$status"
fi
