use super::*;
use crate::registry;

fn def(group: &str, version: &str, plural: &str) -> &'static ResourceDef {
    registry::find(group, version, plural).unwrap_or_else(|| panic!("{group}/{version} {plural} is not served"))
}

fn unknown(d: &ResourceDef, v: Value) -> Vec<String> {
    unknown_fields(d, &v)
}

// --- the field sets ---------------------------------------------------------------------------

#[test]
fn every_served_kind_has_its_field_set() {
    for d in registry::all() {
        assert!(root(d).is_some(), "no field set for {} {}", d.api_version(), d.kind);
    }
}

#[test]
fn default_values_of_every_kind_have_no_unknown_fields() {
    for &gvk in KINDS {
        let v = typed_default(gvk).unwrap();
        let id = schemas().kinds[&gvk];
        assert_eq!(prune_at(id, &mut v.clone()), Vec::<String>::new(), "{gvk:?}: {v}");
    }
}

/// Every field of the node (one item per list and map), recursively; with `inject`, each
/// struct also gets a field its type does not have, and `injected` lists where.
fn generate(
    s: &Schemas,
    id: NodeId,
    depth: usize,
    inject: bool,
    path: &mut String,
    injected: &mut Vec<String>,
) -> Value {
    match &s.nodes[id] {
        Node::Any => json!({"raw": {"anything": [1, "x"]}}),
        Node::Free => json!({}),
        Node::Scalar(sc) => match sc {
            Scalar::String => json!("s"),
            Scalar::Bytes => json!("YWJj"),
            Scalar::DateTime => json!("2024-01-02T03:04:05Z"),
            Scalar::Integer => json!(1),
            Scalar::Number => json!(1.5),
            Scalar::Boolean => json!(true),
            Scalar::IntOrString => json!("1"),
        },
        Node::Struct(props) => {
            let mut m = Map::new();
            if depth < 24 {
                for (k, &c) in props {
                    // k8s-openapi checks an embedded resource's apiVersion and kind against its
                    // type (StatefulSet.spec.volumeClaimTemplates); Go takes any string.
                    let embedded = depth > 0 && props.contains_key("metadata");
                    if embedded && (k == "apiVersion" || k == "kind") {
                        continue;
                    }
                    let len = push_key(path, k);
                    m.insert(k.clone(), generate(s, c, depth + 1, inject, path, injected));
                    path.truncate(len);
                }
            }
            if inject {
                let len = push_key(path, "zzUnknown");
                injected.push(path.clone());
                path.truncate(len);
                m.insert("zzUnknown".into(), json!({"x": [1]}));
            }
            Value::Object(m)
        }
        Node::Map(c) => {
            let len = push_key(path, "key");
            let v = generate(s, *c, depth + 1, inject, path, injected);
            path.truncate(len);
            json!({ "key": v })
        }
        Node::List(c) => {
            let len = push_index(path, 0);
            let v = generate(s, *c, depth + 1, inject, path, injected);
            path.truncate(len);
            json!([v])
        }
    }
}

fn full_object(gvk: (&str, &str, &str), inject: bool) -> (Value, Vec<String>) {
    let s = schemas();
    let mut injected = Vec::new();
    let mut v = generate(s, s.kinds[&gvk], 0, inject, &mut String::new(), &mut injected);
    let av = if gvk.0.is_empty() { gvk.1.to_string() } else { format!("{}/{}", gvk.0, gvk.1) };
    v["apiVersion"] = json!(av);
    v["kind"] = json!(gvk.2);
    (v, injected)
}

