#!/usr/bin/env bash
# API server benchmark (a script that prints figures, not a timed test). For the release
# binary on this machine it prints: start to /readyz ok (fresh and existing data dir), idle
# RSS, ConfigMap creates per second with 32 HTTPS clients and their latency, GET p99, watch
# delivery p99 with 100 watchers, and the time to list 10,000 objects, each beside its aim.
#
#   bench/api.sh            build what is missing, then measure
#   bench/api.sh --build    rebuild the release binary first
#
# The data dirs live under $BENCH_TMPDIR (default /var/tmp: a real disk, so fsync costs what
# it costs; /tmp may be tmpfs). Everything the script starts or writes is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/minikube-rs
loadgen=bench/loadgen/target/release/loadgen

if [[ ${1:-} == --build || ! -x $bin ]]; then
    echo "==> cargo build --release --bin minikube-rs" >&2
    cargo build --release --bin minikube-rs >&2
fi
echo "==> building the load generator (bench/loadgen)" >&2
cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml >&2

work=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/minikube-rs-bench.XXXXXX")
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fs=$(df -T "$work" | awk 'NR==2 {print $2}')
echo "minikube-rs API benchmark: $($bin version 2>/dev/null | head -n1 || echo "$bin"), $(nproc) CPUs, data on $fs ($work)"
echo "load generator and server share the machine's CPUs"
echo

"$loadgen" startup --bin "$bin" --dir "$work/startup" --runs 5

"$bin" server --api-port 0 --data-dir "$work/load" >"$work/load-server.log" 2>&1 &
server_pid=$!
kubeconfig="$work/load/kubeconfig.yaml"
"$loadgen" wait --kubeconfig "$kubeconfig" --timeout-secs 60

"$loadgen" creates --kubeconfig "$kubeconfig" --clients 32 --seconds 5
"$loadgen" gets --kubeconfig "$kubeconfig" --seconds 3
"$loadgen" watch --kubeconfig "$kubeconfig" --watchers 100 --events 200
"$loadgen" list --kubeconfig "$kubeconfig" --objects 10000 --runs 5
printf '%-52s %14s\n' "server RSS after the load" "$(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$server_pid/status)"
