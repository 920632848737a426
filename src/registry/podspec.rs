//! PodSpec and PodTemplateSpec defaulting shared by every pod-bearing kind (core/v1
//! SetDefaults_PodSpec, _Container, _Probe, _Volume and their nested defaulters, the `+default`
//! markers, and the v1 conversion's `serviceAccount` alias), and what else shapes a stored
//! pod: SetDefaults_Pod, the ServiceAccount, DefaultTolerationSeconds and Priority admission
//! plugins, and the pod strategy's create step. Only the kinds' `default` hooks call it.

use serde_json::{json, Map, Value};

use super::defaulting::*;

/// The priority of the two built-in classes (pkg/apis/scheduling: SystemCriticalPriority + 1000
/// for system-node-critical, SystemCriticalPriority for system-cluster-critical).
const SYSTEM_CLASSES: &[(&str, i64)] = &[("system-node-critical", 2_000_001_000), ("system-cluster-critical", 2_000_000_000)];

/// Annotations of the pre-1.8 init container API, dropped by the v1 conversion.
const INIT_CONTAINER_ANNOTATIONS: &[&str] = &[
    "pod.beta.kubernetes.io/init-containers",
    "pod.alpha.kubernetes.io/init-containers",
    "pod.beta.kubernetes.io/init-container-statuses",
    "pod.alpha.kubernetes.io/init-container-statuses",
];

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// A PodTemplateSpec (deployments, replica sets, jobs, …): its ObjectMeta as Go writes it,
/// and the PodSpec defaults. SetDefaults_Pod is not applied to templates.
pub fn default_template(tmpl: &mut Map<String, Value>) {
    template_meta(tmpl);
    if let Some(meta) = existing(tmpl, "metadata") {
        drop_init_container_annotations(meta);
    }
    if let Some(spec) = child(tmpl, "spec") {
        default_spec(spec);
    }
}

/// SetDefaults_PodSpec and every defaulter below a PodSpec.
pub fn default_spec(spec: &mut Map<String, Value>) {
    service_account_alias(spec);
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_ptr(spec, "securityContext", json!({}));
    default_ptr(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for v in items(spec, "volumes") {
        default_volume(v);
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(spec, list) {
            default_container(c);
        }
    }
}

/// The v1 conversion: `serviceAccount` is a deprecated alias. On the way in the new field
/// wins when both are set; on the way out the alias always mirrors serviceAccountName.
fn service_account_alias(spec: &mut Map<String, Value>) {
    if empty_str(spec.get("serviceAccountName")) {
        if let Some(sa) = spec.get("serviceAccount").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            let sa = sa.to_string();
            spec.insert("serviceAccountName".into(), json!(sa));
        }
    }
    match spec.get("serviceAccountName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(name) => {
            let name = name.to_string();
            spec.insert("serviceAccount".into(), json!(name));
        }
        None => {
            spec.remove("serviceAccount");
        }
    }
}

fn drop_init_container_annotations(meta: &mut Map<String, Value>) {
    if let Some(ann) = existing(meta, "annotations") {
        for k in INIT_CONTAINER_ANNOTATIONS {
            ann.remove(*k);
        }
    }
}

/// SetDefaults_Volume and the defaulters of each volume source.
fn default_volume(v: &mut Map<String, Value>) {
    if v.iter().all(|(k, val)| k == "name" || val.is_null()) {
        v.insert("emptyDir".into(), json!({}));
    }
    if let Some(s) = existing(v, "hostPath") {
        default_ptr(s, "type", json!(""));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = existing(v, source) {
            // 0644 for every one of them.
            default_ptr(s, "defaultMode", json!(420));
        }
    }
    if let Some(s) = existing(v, "downwardAPI") {
        downward_api_items(s);
    }
    if let Some(p) = existing(v, "projected") {
        for src in items(p, "sources") {
            if let Some(d) = existing(src, "downwardAPI") {
                downward_api_items(d);
            }
            if let Some(t) = existing(src, "serviceAccountToken") {
                default_ptr(t, "expirationSeconds", json!(3600));
            }
        }
    }
    if let Some(s) = existing(v, "iscsi") {
        default_str(s, "iscsiInterface", "default");
    }
    if let Some(s) = existing(v, "rbd") {
        rbd(s);
    }
    if let Some(s) = existing(v, "azureDisk") {
        azure_disk(s);
    }
    if let Some(s) = existing(v, "scaleIO") {
        scale_io(s);
    }
    if let Some(t) = existing(v, "ephemeral").and_then(|e| existing(e, "volumeClaimTemplate")) {
        template_meta(t);
        if let Some(spec) = child(t, "spec") {
            default_claim_spec(spec);
        }
    }
}

