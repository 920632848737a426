#!/usr/bin/env bash
# One kubectl session, run once per kubectl version against a minikube-rs server.
# Env: KUBECTL (binary), KUBECONFIG, NS (a namespace of its own), WORK (a temp dir).
# Every step checks what the user would read; the first failure stops the script.
set -euo pipefail
k() { "$KUBECTL" "$@"; }
kn() { "$KUBECTL" -n "$NS" "$@"; }
expect() { # expect "<what>" "<needle>" "<haystack>"
    if ! grep -qF -- "$2" <<<"$3"; then
        printf 'FAILED: %s: expected to find %q in:\n%s\n' "$1" "$2" "$3" >&2
        exit 1
    fi
}
step() { printf '\n--- %s\n' "$*" >&2; }

step "create namespace"
out=$(k create namespace "$NS"); expect "create ns" "namespace/$NS created" "$out"

step "typed create commands"
expect "configmap" "configmap/cfg created" "$(kn create configmap cfg --from-literal=a=1 --from-literal=b=2)"
expect "secret" "secret/sec created" "$(kn create secret generic sec --from-literal=user=admin)"
expect "deployment" "deployment.apps/web created" "$(kn create deployment web --image=nginx:1.25 --replicas=2 --port=80)"
expect "service" "service/web created" "$(kn create service clusterip web --tcp=80:80)"
expect "job" "job.batch/once created" "$(kn create job once --image=busybox -- true)"
expect "cronjob" "cronjob.batch/tick created" "$(kn create cronjob tick --image=busybox --schedule='*/5 * * * *' -- true)"
expect "serviceaccount" "serviceaccount/robot created" "$(kn create serviceaccount robot)"
expect "role" "role.rbac.authorization.k8s.io/reader created" "$(kn create role reader --verb=get,list --resource=pods)"
expect "rolebinding" "rolebinding.rbac.authorization.k8s.io/reader created" "$(kn create rolebinding reader --role=reader --serviceaccount="$NS":robot)"
expect "quota" "resourcequota/q created" "$(kn create quota q --hard=pods=10)"
expect "priorityclass" "priorityclass.scheduling.k8s.io/$NS-high created" "$(k create priorityclass "$NS-high" --value=1000)"
expect "autoscale" "horizontalpodautoscaler.autoscaling/web autoscaled" "$(kn autoscale deployment web --min=2 --max=5 --cpu-percent=80)"

step "get in every output format"
out=$(kn get deploy web); expect "table" "web" "$out"; expect "columns" "READY   UP-TO-DATE   AVAILABLE   AGE" "$out"
expect "wide" "nginx:1.25" "$(kn get deploy web -o wide)"
expect "yaml" "kind: Deployment" "$(kn get deploy web -o yaml)"
expect "json" '"kind": "Deployment"' "$(kn get deploy web -o json)"
expect "name" "deployment.apps/web" "$(kn get deploy web -o name)"
expect "jsonpath" "2" "$(kn get deploy web -o jsonpath='{.spec.replicas}')"
expect "custom-columns" "web    nginx:1.25" "$(kn get deploy web -o custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[0].image)"
expect "go-template" "web" "$(kn get deploy web -o go-template='{{.metadata.name}}')"
expect "show-labels" "app=web" "$(kn get deploy web --show-labels)"
expect "label selector" "cfg" "$(kn get cm -l '!nope')"
expect "field selector" "cfg" "$(kn get cm --field-selector metadata.name=cfg)"

step "apply twice (client-side), then diff shows nothing"
cat > "$WORK/app.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: $NS
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: c
        image: nginx:1.25
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
YAML
expect "apply 1" "deployment.apps/app created" "$(k apply -f "$WORK/app.yaml")"
sed -i 's/1.25/1.26/; s/{name: B, value: "2"}/{name: C, value: "3"}/' "$WORK/app.yaml"
expect "apply 2" "deployment.apps/app configured" "$(k apply -f "$WORK/app.yaml")"
expect "apply result" 'nginx:1.26 [{"name":"A","value":"1"},{"name":"C","value":"3"}]' "$(kn get deploy app -o jsonpath='{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env}')"
k diff -f "$WORK/app.yaml" >/dev/null || { echo "FAILED: kubectl diff after apply reported differences" >&2; k diff -f "$WORK/app.yaml" >&2 || true; exit 1; }