/// The keys of `input` (paths as upstream writes them) that `output` lacks.
fn missing(input: &Value, output: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let len = push_key(path, k);
                match b.get(k) {
                    Some(w) => missing(v, w, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                let len = push_index(path, i);
                missing(v, w, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The field sets agree with k8s-openapi's serde impls: a typed client keeps every field of
/// an object with every field set, and drops exactly the fields reported unknown.
#[test]
fn field_sets_agree_with_the_typed_structs_for_every_kind() {
    for &gvk in KINDS {
        let id = schemas().kinds[&gvk];
        let (full, _) = full_object(gvk, false);
        let typed = typed_round_trip(gvk, &full).unwrap_or_else(|e| panic!("{gvk:?} does not decode: {e}\n{full}"));
        let mut lost = Vec::new();
        missing(&full, &typed, &mut String::new(), &mut lost);
        assert_eq!(lost, Vec::<String>::new(), "{gvk:?}: fields the typed struct does not keep");
        assert_eq!(prune_at(id, &mut full.clone()), Vec::<String>::new(), "{gvk:?}");
        let body = serde_json::to_vec(&full).unwrap();
        assert_eq!(scan(id, &body), Vec::<String>::new(), "{gvk:?}");

        let (dirty, injected) = full_object(gvk, true);
        assert!(injected.len() > 3, "{gvk:?}");
        let typed = typed_round_trip(gvk, &dirty).unwrap();
        let mut lost = Vec::new();
        missing(&dirty, &typed, &mut String::new(), &mut lost);
        let mut pruned = dirty.clone();
        let found = prune_at(id, &mut pruned);
        assert_eq!(found, injected, "{gvk:?}");
        let mut sorted_lost = lost.clone();
        sorted_lost.sort();
        let mut sorted_found = found.clone();
        sorted_found.sort();
        assert_eq!(sorted_found, sorted_lost, "{gvk:?}: reported unknown vs dropped by the typed struct");
        assert_eq!(pruned, full, "{gvk:?}: pruning leaves the object as it was otherwise");
        let body = serde_json::to_vec(&dirty).unwrap();
        let want: Vec<String> = injected.iter().take(MAX_STRICT_ERRORS).map(|p| unknown_error(p)).collect();
        assert_eq!(scan(id, &body), want, "{gvk:?}");
    }
}

// --- kinds as users write them ----------------------------------------------------------------

#[test]
fn pods_with_containers_env_volumes_and_probes() {
    let pods = def("", "v1", "pods");
    let valid = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app.kubernetes.io/name": "x"}, "annotations": {"a": "b"},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u", "controller": true}],
                     "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}}}}}}]},
        "spec": {
            "containers": [{
                "name": "c", "image": "nginx", "imagePullPolicy": "IfNotPresent",
                "command": ["sh"], "args": ["-c", "x"],
                "env": [{"name": "A", "value": "1"},
                        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": true}}}],
                "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"}],
                "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 1}},
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true, "subPath": "x"}],
                "livenessProbe": {"httpGet": {"path": "/", "port": "http", "httpHeaders": [{"name": "h", "value": "v"}]},
                                  "initialDelaySeconds": 3, "periodSeconds": 5},
                "readinessProbe": {"exec": {"command": ["true"]}},
                "startupProbe": {"tcpSocket": {"port": 80}, "failureThreshold": 30},
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                "securityContext": {"runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}, "privileged": false}
            }],
            "initContainers": [{"name": "init", "image": "busybox", "restartPolicy": "Always"}],
            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "cm", "configMap": {"name": "cm", "items": [{"key": "k", "path": "p"}], "defaultMode": 420}},
                        {"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}},
                        {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}}},
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "serviceAccount": "default", "securityContext": {}, "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort",
                   "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2024-01-01T00:00:00Z"}],
                   "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "image": "nginx", "imageID": "",
                                          "started": false, "state": {"waiting": {"reason": "ContainerCreating"}}}]}
    });
    assert_eq!(unknown(pods, valid.clone()), Vec::<String>::new());

    let mut bad = valid.clone();
    bad["spec"]["containers"][0]["imagee"] = json!("nginx");
    bad["spec"]["containers"][0]["env"][1]["valueFrom"]["fieldRef"]["path"] = json!("x");
    bad["spec"]["volumes"][1]["configMap"]["item"] = json!([]);
    bad["spec"]["containers"][0]["livenessProbe"]["httpGet"]["host "] = json!(null);
    bad["metadata"]["labelz"] = json!({"a": "b"});
    bad["spec"]["initContainers"][0]["Image"] = json!("busybox");
    assert_eq!(
        unknown(pods, bad.clone()),
        [
            "metadata.labelz",
            "spec.containers[0].env[1].valueFrom.fieldRef.path",
            "spec.containers[0].livenessProbe.httpGet.host ",
            "spec.containers[0].imagee",
            "spec.initContainers[0].Image",
            "spec.volumes[1].configMap.item",
        ]
    );
    let mut cleaned = bad.clone();
    prune(pods, &mut cleaned);
    assert_eq!(cleaned, valid, "only the unknown keys go; everything else stays as sent");
}

