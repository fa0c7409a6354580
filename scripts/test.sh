#!/usr/bin/env bash
# Everything that checks Viva, from a fresh machine: formatting, lints, every test.
# Installs what the checks need (skipped where it is already there). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

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
