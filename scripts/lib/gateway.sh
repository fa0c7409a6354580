# Sourced by the scripts that test the gateway binary (conformance.sh, browser.sh).
#
#   start_gateway NAME [GATEWAY ARGS...]
#
# builds the gateway, starts it on a free loopback port with the given arguments, waits (30 s
# at most) for its first stdout line, "viva-gateway listening on http://ADDR ...", and sets
# `base` (http://ADDR), `gw_pid`, and `tmp` (its stdout and stderr are in there). On exit the
# gateway, if still running, is stopped and `tmp` removed. `show_gateway_log` prints the end
# of its stderr. NAME prefixes messages.

start_gateway() {
    local name=$1
    shift
    # The binary exactly as `cargo test --workspace` builds it (features unified across the
    # workspace and its tests): after the test command's own `cargo test`, nothing to do. A
    # plain `cargo build -p viva-gateway` resolves other features and rebuilds ~45 crates.
    cargo test --locked --workspace --no-run --quiet
    local gateway="${CARGO_TARGET_DIR:-target}/debug/viva-gateway"
    tmp="$(mktemp -d)"
    gw_pid=""
    trap _stop_gateway EXIT
    trap 'exit 130' INT TERM
    "$gateway" --listen 127.0.0.1:0 "$@" >"$tmp/stdout" 2>"$tmp/stderr" &
    gw_pid=$!
    base=""
    local line
    for _ in $(seq 300); do
        # The file exists once the background shell has opened it, which may be after this.
        line="$(head -n 1 "$tmp/stdout" 2>/dev/null || true)"
        if [[ "$line" =~ listening\ on\ (http://[^ ]+) ]]; then
            base="${BASH_REMATCH[1]}"
            break
        fi
        if ! kill -0 "$gw_pid" 2>/dev/null; then
            echo "$name: the gateway exited before listening" >&2
            show_gateway_log
            exit 1
        fi
        sleep 0.1
    done
    if [ -z "$base" ]; then
        echo "$name: no 'listening on' line from the gateway within 30 s" >&2
        show_gateway_log
        exit 1
    fi
    echo "$name: gateway at $base (pid $gw_pid)"
}

show_gateway_log() {
    echo "--- gateway stderr (last 40 lines) ---" >&2
    tail -n 40 "$tmp/stderr" >&2 || true
}

_stop_gateway() {
    if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
        kill -TERM "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
