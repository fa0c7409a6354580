#!/usr/bin/env bash
# The bytes every live session holds in its two tasks and its command queue, as the compiler
# lays them out (rustc's -Zprint-type-sizes, on the nightly toolchain, release profile): the
# deterministic part of "memory per idle session" (scripts/memory-per-session.sh measures the
# whole, with the allocator's share). A task's allocation is tokio's cell: header, future,
# trailer, padded to 128 bytes. docs/performance.md "An idle session in under 8 KiB".
#
#   scripts/task-sizes.sh
#
# Builds into target/type-sizes (its own directory: the flag changes every crate's hash).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v rustup >/dev/null && rustup toolchain list | grep -q nightly \
    || { echo "task-sizes: needs the nightly toolchain" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}/type-sizes
for crate in viva-engine viva-gateway; do
    # Forces the crate itself to be compiled again (its layout is printed while compiling it).
    touch "$(cargo metadata --no-deps --format-version 1 \
        | jq -r --arg c "$crate" '.packages[] | select(.name == $c) | .targets[] | select(.kind[0] == "lib") | .src_path')"
    cargo +nightly rustc -q -p "$crate" --lib --release -- -Zprint-type-sizes >"$out/$crate.txt"
done

# The first line of the layout of type `$2` in crate `$1`'s output: its size.
size() {
    grep -F "print-type-size type: \`$2" "$out/$1.txt" | head -1 | sed -E 's/.*`: ([0-9]+) bytes.*/\1/'
}
cell='tokio::runtime::task::core::Cell<'
printf '%-44s %6s B\n' \
    "session task (cell)" "$(size viva-engine "$cell{async block@engine/src/runtime/actor.rs")" \
    "  its future" "$(size viva-engine '{async block@engine/src/runtime/actor.rs')" \
    "  the session core (core::Session)" "$(size viva-engine 'core::Session`')" \
    "socket task (cell)" "$(size viva-gateway "${cell}tokio_util::task::task_tracker::TrackedFuture<{async block@gateway/src/ws/mod.rs")" \
    "  its future" "$(size viva-gateway '{async block@gateway/src/ws/mod.rs')" \
    "command queue (shared part)" "$(size viva-engine 'alloc::sync::ArcInner<runtime::queue::Shared<runtime::command::Command>>')"
