#!/usr/bin/env bash
# Control-plane benchmark (a script that prints figures, not a timed test): a server with 100
# simulated nodes; 100 Deployments x 100 replicas = 10,000 pods go through the Deployment and
# ReplicaSet controllers, the scheduler and the simulated kubelets. Prints pods created and
# Running per second, the time until all are Running, API latency during the churn and the
# server's RSS at the end; then the same on a fresh server while `kubectl get pods -A -w`
# watches.
#
#   bench/controlplane.sh                 build what is missing, then measure
#   bench/controlplane.sh --build         rebuild the release binary first
#   NODES=10 DEPLOYMENTS=10 REPLICAS=100 bench/controlplane.sh   a smaller run
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/minikube-rs
loadgen=bench/loadgen/target/release/loadgen
nodes=${NODES:-100}
deployments=${DEPLOYMENTS:-100}
replicas=${REPLICAS:-100}

if [[ ${1:-} == --build || ! -x $bin ]]; then
    echo "==> cargo build --release --bin minikube-rs" >&2
    cargo build --release --bin minikube-rs >&2
fi
echo "==> building the load generator (bench/loadgen)" >&2
cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml >&2

work=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/minikube-rs-cp-bench.XXXXXX")
server_pid=
watch_pid=
cleanup() {
    [[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null || true
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "minikube-rs control-plane benchmark: $($bin version 2>/dev/null | head -n1 || echo "$bin"), $(nproc) CPUs"
echo "load generator, kubectl and server share the machine's CPUs"
echo

run() { # run NAME WATCH(yes|no)
    local dir=$work/$1
    "$bin" server --api-port 0 --data-dir "$dir" --simulated-nodes "$nodes" --log warn >"$work/$1-server.log" 2>&1 &
    server_pid=$!
    "$loadgen" wait --kubeconfig "$dir/kubeconfig.yaml" --timeout-secs 60
    local label="no watchers"
    if [[ $2 == yes ]]; then
        kubectl --kubeconfig "$dir/kubeconfig.yaml" get pods -A -w >"$work/$1-watch.out" 2>&1 &
        watch_pid=$!
        label="while kubectl get pods -A -w watches"
    fi
    "$loadgen" churn --kubeconfig "$dir/kubeconfig.yaml" --pid "$server_pid" --nodes "$nodes" \
        --deployments "$deployments" --replicas "$replicas" --label "$label"
    if [[ -n $watch_pid ]]; then
        sleep 1
        printf '%-52s %14s\n' "  lines kubectl -w printed" "$(wc -l <"$work/$1-watch.out")"
        kill "$watch_pid" 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
        watch_pid=
    fi
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    echo
}

run plain no
run watched yes
