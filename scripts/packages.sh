# Sourced by scripts/up.sh and scripts/test.sh: installs the Debian packages named in
# "$@" that are missing (apt-get, as root or through sudo).
#
# What the node needs at run time: runc (the OCI runtime), iptables and iproute2 (the node
# network), busybox-static (the built-in busybox image). What the build needs: gcc and
# libc6-dev (build.rs compiles the built-in pause and web server statically).
NODE_PACKAGES=(runc iptables iproute2 busybox-static gcc libc6-dev)

install_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        printf '\n==> OS packages present: %s\n' "$*"
        return 0
    fi
    printf '\n==> installing OS packages: %s\n' "${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || {
            echo "need root (or sudo) to install: ${missing[*]}" >&2
            return 1
        }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}