#[test]
fn deployments_services_cronjobs_hpas_and_events() {
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "foo": 1, "selector": {"matchLabels": {"app": "web"}, "matchLabel": {}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx", "imagee": "x"}]}}}});
    assert_eq!(
        unknown(def("apps", "v1", "deployments"), deploy),
        ["spec.foo", "spec.selector.matchLabel", "spec.template.spec.containers[0].imagee"]
    );

    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"type": "NodePort", "selector": {"app": "x"}, "clusterIP": "10.43.0.5", "clusterIPs": ["10.43.0.5"],
                 "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                 "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080, "protocol": "TCP", "appProtocol": "http"}]},
        "status": {"loadBalancer": {}}});
    assert_eq!(unknown(def("", "v1", "services"), svc.clone()), Vec::<String>::new());
    let mut bad = svc;
    bad["spec"]["ports"][0]["targetport"] = json!(80);
    bad["status"]["loadBalancer"]["ingres"] = json!([]);
    assert_eq!(unknown(def("", "v1", "services"), bad), ["spec.ports[0].targetport", "status.loadBalancer.ingres"]);

    let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
        "spec": {"schedule": "*/1 * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                 "jobTemplate": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"backoffLimit": 2, "ttlSecondsAfterFinished": 10,
                                          "template": {"spec": {"restartPolicy": "OnFailure",
                                                                "containers": [{"name": "c", "image": "busybox", "comand": ["date"]}]}}}}}});
    assert_eq!(
        unknown(def("batch", "v1", "cronjobs"), cj),
        ["spec.jobTemplate.spec.template.spec.containers[0].comand"]
    );
    let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
        "spec": {"schedule": "@hourly", "jobTemplate": {"apiVersion": "batch/v1", "spec": {"template": {"spec": {"containers": []}}}}}});
    assert_eq!(unknown(def("batch", "v1", "cronjobs"), cj), ["spec.jobTemplate.apiVersion"]);

    let hpa1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80}});
    assert_eq!(unknown(def("autoscaling", "v1", "horizontalpodautoscalers"), hpa1.clone()), Vec::<String>::new());
    // v2's fields are not v1's.
    let mut hpa = hpa1;
    hpa["spec"]["metrics"] = json!([{"type": "Resource"}]);
    assert_eq!(unknown(def("autoscaling", "v1", "horizontalpodautoscalers"), hpa.clone()), ["spec.metrics"]);
    hpa["apiVersion"] = json!("autoscaling/v2");
    assert_eq!(
        unknown(def("autoscaling", "v2", "horizontalpodautoscalers"), hpa),
        ["spec.targetCPUUtilizationPercentage"]
    );

    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
        "eventTime": "2024-01-02T03:04:05.000000Z", "reportingController": "c", "reportingInstance": "i",
        "action": "Created", "reason": "Created", "type": "Normal", "note": "n",
        "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
        "series": {"count": 2, "lastObservedTime": "2024-01-02T03:04:05.000000Z"},
        "deprecatedCount": 1, "deprecatedSource": {"component": "k"}});
    assert_eq!(unknown(def("events.k8s.io", "v1", "events"), ev.clone()), Vec::<String>::new());
    // core/v1 Event's fields are not events.k8s.io/v1's, and the other way round.
    let mut core = ev;
    core["message"] = json!("m");
    assert_eq!(unknown(def("events.k8s.io", "v1", "events"), core.clone()), ["message"]);
    core["apiVersion"] = json!("v1");
    let got = unknown(def("", "v1", "events"), core);
    assert!(got.contains(&"note".to_string()) && got.contains(&"regarding".to_string()), "{got:?}");
}

#[test]
fn maps_raw_extensions_nulls_and_mismatched_types() {
    let cm = def("", "v1", "configmaps");
    // Map keys are data, not fields; a null unknown field is still unknown (Go reports the key).
    assert_eq!(
        unknown(
            cm,
            json!({"metadata": {"name": "x", "labels": {"spec.foo": "1"}}, "data": {"anything": "v"}, "bogus": null})
        ),
        ["bogus"]
    );
    // Known fields with null values are fine.
    assert_eq!(unknown(cm, json!({"metadata": {"name": "x", "labels": null}, "data": null})), Vec::<String>::new());
    // A value of the wrong type is the decoder's business (Go answers a type error), not an unknown field.
    assert_eq!(unknown(cm, json!({"metadata": "x", "data": [1, {"y": 2}]})), Vec::<String>::new());
    // ControllerRevision.data is a RawExtension: anything goes inside.
    let cr = def("apps", "v1", "controllerrevisions");
    assert_eq!(
        unknown(cr, json!({"metadata": {"name": "r"}, "revision": 1, "data": {"spec": {"whatever": {"x": 1}}}})),
        Vec::<String>::new()
    );
}

