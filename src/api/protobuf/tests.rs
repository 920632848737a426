//! Golden bodies captured from kubectl, JSON round trips per kind, special types, bad input.

use super::*;
use serde_json::json;
use std::path::{Path, PathBuf};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/protobuf/testdata")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The bodies kubectl 1.33 POSTs (testdata/*.pb, captured by testdata/capture.py; 1.32 sends
/// the same bytes) decode to what `kubectl create … --dry-run=client -o json` prints, in the
/// same field order, and encode back to the same bytes.
#[test]
fn kubectl_bodies_decode_to_the_json_kubectl_would_send() {
    let mut checked = 0;
    for entry in std::fs::read_dir(testdata()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("pb") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let (api_version, kind, obj) = decode(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(obj["apiVersion"], api_version.as_str());
        assert_eq!(obj["kind"], kind.as_str());
        let json_path = path.with_extension("json");
        if json_path.exists() {
            let want = read_json(&json_path);
            assert_eq!(
                serde_json::to_string_pretty(&obj).unwrap(),
                serde_json::to_string_pretty(&want).unwrap(),
                "{}",
                path.display()
            );
        }
        assert_eq!(encode(&obj).unwrap(), body, "{}: re-encoding differs", path.display());
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} golden bodies");
}

#[test]
fn create_deployment_golden_fields() {
    let (av, kind, d) = decode(&std::fs::read(testdata().join("deployment.pb")).unwrap()).unwrap();
    assert_eq!((av.as_str(), kind.as_str()), ("apps/v1", "Deployment"));
    assert_eq!(d["metadata"], json!({"name": "web", "creationTimestamp": null, "labels": {"app": "web"}}));
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["ports"], json!([{"containerPort": 80}]));
    // A pointer set to zero is kept: --replicas=0 must not become the default of 1.
    let (_, _, z) = decode(&std::fs::read(testdata().join("deployment-zero.pb")).unwrap()).unwrap();
    assert_eq!(z["spec"]["replicas"], 0);
}

#[test]
fn intstr_and_bytes_in_golden_bodies() {
    let (_, _, s) = decode(&std::fs::read(testdata().join("service-clusterip.pb")).unwrap()).unwrap();
    assert_eq!(s["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(s["spec"]["ports"][1]["targetPort"], "https");
    let (_, _, pdb) = decode(&std::fs::read(testdata().join("pdb.pb")).unwrap()).unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], "50%");
    let (_, _, cm) = decode(&std::fs::read(testdata().join("configmap.pb")).unwrap()).unwrap();
    assert_eq!(cm["binaryData"]["bin.dat"], "aGVsbG8AAQL/IGJpbmFyeQ==");
    let (_, _, q) = decode(&std::fs::read(testdata().join("quota.pb")).unwrap()).unwrap();
    assert_eq!(q["spec"]["hard"]["memory"], "1G");
}

/// JSON → protobuf → JSON keeps every field of the input; the bytes are stable.
fn round_trip(input: Value) -> Value {
    let body = encode(&input).unwrap();
    assert!(body.starts_with(&MAGIC));
    let (av, kind, out) = decode(&body).unwrap();
    assert_eq!(av, input["apiVersion"].as_str().unwrap());
    assert_eq!(kind, input["kind"].as_str().unwrap());
    assert_subset(&input, &out, "");
    assert_eq!(encode(&out).unwrap(), body, "encoding the decoded object gives other bytes");
    out
}

fn assert_subset(want: &Value, got: &Value, at: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let g = g.get(k).unwrap_or_else(|| panic!("{at}.{k} lost in the round trip: {got}"));
                assert_subset(v, g, &format!("{at}.{k}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{at}: lengths differ");
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                assert_subset(w, g, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(want, got, "{at}"),
    }
}

fn stored_metadata(name: &str, ns: Option<&str>) -> Value {
    let mut m = json!({
        "name": name,
        "uid": "7d5a1f44-9a53-4b0e-9d0e-0c4f5b3b2a10",
        "resourceVersion": "42",
        "generation": 2,
        "creationTimestamp": "2024-01-02T03:04:05Z",
        "labels": {"app": "web", "tier": "frontend"},
        "annotations": {"deployment.kubernetes.io/revision": "1"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Thing", "name": "owner", "uid": "u-1", "controller": true, "blockOwnerDeletion": true}],
        "finalizers": ["example.com/keep"],
        "managedFields": [{
            "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
            "time": "2024-01-02T03:04:05Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
        }]
    });
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

fn pod_template() -> Value {
    json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": [{
                "name": "web",
                "image": "nginx:1.27",
                "command": ["nginx"],
                "args": ["-g", "daemon off;"],
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}
                ],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"}, "initialDelaySeconds": 3, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5},
                "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}},
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}],
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
            }],
            "volumes": [
                {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420, "items": [{"key": "a", "path": "a.txt"}]}}
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "automountServiceAccountToken": false,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "securityContext": {},
            "schedulerName": "default-scheduler"
        }
    })
}