fn downward_api_items(s: &mut Map<String, Value>) {
    for item in items(s, "items") {
        if let Some(f) = existing(item, "fieldRef") {
            default_str(f, "apiVersion", "v1");
        }
    }
}

/// The `+default` markers of RBDVolumeSource and RBDPersistentVolumeSource.
pub fn rbd(s: &mut Map<String, Value>) {
    default_str(s, "pool", "rbd");
    default_str(s, "user", "admin");
    default_str(s, "keyring", "/etc/ceph/keyring");
}

/// The `+default` markers of AzureDiskVolumeSource.
pub fn azure_disk(s: &mut Map<String, Value>) {
    default_ptr(s, "cachingMode", json!("ReadWrite"));
    default_ptr(s, "fsType", json!("ext4"));
    default_ptr(s, "readOnly", json!(false));
    default_ptr(s, "kind", json!("Shared"));
}

/// The `+default` markers of ScaleIOVolumeSource and ScaleIOPersistentVolumeSource.
pub fn scale_io(s: &mut Map<String, Value>) {
    default_str(s, "storageMode", "ThinProvisioned");
    default_str(s, "fsType", "xfs");
}

/// SetDefaults_PersistentVolumeClaimSpec.
pub fn default_claim_spec(spec: &mut Map<String, Value>) {
    default_ptr(spec, "volumeMode", json!("Filesystem"));
}

/// SetDefaults_Container, the ContainerPort marker, env fieldRefs, probes and lifecycle hooks;
/// `resources` is a struct Go always writes.
fn default_container(c: &mut Map<String, Value>) {
    if empty_str(c.get("imagePullPolicy")) {
        let policy = pull_policy(c.get("image").and_then(Value::as_str).unwrap_or(""));
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    for p in items(c, "ports") {
        default_str(p, "protocol", "TCP");
    }
    for e in items(c, "env") {
        if let Some(f) = existing(e, "valueFrom").and_then(|v| existing(v, "fieldRef")) {
            default_str(f, "apiVersion", "v1");
        }
    }
    child(c, "resources");
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, probe) {
            default_num(p, "timeoutSeconds", 1);
            default_num(p, "periodSeconds", 10);
            default_num(p, "successThreshold", 1);
            default_num(p, "failureThreshold", 3);
            if let Some(h) = existing(p, "httpGet") {
                http_get(h);
            }
            if let Some(g) = existing(p, "grpc") {
                default_ptr(g, "service", json!(""));
            }
        }
    }
    if let Some(l) = existing(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = existing(l, hook).and_then(|h| existing(h, "httpGet")) {
                http_get(h);
            }
        }
    }
}

fn http_get(h: &mut Map<String, Value>) {
    default_str(h, "path", "/");
    default_str(h, "scheme", "HTTP");
}

/// imagePullPolicy from the image reference as `parsers.ParseImageName` reads it: Always for
/// the tag `latest` (also implied by no tag and no digest), IfNotPresent for any other tag, a
/// digest, or a reference that does not parse.
pub fn pull_policy(image: &str) -> &'static str {
    match image_tag(image) {
        Some(tag) if tag == "latest" => "Always",
        _ => "IfNotPresent",
    }
}

