#!/usr/bin/env bash
# The deterministic cost of one whole scripted interview (core, heuristic scorer, JSON codec),
# in instructions counted by valgrind's callgrind: comparable across machines and runs where
# timings are not. Builds engine/benches/instructions.rs (the bench profile: optimized), runs it
# once per shipped plan under callgrind collecting only inside its `measured` (the second
# interview of the process: the first builds what is built once), and prints the instructions
# per interview. Needs valgrind (Debian's `valgrind`).
#
#   scripts/callgrind.sh            every shipped plan, then each recording's answers
#                                   (load-tests/recordings: long prose and code)
#   scripts/callgrind.sh PLAN...    those plans
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "callgrind: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
bin="$(cargo bench -p viva-engine --bench instructions --no-run --message-format=json 2>/dev/null \
    | jq -r 'select(.reason == "compiler-artifact" and .target.name == "instructions") | .executable')"
[ -x "$bin" ] || { echo "callgrind: no benchmark binary built" >&2; exit 1; }
plans=("$@")
[ ${#plans[@]} -gt 0 ] || mapfile -t plans < <("$bin" | cut -d: -f1)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# count NAME ARGS...: the instructions of one measured interview.
count() {
    local name=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$out/$name.out" --toggle-collect='*instructions::measured*' \
        "$bin" "$@" >"$out/$name.log" 2>&1
    inputs="$(grep -o '[0-9]* inputs' "$out/$name.log" | cut -d' ' -f1)"
    instructions="$(awk '/^(summary|totals):/ { print $2; exit }' "$out/$name.out")"
    printf '%-36s %14s instructions per interview (%s inputs)\n' "$name" "$instructions" "$inputs"
}
for plan in "${plans[@]}"; do
    count "$plan" "$plan"
done
# With every plan: the recordings' answers too (long prose and code, as viva-load sends them).
if [ $# -eq 0 ]; then
    for recording in load-tests/recordings/*.jsonl; do
        count "recorded $(basename "$recording" .jsonl)" --recorded "$recording"
    done
fi