#[test]
fn deployment_round_trip() {
    let out = round_trip(json!({
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": stored_metadata("web", Some("default")),
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]},
            "template": pod_template(),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        },
        "status": {
            "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2024-01-02T03:04:06Z", "lastTransitionTime": "2024-01-02T03:04:06Z", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}]
        }
    }));
    // The order of the JSON is Go's: kind, apiVersion, metadata, spec, status.
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec", "status"]);
    // Go writes value structs even when empty.
    assert_eq!(out["spec"]["template"]["metadata"]["creationTimestamp"], Value::Null);
}

#[test]
fn service_round_trip_with_int_and_string_target_ports() {
    let out = round_trip(json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": stored_metadata("web", Some("default")),
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080},
                {"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https"}
            ],
            "selector": {"app": "web"},
            "clusterIP": "10.43.0.20",
            "clusterIPs": ["10.43.0.20"],
            "type": "NodePort",
            "sessionAffinity": "None",
            "externalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster"
        },
        "status": {"loadBalancer": {}}
    }));
    assert_eq!(out["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(out["spec"]["ports"][1]["targetPort"], "https");
}

#[test]
fn configmap_secret_namespace_round_trips() {
    round_trip(json!({
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": stored_metadata("cfg", Some("default")),
        "data": {"a": "b", "z": "", "key.two": "line1\nline2"},
        "binaryData": {"bin": "AAEC/w=="},
        "immutable": false
    }));
    let secret = round_trip(json!({
        "kind": "Secret", "apiVersion": "v1",
        "metadata": stored_metadata("s", Some("default")),
        "data": {"bin": "AP8AAQID", "empty": "", "user": "YWRtaW4="},
        "type": "Opaque"
    }));
    assert_eq!(secret["data"]["empty"], "");
    round_trip(json!({
        "kind": "Namespace", "apiVersion": "v1",
        "metadata": stored_metadata("team-a", None),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active", "conditions": [{"type": "NamespaceDeletionContentFailure", "status": "False", "lastTransitionTime": "2024-01-02T03:04:05Z", "reason": "ContentDeleted", "message": "All content successfully deleted"}]}
    }));
}

#[test]
fn job_cronjob_hpa_priorityclass_round_trips() {
    let mut template = pod_template();
    template["spec"]["restartPolicy"] = json!("Never");
    round_trip(json!({
        "kind": "Job", "apiVersion": "batch/v1",
        "metadata": stored_metadata("pi", Some("default")),
        "spec": {
            "parallelism": 1, "completions": 1, "backoffLimit": 0, "activeDeadlineSeconds": 600,
            "manualSelector": false, "suspend": false, "completionMode": "NonIndexed",
            "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 42]}}]},
            "template": template
        },
        "status": {"startTime": "2024-01-02T03:04:05Z", "active": 1, "ready": 0, "uncountedTerminatedPods": {}}
    }));
    round_trip(json!({
        "kind": "CronJob", "apiVersion": "batch/v1",
        "metadata": stored_metadata("nightly", Some("default")),
        "spec": {
            "schedule": "*/5 * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid", "suspend": false,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"job": "nightly"}}, "spec": {"backoffLimit": 6, "template": template}}
        },
        "status": {"lastScheduleTime": "2024-01-02T03:05:00Z", "active": [{"kind": "Job", "namespace": "default", "name": "nightly-1", "uid": "u"}]}
    }));
    round_trip(json!({
        "kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1",
        "metadata": stored_metadata("web", Some("default")),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
        "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 12, "lastScaleTime": "2024-01-02T03:04:05Z"}
    }));
    round_trip(json!({
        "kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
        "metadata": stored_metadata("web", Some("default")),
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
        }
    }));
    let pc = round_trip(json!({
        "kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1",
        "metadata": stored_metadata("high", None),
        "value": 0, "description": "x", "preemptionPolicy": "Never"
    }));
    // value is a non-pointer int32 without omitempty: Go always writes it.
    assert_eq!(pc["value"], 0);
}

