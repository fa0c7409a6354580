#!/usr/bin/env bash
# The TypeScript client (clients/typescript) against the gateway binary: builds it, starts it
# on a free port with the scripted interviewer at pace 0, and runs the client's node tests
# (test/gateway.test.mjs: interviews to the report over JSON and MessagePack, resume after a
# dropped socket, an answer re-sent with the same id, the stop on 4009) and its README's
# example, exactly as written (test/readme.test.mjs). Installs the client's pinned npm packages
# when the lockfile changed. Run from anywhere; scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

client=clients/typescript
# shellcheck source=lib/npm.sh
. scripts/lib/npm.sh
npm_ci "$client"

# shellcheck source=lib/gateway.sh
. scripts/lib/gateway.sh
start_gateway typescript-client --scripted-pace-ms 0

status=0
(cd "$client" && VIVA_URL="$base" timeout 300 node --test test/gateway.test.mjs test/readme.test.mjs) || status=$?
[ "$status" -eq 0 ] || show_gateway_log
echo "typescript-client: $( [ "$status" -eq 0 ] && echo passed || echo FAILED ) in $((SECONDS - started)) s"
exit "$status"
