# shellcheck shell=bash
# What the load scripts (llm-load.sh, voice-load.sh) share: checks that their ports are free,
# the release build, the file limit, the servers they start (stopped on exit), and measuring
# them. Source it after setting `name` (the script's name, for messages); it sets `pids`.

# Fails when something already answers on any of the addresses given.
ports_free() {
    local addr
    for addr in "$@"; do
        if curl -s -o /dev/null --max-time 1 "http://$addr/"; then
            echo "$name: something already answers on $addr; stop it first" >&2
            exit 2
        fi
    done
}

# The release binaries, and the soft file limit raised to the hard one (each socket is a file
# on both ends, for every process of the run).
build_and_lift_limits() {
    cargo build --release -p viva-gateway -p viva-load
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    echo "$name: open files limit $(ulimit -n)"
}

pids=()
# Stops the servers, the last started first (the gateway before the store it flushes to).
stop_servers() {
    local i pid
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[i]}
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

# Starts `viva-load provider` on $provider (with $PROVIDER_ARGS), logging to $base.provider.log,
# and waits until it answers.
start_provider() {
    # shellcheck disable=SC2086 # PROVIDER_ARGS is a list of flags
    "$bin/viva-load" provider --listen "$provider" $PROVIDER_ARGS >"$base.provider.log" 2>&1 &
    pids+=($!)
    wait_for "http://$provider/models" "${pids[-1]}" "$base.provider.log"
    head -n 1 "$base.provider.log"
}

# CPU seconds (user + system) a process has used so far.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Waits (20 s at most) until URL answers 200; fails when process PID exits first.
wait_for() {
    local url=$1 pid=$2 log=$3
    for _ in $(seq 200); do
        curl -fs -o /dev/null --max-time 1 "$url" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name: exited before answering $url; its log:" >&2
            tail -n 20 "$log" >&2
            exit 2
        fi
        sleep 0.1
    done
    echo "$name: $url did not answer within 20 s" >&2
    exit 2
}
