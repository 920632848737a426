#!/usr/bin/env bash
# Node benchmark (a script that prints figures, not a timed test), run as root on the real
# node: a server of its own (temp --data-dir, --api-port 0, --offline) with the real node
# agent (runc, cgroups, overlayfs, the node network namespace), busybox pods running
# `sleep 3600` (image `busybox`, imagePullPolicy IfNotPresent, so the built-in image is used).
#
#   - pod startup, create to Running, 50 pods one after another (each created once the previous
#     one is Running): p50, p99, max. Client side, by the load generator's HTTPS client: from
#     just before the create request to the moment a pod watch opened beforehand sees
#     status.phase == Running (kubectl's own start is not measured). The first pod of the
#     server (image unpacking, cgroup parents) is timed apart and not counted;
#   - 50 pods at once: time until all are Running, pods per second;
#   - agent memory per running pod: (server RSS + RSS of every `minikube-rs monitor` process of
#     the profile) with 50 pods Running minus the same with 0 pods, / 50; runc exits once a
#     container runs, so it holds nothing. PSS beside RSS (shared pages counted once);
#   - the yardstick: the same containers with `podman run -d --runtime runc` from a busybox
#     image made of the host's /bin/busybox (no network needed): 50 one after another (each
#     command timed), 50 at once, conmon's memory per container. Debian's podman is installed
#     with apt-get if missing. Podman runs with storage, run and network config dirs of its
#     own under the work dir, its cgroup parent of its own, and inside a network namespace the
#     script creates (its bridge and firewall rules go there, not on the host); everything is
#     removed at the end.
# A table compares both at the end. The server's log is kept if something fails.
#
#   bench/pods.sh                      build what is missing, then measure
#   bench/pods.sh --build              rebuild the release binary first
#   BIN=target/debug/minikube-rs bench/pods.sh     another binary (no build)
#   PODS=10 bench/pods.sh              fewer pods
#   PODMAN=0 bench/pods.sh             skip the podman yardstick (MINIKUBE=0: only podman)
#
# The work dir lives under $BENCH_TMPDIR (default /var/tmp). The script ends with
# `minikube-rs delete --data-dir <dir>` (also on failure or Ctrl-C), and touches nothing it
# did not create.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

bin=${BIN:-target/release/minikube-rs}
loadgen=bench/loadgen/target/release/loadgen
pods=${PODS:-50}
run_minikube=${MINIKUBE:-1}
run_podman=${PODMAN:-1}

