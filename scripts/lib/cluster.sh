# Sourced by the scripts that drive a local cluster (cluster-test.sh, cluster-failover.sh,
# cluster-takeover.sh).
#
#   start_cluster NAME [CLUSTER ARGS...] -- [GATEWAY ARGS...]
#
# builds the binaries as the test command's `cargo test --workspace --no-run` does, starts
# scripts/cluster.sh (by default 3 masters + 3 replicas, 3 gateways, nginx on a free port; its
# options, such as --replicas 2, as CLUSTER ARGS) with the gateway arguments, waits for it, and sets `bin` (the binaries' directory), `dir` (its files: the
# cluster's under `$dir/cluster`, removed on exit unless VIVA_KEEP is set), `cluster_pid`, the
# variables of cluster.env (VIVA_URL, VIVA_ADMIN_TOKEN, ...), and the arrays `gw_pids`,
# `gw_addrs` and `redis_nodes`. On exit the cluster is stopped; a script may set `on_exit` to a
# command to run first. NAME prefixes messages.

start_cluster() {
    local name=$1
    shift
    local cluster_args=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        cluster_args+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    cargo test --locked --workspace --no-run --quiet
    bin="${CARGO_TARGET_DIR:-target}/debug"
    dir="$(mktemp -d -t "viva-$name.XXXXXX")"
    cluster_pid=""
    trap _stop_cluster EXIT
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    VIVA_CLUSTER_KEEP="${VIVA_KEEP:-}" VIVA_GATEWAY_BIN="$bin/viva-gateway" scripts/cluster.sh --port "$port" \
        --dir "$dir/cluster" ${cluster_args[@]+"${cluster_args[@]}"} -- "$@" >"$dir/cluster.out" 2>&1 &
    cluster_pid=$!
    for _ in $(seq 1200); do
        grep -q "viva cluster ready" "$dir/cluster.out" && break
        kill -0 "$cluster_pid" 2>/dev/null || break
        sleep 0.1
    done
    grep "viva cluster ready" "$dir/cluster.out" || {
        echo "$name: the cluster did not start:" >&2
        cat "$dir/cluster.out" >&2
        exit 1
    }
    # shellcheck disable=SC1091
    . "$dir/cluster/cluster.env"
    read -r -a gw_pids <<<"$VIVA_GATEWAY_PIDS"
    read -r -a gw_addrs <<<"$VIVA_GATEWAY_ADDRS"
    read -r -a redis_nodes <<<"$VIVA_REDIS_NODES"
}

_stop_cluster() {
    if [ -n "${on_exit:-}" ]; then eval "$on_exit" || true; fi
    if [ -n "$cluster_pid" ]; then
        kill -TERM "$cluster_pid" 2>/dev/null || true
        wait "$cluster_pid" 2>/dev/null || true
    fi
    # VIVA_KEEP=1 keeps every log (the gateways', nginx's, the load's) for a look.
    if [ -n "${VIVA_KEEP:-}" ]; then echo "files kept in $dir" >&2; else rm -rf "$dir"; fi
}
