#!/usr/bin/env bash
# The rollout commands of one kubectl version against a minikube-rs server with simulated nodes.
# Env: KUBECTL (binary), KUBECONFIG, NS (a namespace of its own).
# Every step checks what the user would read; the first failure stops the script.
set -euo pipefail
kn() { "$KUBECTL" -n "$NS" "$@"; }
expect() { # expect "<what>" "<needle>" "<haystack>"
    if ! grep -qF -- "$2" <<<"$3"; then
        printf 'FAILED: %s: expected to find %q in:\n%s\n' "$1" "$2" "$3" >&2
        exit 1
    fi
}
step() { printf '\n--- %s\n' "$*" >&2; }
status() { kn rollout status deployment/web --timeout=30s 2>&1; }
image() { kn get deployment web -o 'jsonpath={.spec.template.spec.containers[0].image}'; }

step "create"
"$KUBECTL" create namespace "$NS" >/dev/null
expect "create" "deployment.apps/web created" "$(kn create deployment web --image=nginx --replicas=2)"
expect "status" "deployment \"web\" successfully rolled out" "$(status)"
expect "get" "2/2" "$(kn get deployment web)"

step "set image"
expect "set image" "deployment.apps/web image updated" "$(kn set image deployment/web nginx=nginx:1.25)"
expect "status after set image" "successfully rolled out" "$(status)"
expect "annotate" "deployment.apps/web annotate" "$(kn annotate deployment web kubernetes.io/change-cause=second --overwrite)"

step "history"
out=$(kn rollout history deployment/web)
expect "history header" "REVISION  CHANGE-CAUSE" "$out"
expect "history rev 2" "2         second" "$out"
expect "history one revision" "nginx:1.25" "$(kn rollout history deployment/web --revision=2)"

step "undo"
expect "undo" "deployment.apps/web rolled back" "$(kn rollout undo deployment/web)"
expect "status after undo" "successfully rolled out" "$(status)"
expect "image after undo" "nginx" "$(image)"
[ "$(image)" = "nginx" ] || { echo "FAILED: undo left image $(image)" >&2; exit 1; }
expect "revision 3" "3 " "$(kn rollout history deployment/web)"

step "undo --to-revision"
expect "undo to 2" "deployment.apps/web rolled back" "$(kn rollout undo deployment/web --to-revision=2)"
expect "status after undo to 2" "successfully rolled out" "$(status)"
[ "$(image)" = "nginx:1.25" ] || { echo "FAILED: undo --to-revision=2 left image $(image)" >&2; exit 1; }

step "pause and resume"
expect "pause" "deployment.apps/web paused" "$(kn rollout pause deployment/web)"
kn set image deployment/web nginx=nginx:1.26 >/dev/null
out=$(kn rollout undo deployment/web 2>&1 || true)
expect "undo refused while paused" "resume it first" "$out"
expect "resume" "deployment.apps/web resumed" "$(kn rollout resume deployment/web)"
expect "status after resume" "successfully rolled out" "$(status)"

step "restart"
expect "restart" "deployment.apps/web restarted" "$(kn rollout restart deployment/web)"
expect "status after restart" "successfully rolled out" "$(status)"
expect "restartedAt" "restartedAt" "$(kn get deployment web -o yaml)"

step "scale and wait"
expect "scale" "deployment.apps/web scaled" "$(kn scale deployment/web --replicas=3)"
expect "wait" "condition met" "$(kn wait --for=condition=Available deployment/web --timeout=30s)"
expect "status after scale" "successfully rolled out" "$(status)"
out=$(kn get deployment web)
expect "columns" "READY   UP-TO-DATE   AVAILABLE" "$out"
expect "ready 3/3" "3/3     3            3" "$out"