step "apply --server-side"
sed 's/name: app$/name: ssa/; s/app: app/app: ssa/g' "$WORK/app.yaml" > "$WORK/ssa.yaml"
expect "ssa create" "deployment.apps/ssa serverside-applied" "$(k apply --server-side -f "$WORK/ssa.yaml")"
sed -i 's/replicas: 1/replicas: 3/' "$WORK/ssa.yaml"
expect "ssa update" "deployment.apps/ssa serverside-applied" "$(k apply --server-side -f "$WORK/ssa.yaml")"
expect "ssa replicas" "3" "$(kn get deploy ssa -o jsonpath='{.spec.replicas}')"

step "edit with EDITOR"
cat > "$WORK/editor.sh" <<'ED'
#!/bin/sh
sed -i 's/a: "1"/a: "edited"/' "$1"
ED
chmod +x "$WORK/editor.sh"
expect "edit" "configmap/cfg edited" "$(EDITOR="$WORK/editor.sh" KUBE_EDITOR="$WORK/editor.sh" kn edit cm cfg)"
expect "edited" "edited" "$(kn get cm cfg -o jsonpath='{.data.a}')"

step "patch of each type"
expect "merge" "patched" "$(kn patch cm cfg --type=merge -p '{"data":{"m":"merge"}}')"
expect "json" "patched" "$(kn patch cm cfg --type=json -p '[{"op":"add","path":"/data/j","value":"json"}]')"
expect "strategic" "patched" "$(kn patch deploy web -p '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"S","value":"smp"}]}]}}}}')"
expect "patched values" "merge json" "$(kn get cm cfg -o jsonpath='{.data.m} {.data.j}')"
expect "smp kept image" "nginx:1.25 smp" "$(kn get deploy web -o jsonpath='{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value}')"

step "scale, set image/env/resources, label, annotate"
expect "scale" "deployment.apps/web scaled" "$(kn scale deploy web --replicas=4)"
expect "scaled" "4" "$(kn get deploy web -o jsonpath='{.spec.replicas}')"
expect "set image" "deployment.apps/web image updated" "$(kn set image deploy/web nginx=nginx:1.27)"
expect "set env" "deployment.apps/web env updated" "$(kn set env deploy/web MODE=prod)"
expect "set resources" "deployment.apps/web resource requirements updated" "$(kn set resources deploy/web --limits=cpu=200m,memory=128Mi)"
expect "after sets" "nginx:1.27 128Mi" "$(kn get deploy web -o jsonpath='{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].resources.limits.memory}')"
expect "label" "deployment.apps/web labeled" "$(kn label deploy web tier=frontend)"
expect "annotate" "deployment.apps/web annotate" "$(kn annotate deploy web note=hello)"
expect "label removed" "deployment.apps/web unlabeled" "$(kn label deploy web tier-)"

step "explain"
expect "explain" "strategy" "$(k explain deployment.spec.strategy)"

step "delete with each propagation policy"
expect "background" "deleted" "$(kn delete cm cfg --cascade=background)"
expect "foreground" "deleted" "$(kn delete job once --cascade=foreground)"
expect "orphan" "deleted" "$(kn delete deploy app --cascade=orphan)"
if kn get cm cfg >/dev/null 2>&1; then echo "FAILED: configmap still there" >&2; exit 1; fi

step "delete the namespace"
expect "delete ns" "namespace \"$NS\" deleted" "$(k delete namespace "$NS")"
k delete priorityclass "$NS-high" >/dev/null
echo "session passed" >&2
