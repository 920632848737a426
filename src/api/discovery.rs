//! Discovery documents (`/api`, `/apis`, `/apis/<group>`, `/api/v1`, `/apis/<group>/<version>`,
//! legacy and aggregated apidiscovery.k8s.io/v2), built from `registry::all()` as a 1.33
//! kube-apiserver words them. Pure functions; the HTTP layer negotiates and serves them.

use std::cmp::Ordering;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::registry::{self, ResourceDef};

/// Content-Type of an aggregated discovery answer.
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an Accept header asks for aggregated discovery (v2) before anything else it
/// accepts: the first media range we can serve decides, as upstream's negotiation does.
pub fn wants_aggregated(accept: &str) -> bool {
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let (mut g, mut v, mut as_) = (None, None, None);
        for p in parts {
            if let Some((k, val)) = p.split_once('=') {
                match k.trim() {
                    "g" => g = Some(val.trim()),
                    "v" => v = Some(val.trim()),
                    "as" => as_ = Some(val.trim()),
                    _ => {}
                }
            }
        }
        let json_like = matches!(media, "application/json" | "application/*" | "*/*");
        if !json_like {
            continue;
        }
        match (g, v, as_) {
            (Some("apidiscovery.k8s.io"), Some("v2"), Some("APIGroupDiscoveryList")) => return true,
            (None, None, None) => return false,
            _ => continue, // v2beta1 or another kind we do not serve
        }
    }
    false
}

/// `GET /api`: the legacy APIVersions document.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// Every non-core group with its versions, groups in kube-apiserver's order, versions
/// preferred first.
pub fn group_versions() -> Vec<(String, Vec<String>)> {
    group_versions_of(registry::all())
}

/// `GET /apis`: the legacy APIGroupList.
pub fn api_group_list() -> Value {
    api_group_list_of(registry::all())
}

/// `GET /apis/<group>`: one APIGroup, None if the group is not served.
pub fn api_group(group: &str) -> Option<Value> {
    api_group_of(registry::all(), group)
}

/// `GET /api/v1` (group "") or `GET /apis/<group>/<version>`: the APIResourceList.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    api_resource_list_of(registry::all(), group, version)
}

/// `GET /api` with the aggregated Accept: the core group as an APIGroupDiscoveryList.
pub fn aggregated_core() -> Value {
    aggregated_of(registry::all(), true)
}

/// `GET /apis` with the aggregated Accept: every other group as an APIGroupDiscoveryList.
pub fn aggregated_apis() -> Value {
    aggregated_of(registry::all(), false)
}