die() { echo "pods.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (real containers, cgroups, network namespaces)"
command -v runc >/dev/null || die "runc not found (apt-get install runc)"
[[ $pods =~ ^[1-9][0-9]*$ ]] || die "PODS=$pods is not a positive number"

if [[ $run_minikube == 1 ]]; then
    if [[ -z ${BIN:-} && ( ${1:-} == --build || ! -x $bin ) ]]; then
        echo "==> cargo build --release --bin minikube-rs" >&2
        cargo build --release --bin minikube-rs >&2
    fi
    [[ -x $bin ]] || die "$bin is not an executable"
    bin=$(realpath "$bin")
fi
echo "==> building the load generator (bench/loadgen)" >&2
cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml >&2

work=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/minikube-rs-pods-bench.XXXXXX")
results=$work/results
data=$work/data
server_pid=
server_started=
failed=1

# Podman's side: its own storage, run dir, network config, cgroup parent and netns.
tag=mkrs-bench-$$
pw=$work/podman
pns=$tag                        # network namespace (ip netns) holding podman's bridge
pcg=/$tag                       # cgroup parent of the containers (and of conmon)
podman_used=
# Host paths podman creates even with --root/--runroot (blob cache, CNI IPAM state, ...):
# removed at the end only when this script made them.
host_paths=(/var/lib/containers /var/lib/cni /run/containers /run/libpod)
made_paths=()

pm() {
    nsenter --net="/run/netns/$pns" podman --root "$pw/root" --runroot "$pw/run" \
        --tmpdir "$pw/tmp" --network-config-dir "$pw/net" --cgroup-manager cgroupfs \
        --events-backend none --runtime runc "$@"
}

mounts_under() { awk -v d="$1/" 'index($5 "/", d) == 1 {print $5}' /proc/self/mountinfo; }

cleanup_minikube() {
    [[ -n $server_started ]] || return 0
    if [[ $failed == 1 && -f $work/server.log ]]; then
        local keep=${BENCH_TMPDIR:-/var/tmp}/minikube-rs-pods-bench.$$.server.log
        cp "$work/server.log" "$keep"
        echo "--- last lines of the server's log (kept in $keep) ---" >&2
        tail -n 40 "$work/server.log" >&2
    fi
    echo "==> $bin delete --data-dir $data" >&2
    "$bin" delete --data-dir "$data" >&2 || echo "pods.sh: minikube-rs delete failed" >&2
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
    fi
    [[ -n $server_pid ]] && wait "$server_pid" 2>/dev/null || true
}

cleanup_podman() {
    [[ -n $podman_used ]] || return 0
    if [[ -e /run/netns/$pns ]]; then
        pm rm -f -t 0 -a >/dev/null 2>&1 || true
        pm rmi -a -f >/dev/null 2>&1 || true
        ip netns delete "$pns" 2>/dev/null || true
    fi
    local m
    for m in $(mounts_under "$pw" | sort -r); do umount -l "$m" 2>/dev/null || true; done
    # The cgroup parent and what podman made below it (conmon's cgroup), deepest first.
    local c
    for c in /sys/fs/cgroup/*/"${pcg#/}" /sys/fs/cgroup/"${pcg#/}"; do
        [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    for c in "${made_paths[@]}"; do rm -rf "$c"; done
}

cleanup() {
    local rc=$?
    set +e
    cleanup_minikube
    cleanup_podman
    if [[ -n $(mounts_under "$work") ]]; then
        echo "pods.sh: mounts left under $work, not removing it:" >&2
        mounts_under "$work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "minikube-rs node benchmark: ${pods} pods, $(nproc) CPUs, cgroup $(stat -fc %T /sys/fs/cgroup), $(runc --version | head -n1)"
echo "load generator, server and containers share the machine's CPUs"
echo

# ---------------------------------------------------------------------------------------
# minikube-rs
if [[ $run_minikube == 1 ]]; then
    echo "minikube-rs: $("$bin" version 2>/dev/null | sed -n 1p) ($bin)"
    server_started=1
    "$bin" server --data-dir "$data" --api-port 0 --offline >"$work/server.log" 2>&1 &
    server_pid=$!
    "$loadgen" wait --kubeconfig "$data/kubeconfig.yaml" --timeout-secs 60
    "$loadgen" podstart --kubeconfig "$data/kubeconfig.yaml" --pid "$server_pid" \
        --data-dir "$data" --pods "$pods" --results "$results"
    echo
fi

# ---------------------------------------------------------------------------------------
# podman run, the yardstick

# Sorted microseconds on stdin → "p50 p99 max" in ms (nearest rank).
stats_ms() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 0 0"; exit }
        r50 = int(0.5 * NR); if (r50 < 0.5 * NR) r50++; if (r50 < 1) r50 = 1
        r99 = int(0.99 * NR); if (r99 < 0.99 * NR) r99++; if (r99 < 1) r99 = 1
        printf "%.2f %.2f %.2f\n", v[r50] / 1000, v[r99] / 1000, v[NR] / 1000 }'
}
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
put() { echo "$1 $2" >>"$results"; }
line() { printf '%-52s %14s%s\n' "$1" "$2" "${3:+   (aim $3)}"; }

# conmon processes of this script's podman (their exit command names our --root).
conmon_pids() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/exe" 2>/dev/null) == */conmon ]] || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$pw/root" && echo "${p#/proc/}"
    done
    return 0
}
# "count rss_kib pss_kib" summed over pids on stdin.
mem_of() {
    local p n=0 rss=0 pss=0 r s
    while read -r p; do
        [[ -r /proc/$p/smaps_rollup ]] || continue
        read -r r s < <(awk '/^Rss:/ {r = $2} /^Pss:/ {s = $2} END {print r + 0, s + 0}' "/proc/$p/smaps_rollup")
        n=$((n + 1)); rss=$((rss + r)); pss=$((pss + s))
    done
    echo "$n $rss $pss"
}

