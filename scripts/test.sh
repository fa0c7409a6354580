#!/usr/bin/env bash
# Everything that checks Viva, from a fresh machine: formatting, lints, every test.
# Installs what the checks need (skipped where it is already there). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Debian packages the tests run, installed only when missing (one `apt-get update` for all).
install() {
    step "installing $* (Debian packages)"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
missing=()
# Tests that need Redis start their own redis-server (viva-testkit).
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# The voice tests: pocketsphinx on speech espeak-ng synthesizes; espeak-ng speaks turns.
command -v pocketsphinx_continuous >/dev/null 2>&1 || missing+=(pocketsphinx)
[ -d /usr/share/pocketsphinx/model/en-us ] || missing+=(pocketsphinx-en-us)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
# The balancer in front of several gateways (scripts/cluster-test.sh).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# A gateway whose clock is off (gateway/tests/faults.rs) runs under libfaketime.
command -v faketime >/dev/null 2>&1 || missing+=(faketime)
[ ${#missing[@]} -eq 0 ] || install "${missing[@]}"

# The webhook tests verify signatures with the Standard Webhooks reference package (PyPI).
python3 -c 'import standardwebhooks' 2>/dev/null || {
    step "installing standardwebhooks (PyPI)"
    python3 -m pip install --quiet standardwebhooks
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "fuzzing: every target of fuzz/ for a bounded time from its seed corpus"
scripts/fuzz.sh

step "protocol conformance: an independent Python client against the gateway binary (memory)"
scripts/conformance.sh

step "protocol conformance again, on a real redis-server"
redis_dir="$(mktemp -d)"
redis_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
    --dir "$redis_dir" >/dev/null &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true; rm -rf "$redis_dir"' EXIT
for _ in $(seq 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
VIVA_STORE="redis://127.0.0.1:$redis_port/0" scripts/conformance.sh

step "protocol conformance again, on a three-master Redis Cluster"
# shellcheck source=lib/ports.sh
. scripts/lib/ports.sh
cluster_dir="$(mktemp -d)"
cluster_nodes=()
cluster_pids=()
for n in 1 2 3; do
    port="$(free_cluster_port)"
    mkdir -p "$cluster_dir/$n"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
        --cluster-enabled yes --cluster-config-file nodes.conf --dir "$cluster_dir/$n" >/dev/null &
    cluster_pids+=($!)
    cluster_nodes+=("127.0.0.1:$port")
    for _ in $(seq 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "test: cluster node on port $port did not start" >&2; exit 1; }
done
trap 'kill "$redis_pid" "${cluster_pids[@]}" 2>/dev/null || true; rm -rf "$redis_dir" "$cluster_dir"' EXIT
redis-cli --cluster create "${cluster_nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 200); do
    redis-cli -p "${cluster_nodes[0]##*:}" cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.1
done
VIVA_STORE="redis+cluster://$(IFS=,; echo "${cluster_nodes[*]}")" scripts/conformance.sh
kill "${cluster_pids[@]}" 2>/dev/null || true

step "the REST routes against their OpenAPI document: schemathesis against the gateway binary"
scripts/schemathesis.sh

step "Python client: clients/python's tests against the gateway binary"
scripts/python-client.sh

step "several nodes: 3 gateways behind nginx on a Redis Cluster, one killed mid-run (1,000 interviews)"
scripts/cluster-test.sh

step "a Redis Cluster master killed mid-run, its replica promoted: nothing acknowledged lost (500 interviews, WAIT 1)"
scripts/cluster-failover.sh

step "TypeScript client and web console: protocol.d.ts drift, tsc over their JSDoc types, the reducer's tables"
scripts/console.sh

step "TypeScript client against the gateway binary: interviews, resume, re-sent answers, 4009, the README example"
scripts/typescript-client.sh

step "browser tests: the web console in Chromium against the gateway binary"
scripts/browser.sh