/// The storageVersionHash of a resource: base64 of the first 8 bytes of
/// sha256("<group>/<version>/<kind>") of its storage version (upstream's formula).
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    if kind.is_empty() {
        return String::new();
    }
    let digest = sha256(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// kube-aggregator's group priorities (higher first); unknown groups get 1000, the CRD default.
fn group_priority(group: &str) -> i32 {
    match group {
        "" => 18000,
        "apiregistration.k8s.io" => 17900,
        "apps" => 17800,
        "events.k8s.io" => 17750,
        "authentication.k8s.io" => 17700,
        "authorization.k8s.io" => 17600,
        "autoscaling" => 17500,
        "batch" => 17400,
        "certificates.k8s.io" => 17300,
        "networking.k8s.io" => 17200,
        "policy" => 17100,
        "rbac.authorization.k8s.io" => 17000,
        "storage.k8s.io" => 16800,
        "admissionregistration.k8s.io" | "apiextensions.k8s.io" => 16700,
        "scheduling.k8s.io" => 16600,
        "coordination.k8s.io" => 16500,
        "node.k8s.io" => 16300,
        "discovery.k8s.io" | "resource.k8s.io" => 16200,
        "flowcontrol.apiserver.k8s.io" => 16100,
        "internal.apiserver.k8s.io" => 16000,
        "storagemigration.k8s.io" => 15800,
        "metrics.k8s.io" => 100,
        _ => 1000,
    }
}

/// Kubernetes' version order (version.CompareKubeAwareVersionStrings), highest first:
/// GA before beta before alpha, then by major and minor number; other strings last, by name.
fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 || rest.starts_with('0') {
            return None;
        }
        let major: u64 = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((2, major, 0));
        }
        let (stage, num) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) || num.starts_with('0') {
            return None;
        }
        Some((stage, major, num.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn group_versions_all(defs: &[&ResourceDef]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for d in defs {
        match groups.iter_mut().find(|(g, _)| g == d.group) {
            Some((_, versions)) => {
                if !versions.iter().any(|v| v == d.version) {
                    versions.push(d.version.to_string());
                }
            }
            None => groups.push((d.group.to_string(), vec![d.version.to_string()])),
        }
    }
    for (_, versions) in &mut groups {
        versions.sort_by(|a, b| compare_versions(a, b));
    }
    groups.sort_by(|(a, _), (b, _)| group_priority(b).cmp(&group_priority(a)).then_with(|| a.cmp(b)));
    groups
}

fn group_versions_of(defs: &[&ResourceDef]) -> Vec<(String, Vec<String>)> {
    group_versions_all(defs).into_iter().filter(|(g, _)| !g.is_empty()).collect()
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn api_group_entry(group: &str, versions: &[String]) -> Map<String, Value> {
    let gv = |v: &String| json!({"groupVersion": group_version(group, v), "version": v});
    let mut m = Map::new();
    m.insert("name".into(), json!(group));
    m.insert("versions".into(), Value::Array(versions.iter().map(gv).collect()));
    if let Some(first) = versions.first() {
        m.insert("preferredVersion".into(), gv(first));
    }
    m
}

fn api_group_list_of(defs: &[&ResourceDef]) -> Value {
    let groups: Vec<Value> =
        group_versions_of(defs).iter().map(|(g, vs)| Value::Object(api_group_entry(g, vs))).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn api_group_of(defs: &[&ResourceDef], group: &str) -> Option<Value> {
    let (g, versions) = group_versions_of(defs).into_iter().find(|(g, _)| g == group)?;
    let mut m = Map::new();
    m.insert("kind".into(), json!("APIGroup"));
    m.insert("apiVersion".into(), json!("v1"));
    m.extend(api_group_entry(&g, &versions));
    Some(Value::Object(m))
}

fn sorted_verbs(verbs: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = verbs.iter().map(|s| s.to_string()).collect();
    v.sort();
    v.dedup();
    v
}

/// The defs of one group/version, by plural (upstream registers paths sorted).
fn defs_of<'a>(defs: &[&'a ResourceDef], group: &str, version: &str) -> Vec<&'a ResourceDef> {
    let mut out: Vec<&ResourceDef> =
        defs.iter().copied().filter(|d| d.group == group && d.version == version).collect();
    out.sort_by(|a, b| a.plural.cmp(b.plural));
    out
}

/// The APIResource entries of one group/version, sorted by name as upstream's installer
/// emits them ("pods", "pods/log", "pods/status", "podtemplates").
fn api_resources(defs: &[&ResourceDef]) -> Vec<Value> {
    let mut entries: Vec<(String, Value)> = Vec::new();
    for d in defs {
        let mut m = Map::new();
        m.insert("name".into(), json!(d.plural));
        m.insert("singularName".into(), json!(d.singular));
        m.insert("namespaced".into(), json!(d.namespaced));
        m.insert("kind".into(), json!(d.kind));
        m.insert("verbs".into(), json!(sorted_verbs(d.verbs)));
        if !d.short_names.is_empty() {
            m.insert("shortNames".into(), json!(d.short_names));
        }
        if !d.categories.is_empty() {
            m.insert("categories".into(), json!(d.categories));
        }
        if !d.storage_prefix.is_empty() {
            let (sg, sv) = match d.storage_version.split_once('/') {
                Some((g, v)) => (g, v),
                None => ("", d.storage_version),
            };
            m.insert("storageVersionHash".into(), json!(storage_version_hash(sg, sv, d.kind)));
        }
        entries.push((d.plural.to_string(), Value::Object(m)));
        for s in d.subresources {
            let name = format!("{}/{}", d.plural, s.name);
            let mut m = Map::new();
            m.insert("name".into(), json!(name));
            m.insert("singularName".into(), json!(""));
            m.insert("namespaced".into(), json!(d.namespaced));
            if s.group != d.group || s.version != d.version {
                m.insert("group".into(), json!(s.group));
                m.insert("version".into(), json!(s.version));
            }
            m.insert("kind".into(), json!(s.kind));
            m.insert("verbs".into(), json!(sorted_verbs(s.verbs)));
            entries.push((name, Value::Object(m)));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, v)| v).collect()
}

fn api_resource_list_of(defs: &[&ResourceDef], group: &str, version: &str) -> Option<Value> {
    let defs = defs_of(defs, group, version);
    if defs.is_empty() {
        return None;
    }
    let resources = api_resources(&defs);
    let gv = group_version(group, version);
    // The legacy /api/v1 answer carries no apiVersion; group versions do.
    Some(if group.is_empty() {
        json!({"kind": "APIResourceList", "groupVersion": gv, "resources": resources})
    } else {
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
    })
}

/// upstream's ConvertGroupVersionIntoToDiscovery over the APIResource entries: top-level
/// resources keep their (empty unless overridden) group/version in responseKind, and
/// subresources hang under their parent.
fn discovery_resources(entries: &[Value]) -> Vec<Value> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let kind_of = |v: &Value| json!({"group": s(v, "group"), "version": s(v, "version"), "kind": s(v, "kind")});
    let scope_of = |v: &Value| if v["namespaced"].as_bool() == Some(true) { "Namespaced" } else { "Cluster" };
    let mut out: Vec<Map<String, Value>> = Vec::new();
    for e in entries.iter().filter(|e| !s(e, "name").contains('/')) {
        let mut m = Map::new();
        m.insert("resource".into(), json!(s(e, "name")));
        m.insert("responseKind".into(), kind_of(e));
        m.insert("scope".into(), json!(scope_of(e)));
        m.insert("singularResource".into(), json!(s(e, "singularName")));
        m.insert("verbs".into(), e["verbs"].clone());
        for k in ["shortNames", "categories"] {
            if let Some(v) = e.get(k) {
                m.insert(k.into(), v.clone());
            }
        }
        out.push(m);
    }
    for e in entries {
        let name = s(e, "name");
        let Some((parent, sub)) = name.split_once('/') else { continue };
        let Some(p) = out.iter_mut().find(|m| m["resource"] == parent) else { continue };
        let subs = p.entry("subresources").or_insert_with(|| json!([]));
        if let Value::Array(a) = subs {
            a.push(json!({"subresource": sub, "responseKind": kind_of(e), "verbs": e["verbs"].clone()}));
        }
    }
    out.into_iter().map(Value::Object).collect()
}