#[test]
fn micro_time_raw_extension_and_other_kinds() {
    let lease = round_trip(json!({
        "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
        "metadata": stored_metadata("node-1", Some("kube-node-lease")),
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2024-01-02T03:04:05.123456Z", "acquireTime": "2024-01-02T03:04:05.000000Z"}
    }));
    assert_eq!(lease["spec"]["renewTime"], "2024-01-02T03:04:05.123456Z");
    let rev = round_trip(json!({
        "kind": "ControllerRevision", "apiVersion": "apps/v1",
        "metadata": stored_metadata("web-5d4f", Some("default")),
        "data": {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
        "revision": 3
    }));
    assert_eq!(rev["data"]["spec"]["template"]["spec"]["containers"][0]["image"], "nginx");
    round_trip(json!({
        "kind": "Event", "apiVersion": "events.k8s.io/v1",
        "metadata": stored_metadata("web.17a", Some("default")),
        "eventTime": "2024-01-02T03:04:05.654321Z", "reportingController": "kubelet", "reportingInstance": "node-1",
        "action": "Pulling", "reason": "Pulling", "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
        "note": "Pulling image", "type": "Normal",
        "series": {"count": 2, "lastObservedTime": "2024-01-02T03:04:06.000001Z"}
    }));
    round_trip(json!({
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": stored_metadata("web-abc", Some("default")),
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.42.0.5"], "conditions": {"ready": true, "serving": true, "terminating": false}, "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "web", "namespace": "default"}}],
        "ports": [{"name": "http", "protocol": "TCP", "port": 80}]
    }));
    round_trip(json!({
        "kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
        "metadata": stored_metadata("ing", Some("default")),
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "foo.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    }));
    round_trip(json!({
        "kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": stored_metadata("view", None),
        "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-view": "true"}}]}
    }));
    round_trip(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "deployments.apps \"x\" not found", "reason": "NotFound",
        "details": {"name": "x", "group": "apps", "kind": "deployments"}, "code": 404
    }));
    round_trip(
        json!({"kind": "DeleteOptions", "apiVersion": "apps/v1", "propagationPolicy": "Foreground", "gracePeriodSeconds": 0, "dryRun": ["All"]}),
    );
    round_trip(json!({
        "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9", "continue": "abc", "remainingItemCount": 3},
        "items": [{"metadata": {"name": "a", "namespace": "default"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": "Pending", "startTime": "2024-01-02T03:04:05Z"}}]
    }));
}

#[test]
fn inline_structs_are_nested_on_the_wire_and_flat_in_json() {
    // Volume embeds VolumeSource (field 2); Probe embeds ProbeHandler (field 1).
    let pod = json!({
        "kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "livenessProbe": {"exec": {"command": ["true"]}}}], "volumes": [{"name": "v", "hostPath": {"path": "/tmp", "type": "Directory"}}]}
    });
    let out = round_trip(pod);
    assert_eq!(out["spec"]["volumes"][0], json!({"name": "v", "hostPath": {"path": "/tmp", "type": "Directory"}}));
}

#[test]
fn go_json_rules_for_unset_fields() {
    // Only what a minimal client sends: name and one container.
    let (_, _, out) = decode(
        &encode(&json!({
            "kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}]}
        }))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "resources": {}}]},
            "status": {}
        })
    );
}

#[test]
fn every_kind_the_server_serves_has_a_message() {
    let served = [
        (
            "v1",
            &[
                "Namespace",
                "Pod",
                "Service",
                "Endpoints",
                "ConfigMap",
                "Secret",
                "ServiceAccount",
                "Event",
                "Node",
                "LimitRange",
                "ResourceQuota",
                "PersistentVolume",
                "PersistentVolumeClaim",
                "ReplicationController",
                "Binding",
                "PodList",
                "Status",
                "DeleteOptions",
            ][..],
        ),
        ("apps/v1", &["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ControllerRevision", "DeploymentList"]),
        ("batch/v1", &["Job", "CronJob"]),
        ("autoscaling/v1", &["HorizontalPodAutoscaler", "Scale"]),
        ("autoscaling/v2", &["HorizontalPodAutoscaler"]),
        ("scheduling.k8s.io/v1", &["PriorityClass"]),
        ("coordination.k8s.io/v1", &["Lease"]),
        ("events.k8s.io/v1", &["Event"]),
        ("discovery.k8s.io/v1", &["EndpointSlice"]),
        ("networking.k8s.io/v1", &["Ingress", "IngressClass", "NetworkPolicy"]),
        ("policy/v1", &["PodDisruptionBudget", "Eviction"]),
        ("rbac.authorization.k8s.io/v1", &["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]),
        ("storage.k8s.io/v1", &["StorageClass"]),
        ("meta.k8s.io/v1", &["DeleteOptions", "PartialObjectMetadataList"]),
    ];
    for (api_version, kinds) in served {
        for kind in kinds {
            assert!(supports(api_version, kind), "{api_version} {kind}");
            // The zero object of every kind encodes and decodes.
            let (av, k, _) = decode(&encode(&json!({"apiVersion": api_version, "kind": kind})).unwrap()).unwrap();
            assert_eq!((av.as_str(), k.as_str()), (api_version, *kind));
        }
    }
}

#[test]
fn invalid_utf8_becomes_the_replacement_character_as_in_go() {
    let body = encode(&json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"k": "AB"}})).unwrap();
    let i = body.windows(2).position(|w| w == b"AB").unwrap();
    let mut bad = body.clone();
    bad[i] = 0xff;
    let (_, _, cm) = decode(&bad).unwrap();
    assert_eq!(cm["data"]["k"], "\u{fffd}B");
}