podman_run() { # podman_run NAME: one detached busybox container
    pm run -d --name "$1" --cgroup-parent "$pcg" --ulimit "$ulimits_nofile" --ulimit "$ulimits_nproc" \
        localhost/busybox sleep 3600 >/dev/null
}

if [[ $run_podman == 1 ]]; then
    if ! command -v podman >/dev/null; then
        echo "==> apt-get install podman (for this benchmark only)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends podman >&2
    fi
    for c in "${host_paths[@]}"; do [[ -e $c ]] || made_paths+=("$c"); done
    podman_used=1
    mkdir -p "$pw"/{root,run,tmp,net}
    ip netns add "$pns"
    # podman asks for nofile 1048576 and a large nproc by default; raising a hard limit needs
    # CAP_SYS_RESOURCE, which containers may lack: stay within the current limits.
    ulimits_nofile="nofile=$(ulimit -Sn):$(ulimit -Hn)"
    nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 4096 ]] && nproc=4096
    ulimits_nproc="nproc=$nproc:$nproc"

    # A busybox image without any registry: the host's static busybox and its applet links.
    rootfs=$pw/rootfs
    mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,tmp}
    cp /bin/busybox "$rootfs/bin/busybox"
    for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -s busybox "$rootfs/bin/$a"; done
    tar -C "$rootfs" -c . | pm import -q - localhost/busybox >/dev/null
    echo "podman: $(podman --version | awk '{print $3}'), runc, network $(pm info --format '{{.Host.NetworkBackend}}' 2>/dev/null)"

    # The first container pays for what happens once (network setup, cgroup parents).
    t0=$(now_us); podman_run mkrs-bench-warmup; t1=$(now_us)
    line "  first container, podman run -d (not counted below)" "$(awk -v u=$((t1 - t0)) 'BEGIN {printf "%.2f ms", u / 1000}')"
    pm rm -f -t 0 mkrs-bench-warmup >/dev/null

    echo "$pods containers one after another (podman run -d, each command timed)"
    : >"$work/podman-serial"
    for ((i = 0; i < pods; i++)); do
        t0=$(now_us)
        podman_run "mkrs-bench-s$i"
        t1=$(now_us)
        echo $((t1 - t0)) >>"$work/podman-serial"
    done
    read -r p50 p99 max < <(stats_ms <"$work/podman-serial")
    line "  p50" "$p50 ms"; line "  p99" "$p99 ms"; line "  max" "$max ms"
    put podman_serial_p50_ms "$p50"; put podman_serial_p99_ms "$p99"; put podman_serial_max_ms "$max"

    sleep 3
    read -r n rss pss < <(conmon_pids | mem_of)
    running=$(pm ps -q --filter status=running | wc -l)
    echo "podman memory ($running containers running; no daemon: conmon per container)"
    line "  conmon: $n processes, RSS total" "$(awk -v k="$rss" 'BEGIN {printf "%.1f MiB", k / 1024}')"
    line "  conmon, PSS total" "$(awk -v k="$pss" 'BEGIN {printf "%.1f MiB", k / 1024}')"
    if ((n > 0)); then
        line "  per conmon, RSS" "$(awk -v k="$rss" -v n="$n" 'BEGIN {printf "%.1f MiB", k / n / 1024}')"
        line "  per conmon, PSS" "$(awk -v k="$pss" -v n="$n" 'BEGIN {printf "%.1f MiB", k / n / 1024}')"
        put conmon_rss_kib $((rss / n)); put conmon_pss_kib $((pss / n))
    fi
    t0=$(now_us); pm rm -f -t 0 -a >/dev/null; t1=$(now_us)
    line "  podman rm -f -t 0 of $pods containers" "$(awk -v u=$((t1 - t0)) 'BEGIN {printf "%.2f s", u / 1e6}')"

    echo "$pods containers at once ($pods podman run -d started together)"
    : >"$work/podman-burst"
    jobs_=()
    t0=$(now_us)
    for ((i = 0; i < pods; i++)); do
        (
            s=$(now_us)
            podman_run "mkrs-bench-b$i" 2>>"$work/podman-burst.err" || exit 0
            e=$(now_us)
            echo $((e - s)) >>"$work/podman-burst"
        ) &
        jobs_+=($!)
    done
    wait "${jobs_[@]}"
    t1=$(now_us)
    ok=$(wc -l <"$work/podman-burst")
    running=$(pm ps -q --filter status=running | wc -l)
    all_s=$(awk -v u=$((t1 - t0)) 'BEGIN {printf "%.3f", u / 1e6}')
    line "  time until all commands returned" "$all_s s"
    line "  containers running" "$running / $pods"
    line "  containers per second" "$(awk -v n="$running" -v s="$all_s" 'BEGIN {printf "%.1f /s", n / s}')"
    read -r p50 p99 max < <(stats_ms <"$work/podman-burst")
    line "  per command, p50" "$p50 ms"; line "  per command, p99" "$p99 ms"
    if ((ok < pods)); then
        echo "  $((pods - ok)) podman run failed; first errors:"
        head -n 5 "$work/podman-burst.err" | sed 's/^/    /'
    fi
    put podman_burst_all_s "$all_s"
    put podman_burst_per_s "$(awk -v n="$running" -v s="$all_s" 'BEGIN {printf "%.3f", n / s}')"
    t0=$(now_us); pm rm -f -t 0 -a >/dev/null; t1=$(now_us)
    line "  podman rm -f -t 0 of $pods containers" "$(awk -v u=$((t1 - t0)) 'BEGIN {printf "%.2f s", u / 1e6}')"
    echo