fn aggregated_of(defs: &[&ResourceDef], core: bool) -> Value {
    let items: Vec<Value> = group_versions_all(defs)
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let entries = api_resources(&defs_of(defs, &g, v));
                    json!({"version": v, "resources": discovery_resources(&entries), "freshness": "Current"})
                })
                .collect();
            let mut meta = Map::new();
            if !g.is_empty() {
                meta.insert("name".into(), json!(g));
            }
            meta.insert("creationTimestamp".into(), Value::Null);
            json!({"metadata": meta, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// SHA-256 (FIPS 180-4), enough for storage version hashes without another crate.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{FieldError, NameRule, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

    fn no_row(_: &Value, _: jiff::Timestamp) -> Vec<Value> {
        Vec::new()
    }
    fn no_field(_: &Value, _: &str) -> Option<String> {
        None
    }
    fn no_default(_: &mut Value) {}
    fn no_validate(_: &Value, _: Option<&Value>) -> Vec<FieldError> {
        Vec::new()
    }

    macro_rules! def {
        ($name:ident, $group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $ns:expr,
         $short:expr, $cats:expr, $subs:expr, $storage:expr) => {
            static $name: ResourceDef = ResourceDef {
                group: $group,
                version: $version,
                kind: $kind,
                plural: $plural,
                singular: $singular,
                namespaced: $ns,
                short_names: $short,
                categories: $cats,
                verbs: VERBS_ALL,
                subresources: $subs,
                storage_prefix: concat!("/registry/", $plural),
                storage_version: $storage,
                to_storage: None,
                from_storage: None,
                has_status: true,
                tracks_generation: false,
                name_rule: NameRule::Subdomain,
                columns: &[],
                row: no_row,
                field_labels: &[],
                field_value: no_field,
                default: no_default,
                validate: no_validate,
            };
        };
    }

    const STATUS_POD: Subresource =
        Subresource { name: "status", group: "", version: "v1", kind: "Pod", verbs: VERBS_GET_PATCH_UPDATE };
    const LOG: Subresource = Subresource { name: "log", group: "", version: "v1", kind: "Pod", verbs: &["get"] };
    const EVICTION: Subresource =
        Subresource { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: &["create"] };
    const SCALE: Subresource = Subresource {
        name: "scale",
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: VERBS_GET_PATCH_UPDATE,
    };
    const STATUS_DEPLOY: Subresource =
        Subresource { name: "status", group: "apps", version: "v1", kind: "Deployment", verbs: VERBS_GET_PATCH_UPDATE };

    def!(PODS, "", "v1", "Pod", "pods", "pod", true, &["po"], &["all"], &[STATUS_POD, LOG, EVICTION], "v1");
    def!(PODTEMPLATES, "", "v1", "PodTemplate", "podtemplates", "podtemplate", true, &[], &[], &[], "v1");
    def!(NODES, "", "v1", "Node", "nodes", "node", false, &["no"], &[], &[], "v1");
    def!(
        DEPLOYMENTS,
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        true,
        &["deploy"],
        &["all"],
        &[SCALE, STATUS_DEPLOY],
        "apps/v1"
    );
    def!(
        HPA1,
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        true,
        &["hpa"],
        &["all"],
        &[],
        "autoscaling/v2"
    );
    def!(
        HPA2,
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        true,
        &["hpa"],
        &["all"],
        &[],
        "autoscaling/v2"
    );
    def!(JOBS, "batch", "v1", "Job", "jobs", "job", true, &[], &["all"], &[], "batch/v1");
    def!(
        WIDGETS,
        "example.com",
        "v1alpha1",
        "Widget",
        "widgets",
        "widget",
        false,
        &[],
        &[],
        &[],
        "example.com/v1alpha1"
    );

    fn defs() -> Vec<&'static ResourceDef> {
        vec![&WIDGETS, &JOBS, &HPA1, &PODS, &DEPLOYMENTS, &NODES, &HPA2, &PODTEMPLATES]
    }

    #[test]
    fn sha256_and_storage_hashes() {
        let hex: String = sha256(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let hex: String = sha256(&[b'a'; 100]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246d285a0e");
        // Values a real kube-apiserver reports.
        assert_eq!(storage_version_hash("", "v1", "Pod"), "xPOwRZ+Yhw8=");
        assert_eq!(storage_version_hash("apps", "v1", "Deployment"), "8aSe+NMegvE=");
    }

    #[test]
    fn version_order() {
        let mut v = vec!["v1", "v2", "v1beta1", "v1alpha1", "v2beta2", "v10", "foo", "v11alpha2"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, ["v10", "v2", "v1", "v2beta2", "v1beta1", "v11alpha2", "v1alpha1", "foo"]);
    }

    #[test]
    fn legacy_documents() {
        let d = defs();
        assert_eq!(
            api_versions("10.0.0.1:6443"),
            json!({"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]})
        );
        let list = api_group_list_of(&d);
        let names: Vec<&str> = list["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["apps", "autoscaling", "batch", "example.com"]);
        assert_eq!(
            list["groups"][1],
            json!({"name": "autoscaling",
                   "versions": [{"groupVersion": "autoscaling/v2", "version": "v2"},
                                {"groupVersion": "autoscaling/v1", "version": "v1"}],
                   "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"}})
        );
        assert_eq!(list["kind"], "APIGroupList");
        let g = api_group_of(&d, "apps").unwrap();
        assert_eq!(g["kind"], "APIGroup");
        assert_eq!(g["preferredVersion"]["groupVersion"], "apps/v1");
        assert!(api_group_of(&d, "").is_none());
        assert!(api_group_of(&d, "nope").is_none());
        assert_eq!(
            group_versions_of(&d),
            vec![
                ("apps".to_string(), vec!["v1".to_string()]),
                ("autoscaling".to_string(), vec!["v2".to_string(), "v1".to_string()]),
                ("batch".to_string(), vec!["v1".to_string()]),
                ("example.com".to_string(), vec!["v1alpha1".to_string()]),
            ]
        );
    }

    #[test]
    fn resource_lists() {
        let d = defs();
        let core = api_resource_list_of(&d, "", "v1").unwrap();
        assert!(core.get("apiVersion").is_none());
        assert_eq!(core["groupVersion"], "v1");
        let names: Vec<&str> =
            core["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["nodes", "pods", "pods/eviction", "pods/log", "pods/status", "podtemplates"]);
        assert_eq!(
            core["resources"][1],
            json!({"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                   "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                   "shortNames": ["po"], "categories": ["all"], "storageVersionHash": "xPOwRZ+Yhw8="})
        );
        assert_eq!(
            core["resources"][2],
            json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy",
                   "version": "v1", "kind": "Eviction", "verbs": ["create"]})
        );
        assert_eq!(
            core["resources"][4],
            json!({"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod",
                   "verbs": ["get", "patch", "update"]})
        );
        assert_eq!(core["resources"][0]["namespaced"], false);
        assert!(core["resources"][5].get("shortNames").is_none());

        let apps = api_resource_list_of(&d, "apps", "v1").unwrap();
        assert_eq!(apps["apiVersion"], "v1");
        assert_eq!(apps["groupVersion"], "apps/v1");
        assert_eq!(apps["resources"][1]["name"], "deployments/scale");
        assert_eq!(apps["resources"][1]["group"], "autoscaling");
        assert_eq!(apps["resources"][1]["kind"], "Scale");
        assert!(apps["resources"][2].get("group").is_none());

        // HPA v1 is stored as autoscaling/v2: both versions share one hash.
        let h1 = api_resource_list_of(&d, "autoscaling", "v1").unwrap();
        let h2 = api_resource_list_of(&d, "autoscaling", "v2").unwrap();
        assert_eq!(h1["resources"][0]["storageVersionHash"], h2["resources"][0]["storageVersionHash"]);
        assert_eq!(
            h1["resources"][0]["storageVersionHash"],
            json!(storage_version_hash("autoscaling", "v2", "HorizontalPodAutoscaler"))
        );

        assert!(api_resource_list_of(&d, "apps", "v2").is_none());
        assert!(api_resource_list_of(&d, "metrics.k8s.io", "v1beta1").is_none());
    }

    #[test]
    fn aggregated_documents() {
        let d = defs();
        let core = aggregated_of(&d, true);
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
        assert_eq!(core["metadata"], json!({}));
        let items = core["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0]["metadata"].get("name").is_none());
        let v1 = &items[0]["versions"][0];
        assert_eq!(v1["version"], "v1");
        assert_eq!(v1["freshness"], "Current");
        let pods = &v1["resources"][1];
        assert_eq!(
            *pods,
            json!({"resource": "pods", "responseKind": {"group": "", "version": "", "kind": "Pod"},
                   "scope": "Namespaced", "singularResource": "pod",
                   "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                   "shortNames": ["po"], "categories": ["all"],
                   "subresources": [
                       {"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
                        "verbs": ["create"]},
                       {"subresource": "log", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "verbs": ["get"]},
                       {"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Pod"},
                        "verbs": ["get", "patch", "update"]}]})
        );
        assert_eq!(v1["resources"][0]["scope"], "Cluster");
        assert!(v1["resources"][0].get("subresources").is_none());

        let apis = aggregated_of(&d, false);
        let items = apis["items"].as_array().unwrap();
        let names: Vec<&str> = items.iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["apps", "autoscaling", "batch", "example.com"]);
        let versions: Vec<&str> =
            items[1]["versions"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
        assert_eq!(versions, ["v2", "v1"]);
        let deploy = &items[0]["versions"][0]["resources"][0];
        assert_eq!(deploy["subresources"][0]["subresource"], "scale");
        assert_eq!(
            deploy["subresources"][0]["responseKind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
    }

    #[test]
    fn accept_negotiation() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(kubectl));
        assert!(!wants_aggregated("application/json"));
        assert!(!wants_aggregated("application/json, */*"));
        assert!(!wants_aggregated(""));
        assert!(!wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(wants_aggregated("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"));
    }
}