/// The tag a reference names ("latest" when it names neither tag nor digest), "" for a
/// digest without tag, None when docker's reference grammar rejects it.
fn image_tag(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let (alg, hex) = d.split_once(':')?;
        let alg_ok = !alg.is_empty()
            && alg.starts_with(|c: char| c.is_ascii_alphabetic())
            && alg.chars().all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c));
        if !alg_ok || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
    }
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return None;
        }
    }
    if !valid_repository(repo) {
        return None;
    }
    Some(match (tag, digest) {
        (Some(t), _) => t.to_string(),
        (None, Some(_)) => String::new(),
        (None, None) => "latest".to_string(),
    })
}

/// docker/distribution's name grammar: an optional domain, then lowercase path components.
fn valid_repository(repo: &str) -> bool {
    if repo.is_empty() || repo.len() > 255 {
        return false;
    }
    let mut parts: Vec<&str> = repo.split('/').collect();
    let first = parts[0];
    let is_domain =
        parts.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()));
    if is_domain {
        if !valid_domain(first) {
            return false;
        }
        parts.remove(0);
    } else if parts.len() == 1 && repo.len() == 64 && repo.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
        // "invalid repository name (64 hex characters)"
        return false;
    }
    !parts.is_empty() && parts.iter().all(|p| valid_path_component(p))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.starts_with(|c: char| c.is_ascii_alphanumeric())
                && label.ends_with(|c: char| c.is_ascii_alphanumeric())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn valid_path_component(p: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !p.starts_with(alnum) || !p.ends_with(alnum) {
        return false;
    }
    let mut sep = String::new();
    for c in p.chars() {
        if alnum(c) {
            let ok = sep.is_empty() || sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-');
            if !ok {
                return false;
            }
            sep.clear();
        } else if ".-_".contains(c) {
            sep.push(c);
        } else {
            return false;
        }
    }
    true
}

/// Everything that shapes a pod before it is stored: the v1 defaults (SetDefaults_Pod and the
/// PodSpec defaulters), the PodStatus conversion's IP aliases, the mutating admission
/// plugins and, on create, the pod strategy's PrepareForCreate. `qos` computes the QoS class
/// of the defaulted pod (pod::qos_class).
pub fn default_pod(obj: &mut Value, create: bool, qos: fn(&Value) -> &'static str) {
    let Some(root) = root(obj) else { return };
    if let Some(meta) = existing(root, "metadata") {
        drop_init_container_annotations(meta);
    }
    if let Some(spec) = child(root, "spec") {
        default_pod_only(spec);
        default_spec(spec);
    }
    if let Some(status) = existing(root, "status") {
        ip_aliases(status, "podIP", "podIPs");
        ip_aliases(status, "hostIP", "hostIPs");
    }
    let mirror = root
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(MIRROR_POD_ANNOTATION))
        .is_some();
    if let Some(spec) = child(root, "spec") {
        if create && !mirror {
            admit_service_account(spec);
        }
        admit_default_toleration_seconds(spec);
        if create {
            admit_priority(spec);
        }
    }
    if create {
        let class = qos(obj);
        let Some(root) = obj.as_object_mut() else { return };
        root.insert("status".into(), json!({"phase": "Pending", "qosClass": class}));
        scheduling_gated_condition(root);
        match_label_keys_in_pod_affinity(root);
        app_armor_version_skew(root);
    }
}

/// SetDefaults_Pod: requests from limits (regular and init containers), enableServiceLinks,
/// and host ports from container ports under host networking.
fn default_pod_only(spec: &mut Map<String, Value>) {
    for list in ["containers", "initContainers"] {
        for c in items(spec, list) {
            let Some(res) = existing(c, "resources") else { continue };
            let limits = match res.get("limits").and_then(Value::as_object) {
                Some(l) if !l.is_empty() => l.clone(),
                _ => continue,
            };
            if let Some(req) = child(res, "requests") {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
            }
        }
    }
    default_ptr(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for list in ["containers", "initContainers"] {
            for c in items(spec, list) {
                for p in items(c, "ports") {
                    if zero_num(p.get("hostPort")) {
                        if let Some(port) = p.get("containerPort").cloned() {
                            p.insert("hostPort".into(), port);
                        }
                    }
                }
            }
        }
    }
}

