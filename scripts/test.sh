#!/usr/bin/env bash
# Everything that checks Viva, from a fresh machine: formatting, lints, every test.
# Installs what the checks need (skipped where it is already there). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Tests that need Redis start their own redis-server (viva-testkit); install it once.
if ! command -v redis-server >/dev/null 2>&1; then
    step "installing redis-server (Debian package)"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

if [ -f scripts/conformance.sh ]; then
    step "protocol conformance: an independent Python client against the gateway binary"
    scripts/conformance.sh
fi
