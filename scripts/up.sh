#!/usr/bin/env bash
# Builds minikube-rs (release) and brings up the default cluster: installs what the node
# needs first (runc, iptables, iproute2, busybox-static; gcc and libc6-dev for the build).
# Extra arguments go to `minikube-rs start` (e.g. --data-dir DIR --api-port 0).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
install_packages "${NODE_PACKAGES[@]}"
command -v cargo >/dev/null 2>&1 || {
    echo "up.sh: cargo not found; install the Rust toolchain (rustup) first" >&2
    exit 1
}
cargo build --release
exec target/release/minikube-rs start "$@"
