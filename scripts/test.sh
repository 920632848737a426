#!/usr/bin/env bash
# Installs the OS packages the tests need (Debian, as root), builds minikube-rs and runs the
# whole test suite: unit tests and the integration tests that drive the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Packages the integration tests use: what the node needs (scripts/packages.sh), curl/jq to
# poke the API, python3 for helper scripts, docker-registry and apache2-utils (htpasswd) for
# the registry pull tests; kubectl: the machine's, else Debian's kubernetes-client.
source scripts/packages.sh
packages=("${NODE_PACKAGES[@]}" curl jq python3 docker-registry apache2-utils)
if [[ ! -x /usr/bin/kubectl ]] && ! command -v kubectl >/dev/null 2>&1; then
    packages+=(kubernetes-client)
fi
install_packages "${packages[@]}"

# The OpenAPI documents are checked with a real validator (PyPI: openapi-spec-validator).
if ! python3 -c 'import openapi_spec_validator' >/dev/null 2>&1; then
    step "installing openapi-spec-validator (pip)"
    python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages openapi-spec-validator
fi

command -v cargo >/dev/null 2>&1 || {
    echo "test.sh: cargo not found; install the Rust toolchain (rustup) first" >&2
    exit 1
}

# The dev profile builds dependencies optimised (Cargo.toml: opt-level 2) and our crate fast,
# which keeps a clean CI build short; `cargo run --release` is for users.
step "cargo build --bins --tests"
build_start=$SECONDS
cargo build --bins --tests
build_secs=$((SECONDS - build_start))

step "cargo test --no-fail-fast -- --test-threads=2"
test_start=$SECONDS
set +e
cargo test --all-targets --no-fail-fast -- --test-threads=2
test_rc=$?
set -e
test_secs=$((SECONDS - test_start))

echo
echo "==> summary"
echo "    kubectl:  $(kubectl version --client 2>/dev/null | head -n1 || echo unknown)"
echo "    build:    ok (${build_secs}s)"
if ((test_rc == 0)); then
    echo "    tests:    ok (${test_secs}s)"
else
    echo "    tests:    FAILED with exit code ${test_rc} (${test_secs}s); see the output above"
fi
exit "$test_rc"
