#!/usr/bin/env bash
# Checks of the web console that need no browser: `tsc` over its modules' JSDoc types
# (gateway/console/jsconfig.json: strict, DOM types; any type error fails the run), then the
# reducer's tables (gateway/tests/console, node --test). Installs the pinned TypeScript with
# `npm ci` when it is missing or the lockfile changed. Run from anywhere; scripts/test.sh
# calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

checks=gateway/tests/console
# npm ci again only when the lockfile differs from the one installed last time.
if ! cmp -s "$checks/package-lock.json" "$checks/node_modules/.viva-installed-lock.json"; then
    (cd "$checks" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$checks/package-lock.json" "$checks/node_modules/.viva-installed-lock.json"
fi

echo "console: tsc --noEmit (checkJs, strict) over gateway/console/*.js"
"$checks/node_modules/.bin/tsc" --noEmit --checkJs -p gateway/console/jsconfig.json

echo "console: reducer tables (node --test)"
(cd "$checks" && node --test)

echo "console: passed in $((SECONDS - started)) s"
