#!/usr/bin/env bash
# Coverage-guided fuzzing, bounded: builds the targets in fuzz/ (cargo fuzz, libFuzzer, on the
# nightly toolchain) and runs each for VIVA_FUZZ_SECONDS (default 20) from its committed seed
# corpus. New inputs go to a scratch directory, never into the repository; a crash leaves its
# input in fuzz/artifacts/<target>/ and fails the run. Installs cargo-fuzz when it is missing;
# without a nightly toolchain it says so and skips (it never fails the suite for that).
# Long runs and their figures: docs/fuzzing.md. scripts/test.sh calls this.
#
#   scripts/fuzz.sh [TARGET...]      (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
seconds="${VIVA_FUZZ_SECONDS:-20}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: SKIPPED: no nightly toolchain here (rustup toolchain install nightly to run it)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi

cd fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)

# Safe Rust (the workspace forbids `unsafe`): what the fuzzer looks for is panics, overflows
# (debug assertions are on), allocations out of bounds and slow inputs, which need no
# sanitizer; AddressSanitizer would double the build and halve the executions. The long runs
# in docs/fuzzing.md use it.
build=(--sanitizer none --debug-assertions --release)
cargo +nightly fuzz build "${build[@]}"

# Per target: the heuristic scorer sees answers up to the protocol's 64 KiB, and an input that
# takes more than 5 s to score is a finding (a normal one takes milliseconds).
declare -A extra=([heuristic_score]="-max_len=65536 -timeout=5")

status=0
for target in "${targets[@]}"; do
    scratch="$(mktemp -d)"
    mkdir -p "corpus/$target" "artifacts/$target"
    # -timeout: one input may take 10 s (a slow input is a finding); -rss_limit_mb: 2 GiB.
    if ! cargo +nightly fuzz run "${build[@]}" "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 ${extra[$target]:-} \
        >"$scratch.log" 2>&1; then
        status=1
        echo "fuzz: $target FAILED; the end of its log:"
        tail -n 60 "$scratch.log"
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch.log" | grep -o '[0-9]*$' || echo '?')"
    cov="$(grep -o 'cov: [0-9]*' "$scratch.log" | tail -n 1 || true)"
    echo "fuzz: $target: $runs executions in ${seconds} s, ${cov:-cov: ?}"
    rm -rf "$scratch" "$scratch.log"
done
echo "fuzz: $( [ "$status" -eq 0 ] && echo passed || echo FAILED ) in $((SECONDS - started)) s"
exit "$status"