#[test]
fn watch_event_frames() {
    let obj = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c", "creationTimestamp": null}, "data": {"a": "b"}});
    let frame = encode_watch_event("ADDED", &obj).unwrap();
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(len, frame.len() - 4);
    let event =
        decode::object(schema::by_name("k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent").unwrap(), &frame[4..], 0)
            .unwrap();
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"], obj);
}

#[test]
fn errors_name_the_problem() {
    assert_eq!(decode(b"{\"kind\":\"Pod\"}").unwrap_err(), Error::NoMagic);
    assert_eq!(decode(b"k8s\0").unwrap_err(), Error::MissingKind);
    let mut body = encode(&json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}})).unwrap();
    let unknown = encode(&json!({"kind": "ConfigMap", "apiVersion": "v1"})).unwrap();
    let unknown = String::from_utf8_lossy(&unknown).replace("ConfigMap", "ConfigMop").into_bytes();
    assert_eq!(decode(&unknown).unwrap_err().to_string(), "no kind \"ConfigMop\" is registered for version \"v1\"");
    // ConfigMap.metadata (field 1) given as a varint.
    let raw = vec![0x08, 0x01];
    let mut bad = Vec::new();
    bad.extend_from_slice(&MAGIC);
    let mut tm = Vec::new();
    wire::put_bytes(&mut tm, 1, b"v1");
    wire::put_bytes(&mut tm, 2, b"ConfigMap");
    wire::put_bytes(&mut bad, 1, &tm);
    wire::put_bytes(&mut bad, 2, &raw);
    assert_eq!(decode(&bad).unwrap_err().to_string(), "proto: ConfigMap.metadata: wrong wireType = 0");
    body.truncate(body.len() - 7);
    assert!(decode(&body).is_err());
    let err = encode(&json!({"kind": "Deployment", "apiVersion": "apps/v1", "spec": {"replicas": "3"}})).unwrap_err();
    assert_eq!(err.to_string(), "encoding Deployment.spec.replicas as protobuf: expected an integer, got a string");
    assert!(matches!(
        encode(&json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1"})),
        Err(Error::UnknownKind { .. })
    ));
    assert!(supports("apps/v1", "Deployment") && supports("v1", "Status") && !supports("meta.k8s.io/v1", "Table"));
}

#[test]
fn random_truncated_and_mutated_bodies_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b38_7300);
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(testdata()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("pb") {
            bodies.push(std::fs::read(path).unwrap());
        }
    }
    for body in &bodies {
        for cut in 0..body.len() {
            let _ = decode(&body[..cut]);
        }
        for _ in 0..300 {
            let mut b = body.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..b.len());
                match rng.random_range(0..3) {
                    0 => b[i] = rng.random(),
                    1 => b[i] ^= 1 << rng.random_range(0..8),
                    _ => {
                        b.insert(i, rng.random());
                    }
                }
            }
            if let Ok((_, _, v)) = decode(&b) {
                // Whatever decodes must encode again.
                let _ = encode(&v);
            }
        }
    }
    for _ in 0..2000 {
        let len = rng.random_range(0..256);
        let mut b: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if rng.random_bool(0.5) {
            b.splice(0..0, MAGIC);
        }
        let _ = decode(&b);
    }
}

/// Every kind of upstream's own round-trip fixtures (kubernetes/api testdata/HEAD, every field
/// set): the .pb decodes to the .json and the .json encodes to the .pb. Opt-in: set
/// K8S_API_TESTDATA to that directory of a kubernetes/api checkout at the served version.
#[test]
fn upstream_fixtures_when_available() {
    let Ok(dir) = std::env::var("K8S_API_TESTDATA") else { return };
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("pb") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let want = read_json(&path.with_extension("json"));
        let (av, kind) = (want["apiVersion"].as_str().unwrap_or(""), want["kind"].as_str().unwrap_or(""));
        if !supports(av, kind) {
            continue;
        }
        checked += 1;
        match decode(&body) {
            Ok((_, _, got)) if serde_json::to_string(&got).unwrap() == serde_json::to_string(&want).unwrap() => {}
            Ok((_, _, got)) => failures.push(format!("{}: decoded JSON differs:\n{got}", path.display())),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
        match encode(&want) {
            Ok(b) if b == body => {}
            Ok(_) => failures.push(format!("{}: encoded bytes differ", path.display())),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{} of {checked} fixtures failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{checked} upstream fixtures decoded and encoded");
}
