#!/usr/bin/env bash
# Checks of the TypeScript client and the web console that need no gateway and no browser:
# the client's protocol.d.ts against protocol/schema/ (regenerated in memory: any difference
# fails), `tsc` over the client's and the console's JSDoc types (strict; any type error
# fails), then the reducer's tables (clients/typescript/test/model.test.mjs, node --test).
# Installs the client's pinned npm packages (TypeScript among them) with `npm ci` when they
# are missing or the lockfile changed. Run from anywhere; scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

client=clients/typescript
# shellcheck source=lib/npm.sh
. scripts/lib/npm.sh
npm_ci "$client"

echo "console: the client's protocol.d.ts regenerated from protocol/schema/ (no difference allowed)"
node "$client/scripts/generate.mjs" --check

echo "console: tsc --noEmit (checkJs, strict) over clients/typescript/src and gateway/console"
"$client/node_modules/.bin/tsc" -p "$client/jsconfig.json"
"$client/node_modules/.bin/tsc" -p gateway/console/jsconfig.json

echo "console: reducer tables (node --test)"
(cd "$client" && node --test test/model.test.mjs)

echo "console: passed in $((SECONDS - started)) s"