fi

# ---------------------------------------------------------------------------------------
# Summary
val() { [[ -f $results ]] && awk -v k="$1" '$1 == k {v = $2} END {if (v != "") print v}' "$results"; }
cell() { # cell KEY UNIT: a value from the results, or "-"
    local v; v=$(val "$1")
    case $2 in
        ms) [[ -n $v ]] && printf '%.1f ms' "$v" || echo - ;;
        s) [[ -n $v ]] && printf '%.2f s' "$v" || echo - ;;
        ps) [[ -n $v ]] && printf '%.1f /s' "$v" || echo - ;;
        kib) [[ -n $v ]] && awk -v k="$v" 'BEGIN {printf "%.2f MiB", k / 1024}' || echo - ;;
    esac
}
row() { printf '%-44s %14s %14s   %s\n' "$1" "$2" "$3" "$4"; }
echo "Summary ($pods pods / containers, busybox sleep 3600, $(nproc) CPUs)"
row "" "minikube-rs" "podman run" "aim"
row "one after another: create to Running, p50" "$(cell serial_p50_ms ms)" "$(cell podman_serial_p50_ms ms)" "< 150 ms"
row "one after another: p99" "$(cell serial_p99_ms ms)" "$(cell podman_serial_p99_ms ms)" "< 400 ms"
row "one after another: max" "$(cell serial_max_ms ms)" "$(cell podman_serial_max_ms ms)" ""
row "all at once: time until all Running" "$(cell burst_all_running_s s)" "$(cell podman_burst_all_s s)" ""
row "all at once: pods per second" "$(cell burst_pods_per_s ps)" "$(cell podman_burst_per_s ps)" ""
row "memory per running pod (agent / conmon), RSS" "$(cell mem_per_pod_rss_kib kib)" "$(cell conmon_rss_kib kib)" ""
row "memory per running pod (agent / conmon), PSS" "$(cell mem_per_pod_pss_kib kib)" "$(cell conmon_pss_kib kib)" ""
row "per monitor / conmon process, RSS" "$(cell monitor_rss_kib kib)" "$(cell conmon_rss_kib kib)" ""
row "per monitor / conmon process, PSS" "$(cell monitor_pss_kib kib)" "$(cell conmon_pss_kib kib)" ""
echo "(podman: the time each \`podman run -d\` command took; minikube-rs: create request to the watch's Running)"
failed=0