/// The v1 PodStatus conversion: the singular IP wins when both are set and differ, fills the
/// list when it is empty, and always mirrors the list's first entry.
fn ip_aliases(status: &mut Map<String, Value>, single: &str, list: &str) {
    let ip = status.get(single).and_then(Value::as_str).unwrap_or("").to_string();
    let first = status
        .get(list)
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(|e| e.get("ip"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if !ip.is_empty() && first.as_deref() != Some(ip.as_str()) {
        status.insert(list.into(), json!([{"ip": ip}]));
    }
    if let Some(first) = status.get(list).and_then(Value::as_array).and_then(|l| l.first()).and_then(|e| e.get("ip")).cloned() {
        status.insert(single.into(), first);
    }
}

/// ServiceAccount admission (create): a pod runs as the namespace's `default` account unless
/// it names one. (The token volume is added with the security work.)
fn admit_service_account(spec: &mut Map<String, Value>) {
    default_str(spec, "serviceAccountName", "default");
    service_account_alias(spec);
}

/// DefaultTolerationSeconds admission (create and update): tolerate not-ready and unreachable
/// nodes for 300 s unless a toleration already covers them.
fn admit_default_toleration_seconds(spec: &mut Map<String, Value>) {
    let covers = |t: &Value, key: &str| {
        let k = t.get("key").and_then(Value::as_str).unwrap_or("");
        let e = t.get("effect").and_then(Value::as_str).unwrap_or("");
        (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
    };
    let mut add = Vec::new();
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let tolerated = spec.get("tolerations").and_then(Value::as_array).is_some_and(|l| l.iter().any(|t| covers(t, key)));
        if !tolerated {
            add.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
    if add.is_empty() {
        return;
    }
    if !spec.get("tolerations").is_some_and(Value::is_array) {
        if !unset(spec.get("tolerations")) {
            return; // not a list: left for validation
        }
        spec.insert("tolerations".into(), json!([]));
    }
    if let Some(list) = spec.get_mut("tolerations").and_then(Value::as_array_mut) {
        list.extend(add);
    }
}

/// Priority admission (create): no class → the global default (none here) → priority 0 and
/// PreemptLowerPriority; the built-in system classes resolve to their values. Other classes
/// need a PriorityClass read and are left as they are.
fn admit_priority(spec: &mut Map<String, Value>) {
    let class = spec.get("priorityClassName").and_then(Value::as_str).unwrap_or("").to_string();
    let value = if class.is_empty() {
        Some(0)
    } else {
        SYSTEM_CLASSES.iter().find(|(n, _)| *n == class).map(|(_, v)| *v)
    };
    if let Some(v) = value {
        default_ptr(spec, "priority", json!(v));
        default_ptr(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
}

/// applySchedulingGatedCondition: a gated pod starts with PodScheduled=False.
fn scheduling_gated_condition(root: &mut Map<String, Value>) {
    let gated = root
        .get("spec")
        .and_then(|s| s.get("schedulingGates"))
        .and_then(Value::as_array)
        .is_some_and(|g| !g.is_empty());
    if !gated {
        return;
    }
    let Some(status) = child(root, "status") else { return };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    let Some(list) = conditions.as_array_mut() else { return };
    if list.iter().any(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled")) {
        return;
    }
    list.push(json!({
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": null,
        "lastTransitionTime": super::generic::now_rfc3339(),
        "reason": "SchedulingGated",
        "message": "Scheduling is blocked due to non-empty scheduling gates",
    }));
}

/// mutatePodAffinity (MatchLabelKeysInPodAffinity, beta and on in 1.33): matchLabelKeys and
/// mismatchLabelKeys become In / NotIn requirements on the term's labelSelector.
fn match_label_keys_in_pod_affinity(root: &mut Map<String, Value>) {
    let labels = root
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let Some(affinity) = existing(root, "spec").and_then(|s| existing(s, "affinity")) else { return };
    for kind in ["podAffinity", "podAntiAffinity"] {
        let Some(a) = existing(affinity, kind) else { continue };
        for term in items(a, "requiredDuringSchedulingIgnoredDuringExecution") {
            apply_label_keys(term, &labels);
        }
        for weighted in items(a, "preferredDuringSchedulingIgnoredDuringExecution") {
            if let Some(term) = existing(weighted, "podAffinityTerm") {
                apply_label_keys(term, &labels);
            }
        }
    }
}

fn apply_label_keys(term: &mut Map<String, Value>, labels: &Map<String, Value>) {
    let keys = |field: &str| -> Vec<String> {
        term.get(field)
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let (matching, mismatching) = (keys("matchLabelKeys"), keys("mismatchLabelKeys"));
    if matching.is_empty() && mismatching.is_empty() {
        return;
    }
    let Some(selector) = existing(term, "labelSelector") else { return };
    let mut add = Vec::new();
    for (keys, op) in [(matching, "In"), (mismatching, "NotIn")] {
        for k in keys {
            if let Some(v) = labels.get(&k) {
                add.push(json!({"key": k, "operator": op, "values": [v]}));
            }
        }
    }
    if add.is_empty() {
        return;
    }
    let exprs = selector.entry("matchExpressions").or_insert_with(|| json!([]));
    if exprs.is_null() {
        *exprs = json!([]);
    }
    if let Some(list) = exprs.as_array_mut() {
        list.extend(add);
    }
}

/// applyAppArmorVersionSkew: the deprecated per-container annotations and the
/// appArmorProfile fields are kept in step on a new pod (not for Windows pods).
fn app_armor_version_skew(root: &mut Map<String, Value>) {
    let Some(spec) = root.get("spec") else { return };
    if spec.pointer("/os/name").and_then(Value::as_str) == Some("windows") {
        return;
    }
    let pod_profile = spec.pointer("/securityContext/appArmorProfile").filter(|v| !v.is_null()).cloned();
    let mut annotations = root
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut changed_annotations = false;
    let Some(spec) = existing(root, "spec") else { return };
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(spec, list) {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let key = format!("{APPARMOR_ANNOTATION_PREFIX}{name}");
            let container_profile = c.get("securityContext").and_then(|s| s.get("appArmorProfile")).filter(|v| !v.is_null()).cloned();
            match annotations.get(&key).and_then(Value::as_str).map(str::to_string) {
                None => {
                    let from = container_profile.as_ref().or(pod_profile.as_ref());
                    if let Some(a) = from.and_then(annotation_for_profile) {
                        annotations.insert(key, json!(a));
                        changed_annotations = true;
                    }
                }
                Some(a) if container_profile.is_none() => {
                    if let Some(field) = profile_for_annotation(&a) {
                        if Some(&field) != pod_profile.as_ref() {
                            if let Some(sc) = child(c, "securityContext") {
                                sc.insert("appArmorProfile".into(), field);
                            }
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }
    if changed_annotations {
        if let Some(meta) = child(root, "metadata") {
            meta.insert("annotations".into(), Value::Object(annotations));
        }
    }
}

fn annotation_for_profile(p: &Value) -> Option<String> {
    match p.get("type").and_then(Value::as_str)? {
        "Unconfined" => Some("unconfined".into()),
        "RuntimeDefault" => Some("runtime/default".into()),
        "Localhost" => p.get("localhostProfile").and_then(Value::as_str).map(|l| format!("localhost/{l}")),
        _ => None,
    }
}

fn profile_for_annotation(a: &str) -> Option<Value> {
    match a {
        "unconfined" => Some(json!({"type": "Unconfined"})),
        "runtime/default" => Some(json!({"type": "RuntimeDefault"})),
        _ => a
            .strip_prefix("localhost/")
            .filter(|l| !l.is_empty() && l.len() <= 4095)
            .map(|l| json!({"type": "Localhost", "localhostProfile": l})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        for (image, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("docker.io/library/nginx", "Always"),
            ("localhost:5000/team/app", "Always"),
            ("localhost:5000/team/app:v2", "IfNotPresent"),
            ("registry.example.com:443/a/b:latest", "Always"),
            ("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "IfNotPresent"),
            ("nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "Always"),
            ("", "IfNotPresent"),
            ("Nginx", "IfNotPresent"),
            ("nginx:", "IfNotPresent"),
            ("nginx@sha256:short", "IfNotPresent"),
            ("a..b", "IfNotPresent"),
            ("a__b-c---d.e", "Always"),
        ] {
            assert_eq!(pull_policy(image), want, "{image:?}");
        }
    }

    #[test]
    fn pod_spec_defaults() {
        let mut spec = spec_of(json!({
            "containers": [{
                "name": "web", "image": "nginx:1.27",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "livenessProbe": {"httpGet": {"port": 80}},
                "readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 5},
                "startupProbe": {"tcpSocket": {"port": 80}, "timeoutSeconds": 0},
                "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}}
            }],
            "volumes": [
                {"name": "scratch"},
                {"name": "cfg", "configMap": {"name": "c"}},
                {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
                {"name": "host", "hostPath": {"path": "/x"}},
                {"name": "proj", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}}
                ]}},
                {"name": "dapi", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
                {"name": "rbd", "rbd": {"monitors": ["m"], "image": "i"}},
                {"name": "az", "azureDisk": {"diskName": "d", "diskURI": "u"}},
                {"name": "sio", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "x"}}},
                {"name": "isc", "iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0}}
            ],
            "serviceAccount": "builder"
        }));
        default_spec(&mut spec);
        let s = Value::Object(spec);
        assert_eq!(s["dnsPolicy"], "ClusterFirst");
        assert_eq!(s["restartPolicy"], "Always");
        assert_eq!(s["schedulerName"], "default-scheduler");
        assert_eq!(s["securityContext"], json!({}));
        assert_eq!(s["terminationGracePeriodSeconds"], 30);
        assert_eq!((&s["serviceAccountName"], &s["serviceAccount"]), (&json!("builder"), &json!("builder")));
        assert!(s.get("enableServiceLinks").is_none(), "SetDefaults_Pod is for pods only");
        let c = &s["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["resources"], json!({}));
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["readinessProbe"]["periodSeconds"], 5);
        assert_eq!(c["readinessProbe"]["grpc"], json!({"port": 9000, "service": ""}));
        assert_eq!(c["startupProbe"]["timeoutSeconds"], 1);
        assert_eq!(c["lifecycle"]["preStop"]["httpGet"], json!({"port": 80, "path": "/stop", "scheme": "HTTP"}));
        let v = &s["volumes"];
        assert_eq!(v[0], json!({"name": "scratch", "emptyDir": {}}));
        assert_eq!(v[1]["configMap"]["defaultMode"], 420);
        assert_eq!(v[2]["secret"]["defaultMode"], 256);
        assert_eq!(v[3]["hostPath"]["type"], "");
        assert_eq!(v[4]["projected"]["defaultMode"], 420);
        assert_eq!(v[4]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3600);
        assert_eq!(v[4]["projected"]["sources"][1]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(v[5]["downwardAPI"]["defaultMode"], 420);
        assert_eq!(v[5]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(
            v[6]["ephemeral"]["volumeClaimTemplate"],
            json!({"spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}, "metadata": {"creationTimestamp": null}})
        );
        assert_eq!((&v[7]["rbd"]["pool"], &v[7]["rbd"]["user"], &v[7]["rbd"]["keyring"]), (&json!("rbd"), &json!("admin"), &json!("/etc/ceph/keyring")));
        assert_eq!(v[8]["azureDisk"], json!({"diskName": "d", "diskURI": "u", "cachingMode": "ReadWrite", "fsType": "ext4", "readOnly": false, "kind": "Shared"}));
        assert_eq!((&v[9]["scaleIO"]["storageMode"], &v[9]["scaleIO"]["fsType"]), (&json!("ThinProvisioned"), &json!("xfs")));
        assert_eq!(v[10]["iscsi"]["iscsiInterface"], "default");
    }

    #[test]
    fn defaults_keep_what_is_set_and_are_idempotent() {
        let mut spec = spec_of(json!({
            "containers": [{"name": "a", "image": "nginx", "imagePullPolicy": "Never", "terminationMessagePolicy": "FallbackToLogsOnError",
                            "resources": {"limits": {"cpu": "1"}}}],
            "restartPolicy": "OnFailure", "dnsPolicy": "Default", "terminationGracePeriodSeconds": 0,
            "securityContext": {"runAsUser": 1000}, "serviceAccountName": "a", "serviceAccount": "b"
        }));
        default_spec(&mut spec);
        let once = spec.clone();
        default_spec(&mut spec);
        assert_eq!(spec, once);
        let s = Value::Object(spec);
        assert_eq!(s["containers"][0]["imagePullPolicy"], "Never");
        assert_eq!(s["containers"][0]["terminationMessagePolicy"], "FallbackToLogsOnError");
        assert_eq!(s["containers"][0]["resources"], json!({"limits": {"cpu": "1"}}), "templates keep requests unset");
        assert_eq!((&s["restartPolicy"], &s["dnsPolicy"], &s["terminationGracePeriodSeconds"]), (&json!("OnFailure"), &json!("Default"), &json!(0)));
        assert_eq!(s["securityContext"], json!({"runAsUser": 1000}));
        assert_eq!((&s["serviceAccountName"], &s["serviceAccount"]), (&json!("a"), &json!("a")), "the new field wins");
    }

    #[test]
    fn zero_values_from_protobuf_are_treated_as_unset() {
        let mut t = spec_of(json!({
            "metadata": {"creationTimestamp": null},
            "spec": {"containers": [{"name": "a", "image": "busybox", "resources": {}, "imagePullPolicy": "",
                                     "livenessProbe": {"exec": {"command": ["true"]}, "timeoutSeconds": 0, "periodSeconds": null}}],
                     "securityContext": null, "restartPolicy": "", "terminationGracePeriodSeconds": null}
        }));
        default_template(&mut t);
        let t = Value::Object(t);
        assert_eq!(t["metadata"], json!({"creationTimestamp": null}));
        assert_eq!(t["spec"]["securityContext"], json!({}));
        assert_eq!(t["spec"]["restartPolicy"], "Always");
        assert_eq!(t["spec"]["terminationGracePeriodSeconds"], 30);
        let c = &t["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!((&c["livenessProbe"]["timeoutSeconds"], &c["livenessProbe"]["periodSeconds"]), (&json!(1), &json!(10)));
    }

    fn qos(_: &Value) -> &'static str {
        "BestEffort"
    }

    #[test]
    fn a_new_pod_is_admitted_and_pending() {
        let mut pod = json!({
            "metadata": {"name": "p", "uid": "u", "annotations": {"pod.beta.kubernetes.io/init-containers": "[]"}},
            "spec": {"containers": [{"name": "a", "image": "nginx", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}],
                     "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}
        });
        default_pod(&mut pod, true, qos);
        let spec = &pod["spec"];
        assert_eq!(spec["containers"][0]["resources"]["requests"], json!({"cpu": "500m", "memory": "1Gi"}));
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!((&spec["serviceAccountName"], &spec["serviceAccount"]), (&json!("default"), &json!("default")));
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(
            spec["tolerations"],
            json!([
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ])
        );
        assert_eq!(pod["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}), "status is reset on create");
        assert_eq!(pod["metadata"]["annotations"], json!({}));
    }

    #[test]
    fn admission_details() {
        // A toleration with an empty key and effect covers both taints.
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": [{"operator": "Exists"}],
                             "priorityClassName": "system-node-critical", "hostNetwork": true}});
        default_pod(&mut pod, true, qos);
        assert_eq!(pod["spec"]["tolerations"], json!([{"operator": "Exists"}]));
        assert_eq!(pod["spec"]["priority"], 2_000_001_000);
        assert_eq!(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");
        // Other classes need a store read: left alone.
        let mut pod = json!({"spec": {"containers": [], "priorityClassName": "high"}});
        default_pod(&mut pod, true, qos);
        assert!(pod["spec"].get("priority").is_none());
        // Mirror pods get no service account.
        let mut pod = json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}, "spec": {"containers": []}});
        default_pod(&mut pod, true, qos);
        assert!(pod["spec"].get("serviceAccountName").is_none());
        // On update only tolerations are admitted; the status is kept.
        let mut pod = json!({"metadata": {"resourceVersion": "5"}, "spec": {"containers": []}, "status": {"phase": "Running", "podIPs": [{"ip": "10.42.0.9"}]}});
        default_pod(&mut pod, false, qos);
        assert!(pod["spec"].get("serviceAccountName").is_none() && pod["spec"].get("priority").is_none());
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(pod["status"]["podIP"], "10.42.0.9");
        assert_eq!(pod["status"]["phase"], "Running");
    }

    #[test]
    fn host_network_ports_and_status_ips() {
        let mut spec = spec_of(json!({"hostNetwork": true, "containers": [{"name": "a", "ports": [{"containerPort": 53}, {"containerPort": 80, "hostPort": 8080}]}]}));
        default_pod_only(&mut spec);
        assert_eq!(spec["containers"][0]["ports"], json!([{"containerPort": 53, "hostPort": 53}, {"containerPort": 80, "hostPort": 8080}]));
        let mut st = spec_of(json!({"podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.1"}], "hostIP": "", "hostIPs": [{"ip": "192.168.1.2"}]}));
        ip_aliases(&mut st, "podIP", "podIPs");
        ip_aliases(&mut st, "hostIP", "hostIPs");
        assert_eq!(Value::Object(st), json!({"podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}], "hostIP": "192.168.1.2", "hostIPs": [{"ip": "192.168.1.2"}]}));
    }

    #[test]
    fn strategy_create_steps() {
        let mut pod = json!({
            "metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"},
                         "annotations": {"container.apparmor.security.beta.kubernetes.io/b": "localhost/prof"}},
            "spec": {
                "schedulingGates": [{"name": "wait"}],
                "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname",
                     "matchLabelKeys": ["tier", "absent"], "mismatchLabelKeys": ["app"]}
                ]}}
            }
        });
        default_pod(&mut pod, true, qos);
        let cond = &pod["status"]["conditions"][0];
        assert_eq!((&cond["type"], &cond["status"], &cond["reason"]), (&json!("PodScheduled"), &json!("False"), &json!("SchedulingGated")));
        assert_eq!(cond["message"], "Scheduling is blocked due to non-empty scheduling gates");
        assert!(cond["lastProbeTime"].is_null() && cond["lastTransitionTime"].is_string());
        assert_eq!(
            pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]["matchExpressions"],
            json!([{"key": "tier", "operator": "In", "values": ["fe"]}, {"key": "app", "operator": "NotIn", "values": ["web"]}])
        );
        let ann = &pod["metadata"]["annotations"];
        assert_eq!(ann["container.apparmor.security.beta.kubernetes.io/a"], "runtime/default");
        assert_eq!(pod["spec"]["containers"][1]["securityContext"]["appArmorProfile"], json!({"type": "Localhost", "localhostProfile": "prof"}));
    }
}