// --- raw JSON bodies --------------------------------------------------------------------------

#[test]
fn json_bodies_report_unknown_and_duplicate_fields_in_document_order() {
    let d = def("apps", "v1", "deployments");
    let body = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1","a":"2"}},
        "spec":{"replicas":1,"foo":1,"replicas":2,"foo":2,"template":{"spec":{"containers":[{"name":"c","imagee":"x","name":"d"}]}},"bar":null}}"#;
    assert_eq!(
        scan_json_body(d, body).unwrap(),
        [
            r#"duplicate field "metadata.labels.a""#,
            r#"unknown field "spec.foo""#,
            r#"duplicate field "spec.replicas""#,
            r#"unknown field "spec.template.spec.containers[0].imagee""#,
            r#"duplicate field "spec.template.spec.containers[0].name""#,
            r#"unknown field "spec.bar""#,
        ]
    );
    // Nothing is looked at inside an unknown field or a RawExtension.
    let cr = def("apps", "v1", "controllerrevisions");
    assert_eq!(
        scan_json_body(cr, br#"{"data":{"a":1,"a":2},"x":{"b":1,"b":2},"revision":1}"#).unwrap(),
        [r#"unknown field "x""#]
    );
    // Not JSON: the decoder answers that.
    assert_eq!(scan_json_body(d, b"{\"spec\":").unwrap(), Vec::<String>::new());
    // Paths are quoted as strconv.Quote does.
    assert_eq!(
        scan_json_body(d, "{\"spec\":{\"f\\\"o\\u00e9\\n\":1}}".as_bytes()).unwrap(),
        ["unknown field \"spec.f\\\"oé\\n\""]
    );
}

#[test]
fn json_bodies_stop_at_a_hundred_errors() {
    let d = def("", "v1", "configmaps");
    let fields: Vec<String> = (0..150).map(|i| format!("\"f{i}\":1")).collect();
    let body = format!("{{\"metadata\":{{\"name\":\"x\"}},{}}}", fields.join(","));
    let errs = scan_json_body(d, body.as_bytes()).unwrap();
    assert_eq!(errs.len(), 100);
    assert_eq!(errs[99], r#"unknown field "f99""#);
}

#[test]
fn patch_documents() {
    assert_eq!(
        scan_patch(
            PatchType::Json,
            br#"[{"op":"add","path":"/a","value":{"x":1,"x":2},"valu":1},{"op":"remove","op":"x","path":"/b"}]"#
        ),
        [r#"json patch unknown field "[0].valu""#, r#"json patch duplicate field "[1].op""#]
    );
    assert_eq!(
        scan_patch(PatchType::Merge, br#"{"spec":{"replicas":1,"replicas":2,"template":{"x":[{"a":1,"a":1}]}}}"#),
        [r#"duplicate field "spec.replicas""#, r#"duplicate field "spec.template.x[0].a""#]
    );
    assert_eq!(scan_patch(PatchType::Strategic, br#"{"spec":{"foo":1}}"#), Vec::<String>::new());
    assert_eq!(scan_patch(PatchType::Apply, br#"{"a":1,"a":2}"#), Vec::<String>::new());
}

// --- raw YAML bodies --------------------------------------------------------------------------

#[test]
fn yaml_repeated_keys_keep_the_last_value_and_name_their_lines() {
    let body = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  replicas: 3\n  selector:\n    matchLabels: {app: web}\n  selector:\n    matchLabels:\n      app: web2\n  template: {}\n";
    let (v, errs) = decode_yaml(body.as_bytes()).unwrap();
    assert_eq!(v["spec"]["replicas"], 3);
    assert_eq!(v["spec"]["selector"], json!({"matchLabels": {"app": "web2"}}));
    assert_eq!(
        errs,
        ["yaml: unmarshal errors:\n  line 7: key \"replicas\" already set in map\n  line 11: key \"selector\" already set in map"]
    );
    // Nested repeats come before their parent's, as goyaml finds them; items of lists too.
    let body = "a:\n  - x: 1\n    x: 2\n  - [1, 2]\na:\n  b: 1\n  b: {}\nc: ~\nc:\n";
    let (v, errs) = decode_yaml(body.as_bytes()).unwrap();
    assert_eq!(v, json!({"a": {"b": {}}, "c": null}));
    assert_eq!(
        errs,
        ["yaml: unmarshal errors:\n  line 3: key \"x\" already set in map\n  line 7: key \"b\" already set in map\n  line 6: key \"a\" already set in map\n  line 9: key \"c\" already set in map"]
    );
    let (v, errs) = decode_yaml(b"a: 1\nb: [1, {c: d}]\n").unwrap();
    assert_eq!(v, json!({"a": 1, "b": [1, {"c": "d"}]}));
    assert!(errs.is_empty());
    assert!(decode_yaml(b"a: [").is_err());
}

// --- checks and their messages ----------------------------------------------------------------

fn strict() -> FieldValidation {
    FieldValidation::new(Directive::Strict)
}

#[test]
fn strict_create_is_a_bad_request_worded_as_the_decoder_words_it() {
    let d = def("apps", "v1", "deployments");
    let mut obj =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"foo": 1}});
    let e = check_body(d, &mut obj, &strict()).unwrap_err();
    assert_eq!((e.code, e.reason), (400, "BadRequest"));
    assert_eq!(
        e.message,
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo""#
    );
    let mut obj = json!({"spec": {"a": 1, "b": 2}});
    let e = check_body(d, &mut obj, &strict()).unwrap_err();
    assert_eq!(
        e.message,
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.a", unknown field "spec.b""#
    );
    // The scanned body's list (duplicates included) is what is reported.
    let fv = FieldValidation {
        directive: Directive::Strict,
        body_errors: Some(vec![r#"duplicate field "spec.replicas""#.into()]),
    };
    let e = check_body(d, &mut json!({"spec": {"replicas": 2}}), &fv).unwrap_err();
    assert!(e.message.ends_with(r#"strict decoding error: duplicate field "spec.replicas""#), "{}", e.message);
    let hpa = def("autoscaling", "v1", "horizontalpodautoscalers");
    let e = check_body(hpa, &mut json!({"spec": {"metrics": []}}), &strict()).unwrap_err();
    assert_eq!(
        e.message,
        r#"HorizontalPodAutoscaler in version "v1" cannot be handled as a HorizontalPodAutoscaler: strict decoding error: unknown field "spec.metrics""#
    );
}

#[tokio::test]
async fn warn_and_ignore_drop_the_fields_and_warn_or_not() {
    let d = def("apps", "v1", "deployments");
    let body = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "foo": 1, "bar": {"x": 1}}});
    let (res, warnings) = with_warnings(async {
        let mut obj = body.clone();
        check_body(d, &mut obj, &FieldValidation::new(Directive::Warn)).map(|_| obj)
    })
    .await;
    assert_eq!(res.unwrap(), json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}}));
    assert_eq!(warnings, [r#"unknown field "spec.foo""#, r#"unknown field "spec.bar""#]);
    assert_eq!(
        warning_headers(&warnings),
        [r#"299 - "unknown field \"spec.foo\"""#, r#"299 - "unknown field \"spec.bar\"""#]
    );

    let (res, warnings) = with_warnings(async {
        let mut obj = body.clone();
        check_body(d, &mut obj, &FieldValidation::new(Directive::Ignore)).map(|_| obj)
    })
    .await;
    assert_eq!(res.unwrap(), json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}}));
    assert!(warnings.is_empty());

    // YAML errors become one warning per line; repeats are warned once.
    let (_, warnings) = with_warnings(async {
        let fv = FieldValidation {
            directive: Directive::Warn,
            body_errors: Some(vec![
                "yaml: unmarshal errors:\n  line 3: key \"a\" already set in map\n  line 4: key \"b\" already set in map".into(),
                r#"unknown field "spec.foo""#.into(),
            ]),
        };
        check_body(d, &mut json!({"spec": {"foo": 1}}), &fv).unwrap();
        check_body(d, &mut json!({"spec": {"foo": 1}}), &FieldValidation::new(Directive::Warn)).unwrap();
    })
    .await;
    assert_eq!(
        warnings,
        [
            r#"line 3: key "a" already set in map"#,
            r#"line 4: key "b" already set in map"#,
            r#"unknown field "spec.foo""#
        ]
    );
}

#[test]
fn strict_patches_are_invalid_with_the_patch_in_the_message() {
    let d = def("apps", "v1", "deployments");
    let patch = json!({"spec": {"foo": 1, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}});
    let mut patched = json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "web"},
                             "spec": {"replicas": 1, "foo": 1, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}});
    let e = check_patch(d, &mut patched.clone(), PatchType::Strategic, &patch, &strict()).unwrap_err();
    assert_eq!((e.code, e.reason), (422, "Invalid"));
    assert_eq!(
        e.message,
        r#" "" is invalid: patch: Invalid value: "map[spec:map[foo:1 template:map[spec:map[containers:[map[imagee:x name:c]]]]]]": strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].imagee""#
    );
    assert_eq!(
        e.details.as_ref().unwrap(),
        &json!({"causes": [{"reason": "FieldValueInvalid", "field": "patch",
                            "message": r#"Invalid value: "map[spec:map[foo:1 template:map[spec:map[containers:[map[imagee:x name:c]]]]]]": strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].imagee""#}]})
    );
    let fv = FieldValidation {
        directive: Directive::Strict,
        body_errors: Some(vec![r#"duplicate field "spec.replicas""#.into()]),
    };
    let e = check_patch(d, &mut patched.clone(), PatchType::Merge, &patch, &fv).unwrap_err();
    assert_eq!(
        e.message,
        r#" "" is invalid: patch: Invalid value: "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"foo\":1,\"replicas\":1,\"template\":{\"spec\":{\"containers\":[{\"imagee\":\"x\",\"name\":\"c\"}]}}}}": strict decoding error: duplicate field "spec.replicas", unknown field "spec.foo", unknown field "spec.template.spec.containers[0].imagee""#
    );
    // Apply patches are server-side apply's to check.
    check_patch(d, &mut patched.clone(), PatchType::Apply, &patch, &strict()).unwrap();
    // Warn drops them.
    check_patch(d, &mut patched, PatchType::Json, &json!([]), &FieldValidation::new(Directive::Warn)).unwrap();
    assert_eq!(patched["spec"], json!({"replicas": 1, "template": {"spec": {"containers": [{"name": "c"}]}}}));
}

#[test]
fn directives_and_their_errors() {
    assert_eq!(Directive::from_query(None), Some(Directive::Warn));
    assert_eq!(Directive::from_query(Some("")), Some(Directive::Warn));
    assert_eq!(Directive::from_query(Some("Strict")), Some(Directive::Strict));
    assert_eq!(Directive::from_query(Some("Ignore")), Some(Directive::Ignore));
    assert_eq!(Directive::from_query(Some("strict")), None);
    let e = Directive::check_query(Some("strict"), "CreateOptions").unwrap_err();
    assert_eq!((e.code, e.reason), (422, "Invalid"));
    assert_eq!(
        e.message,
        r#"CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#
    );
    assert_eq!(e.details.as_ref().unwrap()["kind"], "CreateOptions");
    assert_eq!(e.details.as_ref().unwrap()["causes"][0]["reason"], "FieldValueNotSupported");
}

// --- Go formatting ----------------------------------------------------------------------------

#[test]
fn go_formatting() {
    assert_eq!(go_quote("a\"b\\c\n\t\u{1}\u{7f}é\u{200b}🦀"), "\"a\\\"b\\\\c\\n\\t\\x01\\x7fé\\u200b🦀\"");
    for (f, s) in [
        (0.0, "0"),
        (1.0, "1"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.25e-7, "1.25e-07"),
        (1e100, "1e+100"),
    ] {
        assert_eq!(go_float(f), s, "{f}");
    }
    assert_eq!(
        go_print(&json!({"b": [1, "x", null, true, 1.5], "a": {"z": {}, "y": []}})),
        "map[a:map[y:[] z:map[]] b:[1 x <nil> true 1.5]]"
    );
    assert_eq!(go_json(&json!({"b": "<&>", "a": 1})), r#"{"a":1,"b":"\u003c\u0026\u003e"}"#);
}

#[test]
fn warning_headers_are_cut_past_4096_characters() {
    let short: Vec<String> = (0..3).map(|i| format!("w{i}")).collect();
    assert_eq!(warning_headers(&short), [r#"299 - "w0""#, r#"299 - "w1""#, r#"299 - "w2""#]);
    let long: Vec<String> = (0..20).map(|i| format!("{i:02}{}", "x".repeat(298))).collect();
    let h = warning_headers(&long);
    assert_eq!(h.len(), 16, "4096 characters of 256-character warnings");
    assert!(h.iter().all(|x| x.chars().count() == 256 + 8), "{:?}", h[0]);
    assert!(h[0].starts_with("299 - \"00xx"));
    assert_eq!(warning_headers(&["a\nb".to_string(), "".to_string(), "ok".to_string()]), [r#"299 - "ok""#]);
}
