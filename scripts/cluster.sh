#!/usr/bin/env bash
# A local Viva cluster on loopback, in one command: a Redis Cluster (3 masters, each with a
# replica), N gateways on it, and nginx in front of them (round robin, no stickiness). Prints
# the URL; ctrl-c (or SIGTERM) stops everything and removes its files.
#
#   scripts/cluster.sh [--gateways N] [--masters N] [--replicas N] [--port P] [--dir DIR]
#                      [-- GATEWAY ARGS...]
#
# Installs redis-server and nginx from Debian's packages when missing. Builds the gateway
# (`cargo build --release`) unless VIVA_GATEWAY_BIN names a binary. Everything it starts
# writes its log under DIR (default: a new temporary directory), and DIR/cluster.env says
# where everything is (URL, the gateways' ids, addresses and pids, the Redis nodes), for
# scripts that drive the cluster (scripts/cluster-test.sh). The gateways share an admin token
# (VIVA_ADMIN_TOKEN, or a random one written to DIR/cluster.env).
set -euo pipefail
cd "$(dirname "$0")/.."

gateways=3 masters=3 replicas=1 port=8080 dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --gateways) gateways=$2; shift 2 ;;
        --masters) masters=$2; shift 2 ;;
        --replicas) replicas=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --) shift; break ;;
        -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "cluster: unknown argument $1 (--help)" >&2; exit 64 ;;
    esac
done
gateway_args=("$@")

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
    echo "cluster: installing ${missing[*]} (Debian packages)" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

gateway="${VIVA_GATEWAY_BIN:-}"
if [ -z "$gateway" ]; then
    cargo build --release --locked --quiet -p viva-gateway
    gateway="${CARGO_TARGET_DIR:-target}/release/viva-gateway"
fi

[ -n "$dir" ] || dir="$(mktemp -d -t viva-cluster.XXXXXX)"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pids=()
stop() {
    trap - EXIT INT TERM
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${VIVA_CLUSTER_KEEP:-}" ] || rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

# shellcheck source=lib/ports.sh
. scripts/lib/ports.sh

# Redis Cluster: every node with `appendfsync always` (docs/durability.md).
nodes=()
for n in $(seq $((masters * (1 + replicas)))); do
    p="$(free_cluster_port)"
    mkdir -p "$dir/redis-$n"
    redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
        --repl-diskless-sync-delay 0 --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
        --dir "$dir/redis-$n" --logfile "$dir/redis-$n/redis.log" &
    pids+=($!)
    nodes+=("127.0.0.1:$p")
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$p" ping >/dev/null 2>&1 || { echo "cluster: redis on port $p did not start" >&2; exit 1; }
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes >"$dir/redis-create.log"
for _ in $(seq 300); do
    redis-cli -p "${nodes[0]##*:}" cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.1
done
# Every replica in sync with its master: a replica that never synced cannot take over.
for node in "${nodes[@]}"; do
    for _ in $(seq 300); do
        info="$(redis-cli -p "${node##*:}" info replication)"
        grep -q 'role:master' <<<"$info" && break
        grep -q 'master_link_status:up' <<<"$info" && break
        sleep 0.1
    done
done
store="redis+cluster://$(IFS=,; echo "${nodes[*]:0:$masters}")"

# The gateways, each on a free port (it prints where it listens first).
token="${VIVA_ADMIN_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}"
ids=() addrs=() gw_pids=()
for n in $(seq "$gateways"); do
    id="gw-$n"
    : >"$dir/$id.out"
    "$gateway" --listen 127.0.0.1:0 --store "$store" --node-id "$id" --admin-token "$token" \
        ${gateway_args[@]+"${gateway_args[@]}"} >"$dir/$id.out" 2>"$dir/$id.log" &
    pids+=($!) gw_pids+=($!) ids+=("$id")
    addr=""
    for _ in $(seq 600); do
        if [[ "$(head -n 1 "$dir/$id.out")" =~ listening\ on\ http://([^ ]+) ]]; then
            addr="${BASH_REMATCH[1]}"
            break
        fi
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "cluster: gateway $id did not start:" >&2; tail -20 "$dir/$id.log" >&2; exit 1; }
    addrs+=("$addr")
done

# nginx: round robin over the gateways; a gateway that refuses a connection or answers 503
# (draining) is skipped for the next one; sockets may stay open for an hour.
upstreams=""
for addr in "${addrs[@]}"; do upstreams+="        server $addr max_fails=3 fail_timeout=2s;"$'\n'; done
# As many connections as the file limit allows (each proxied socket takes two).
nofile="$(ulimit -Hn)"
[ "$nofile" = unlimited ] && nofile=1048576
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections $((nofile - 100)); }
http {
    access_log off;
    client_body_temp_path $dir/nginx-body;
    proxy_temp_path $dir/nginx-proxy;
    fastcgi_temp_path $dir/nginx-fastcgi;
    uwsgi_temp_path $dir/nginx-uwsgi;
    scgi_temp_path $dir/nginx-scgi;
    map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
    upstream viva {
$upstreams    }
    server {
        listen 127.0.0.1:$port;
        client_max_body_size 4m;
        location / {
            proxy_pass http://viva;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_next_upstream error timeout http_503;
            proxy_next_upstream_tries 3;
        }
    }
}
EOF
"$nginx" -p "$dir" -c "$dir/nginx.conf" 2>>"$dir/nginx-error.log" &
nginx_pid=$!
pids+=("$nginx_pid")
url="http://127.0.0.1:$port"
for _ in $(seq 100); do
    curl -fs "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "$url/healthz" >/dev/null || { echo "cluster: nginx does not answer on $url:" >&2; cat "$dir/nginx-error.log" >&2; exit 1; }

cat >"$dir/cluster.env" <<EOF
VIVA_URL=$url
VIVA_STORE=$store
VIVA_ADMIN_TOKEN=$token
VIVA_GATEWAY_IDS="${ids[*]}"
VIVA_GATEWAY_ADDRS="${addrs[*]}"
VIVA_GATEWAY_PIDS="${gw_pids[*]}"
VIVA_REDIS_NODES="${nodes[*]}"
EOF
echo "viva cluster ready: $url (gateways ${ids[*]} on ${addrs[*]}; Redis Cluster ${nodes[*]}; files in $dir)"
echo "ctrl-c stops it all"
# A gateway or a Redis node may die (or be killed, to see what happens): the cluster goes on.
wait "$nginx_pid" || true
echo "cluster: nginx stopped; stopping the rest" >&2
