//! The definitions (`io.k8s.api.apps.v1.Deployment`, …) of every served kind, its List and
//! the meta types the operations use, generated from k8s-openapi's schemars impls and brought
//! to upstream's shape: Swagger 2.0 form (`#/definitions/<name>` refs, `$ref` with siblings),
//! `x-kubernetes-group-version-kind` on kinds, and the field facts of `facts`.

use k8s_openapi::api;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::facts;
use crate::registry::{self, ResourceDef};

/// Where definitions live in the Swagger 2.0 form every schema is first built in.
pub const V2_PREFIX: &str = "#/definitions/";

/// A (group, version, kind) the documents know a Rust type for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
}

impl Gvk {
    pub fn to_json(self) -> Value {
        json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

/// Registers `T`'s schema (and everything it refers to) and returns its definition name.
fn add<T: JsonSchema>(gen: &mut SchemaGenerator) -> String {
    let _ = gen.subschema_for::<T>();
    T::schema_name().into_owned()
}

macro_rules! kinds {
    ($($g:literal $v:literal $k:literal => $t:ty;)*) => {
        /// Every top-level kind with a Rust type: served kinds and the kinds their
        /// subresources take or answer with.
        pub const KINDS: &[Gvk] = &[$(Gvk { group: $g, version: $v, kind: $k }),*];

        /// Registers the kind's type; None when no Rust type is known for it.
        fn add_kind(gen: &mut SchemaGenerator, gvk: Gvk) -> Option<String> {
            match (gvk.group, gvk.version, gvk.kind) {
                $(($g, $v, $k) => Some(add::<$t>(gen)),)*
                _ => None,
            }
        }
    };
}

kinds! {
    "" "v1" "Binding" => api::core::v1::Binding;
    "" "v1" "ConfigMap" => api::core::v1::ConfigMap;
    "" "v1" "Endpoints" => api::core::v1::Endpoints;
    "" "v1" "Event" => api::core::v1::Event;
    "" "v1" "LimitRange" => api::core::v1::LimitRange;
    "" "v1" "Namespace" => api::core::v1::Namespace;
    "" "v1" "Node" => api::core::v1::Node;
    "" "v1" "PersistentVolume" => api::core::v1::PersistentVolume;
    "" "v1" "PersistentVolumeClaim" => api::core::v1::PersistentVolumeClaim;
    "" "v1" "Pod" => api::core::v1::Pod;
    "" "v1" "ReplicationController" => api::core::v1::ReplicationController;
    "" "v1" "ResourceQuota" => api::core::v1::ResourceQuota;
    "" "v1" "Secret" => api::core::v1::Secret;
    "" "v1" "Service" => api::core::v1::Service;
    "" "v1" "ServiceAccount" => api::core::v1::ServiceAccount;
    "apps" "v1" "ControllerRevision" => api::apps::v1::ControllerRevision;
    "apps" "v1" "DaemonSet" => api::apps::v1::DaemonSet;
    "apps" "v1" "Deployment" => api::apps::v1::Deployment;
    "apps" "v1" "ReplicaSet" => api::apps::v1::ReplicaSet;
    "apps" "v1" "StatefulSet" => api::apps::v1::StatefulSet;
    "authentication.k8s.io" "v1" "TokenRequest" => api::authentication::v1::TokenRequest;
    "autoscaling" "v1" "HorizontalPodAutoscaler" => api::autoscaling::v1::HorizontalPodAutoscaler;
    "autoscaling" "v1" "Scale" => api::autoscaling::v1::Scale;
    "autoscaling" "v2" "HorizontalPodAutoscaler" => api::autoscaling::v2::HorizontalPodAutoscaler;
    "batch" "v1" "CronJob" => api::batch::v1::CronJob;
    "batch" "v1" "Job" => api::batch::v1::Job;
    "coordination.k8s.io" "v1" "Lease" => api::coordination::v1::Lease;
    "discovery.k8s.io" "v1" "EndpointSlice" => api::discovery::v1::EndpointSlice;
    "events.k8s.io" "v1" "Event" => api::events::v1::Event;
    "networking.k8s.io" "v1" "Ingress" => api::networking::v1::Ingress;
    "networking.k8s.io" "v1" "IngressClass" => api::networking::v1::IngressClass;
    "networking.k8s.io" "v1" "NetworkPolicy" => api::networking::v1::NetworkPolicy;
    "networking.k8s.io" "v1" "IPAddress" => api::networking::v1::IPAddress;
    "networking.k8s.io" "v1" "ServiceCIDR" => api::networking::v1::ServiceCIDR;
    "policy" "v1" "Eviction" => api::policy::v1::Eviction;
    "policy" "v1" "PodDisruptionBudget" => api::policy::v1::PodDisruptionBudget;
    "rbac.authorization.k8s.io" "v1" "ClusterRole" => api::rbac::v1::ClusterRole;
    "rbac.authorization.k8s.io" "v1" "ClusterRoleBinding" => api::rbac::v1::ClusterRoleBinding;
    "rbac.authorization.k8s.io" "v1" "Role" => api::rbac::v1::Role;
    "rbac.authorization.k8s.io" "v1" "RoleBinding" => api::rbac::v1::RoleBinding;
    "scheduling.k8s.io" "v1" "PriorityClass" => api::scheduling::v1::PriorityClass;
    "storage.k8s.io" "v1" "StorageClass" => api::storage::v1::StorageClass;
}

/// Meta types named by operations, not by a served resource.
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
pub const API_VERSIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions";
pub const API_GROUP_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList";
pub const API_GROUP: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup";
pub const VERSION_INFO: &str = "io.k8s.apimachinery.pkg.version.Info";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// All definitions, Swagger 2.0 form, keys sorted, plus which name a kind has.
pub struct Definitions {
    pub defs: Map<String, Value>,
    /// (kind, its definition name, its List's definition name if it has one).
    pub kinds: Vec<(Gvk, String, Option<String>)>,
}

impl Definitions {
    pub fn name_of(&self, gvk: Gvk) -> Option<&str> {
        self.kinds.iter().find(|(g, _, _)| *g == gvk).map(|(_, n, _)| n.as_str())
    }
    pub fn list_of(&self, gvk: Gvk) -> Option<&str> {
        self.kinds.iter().find(|(g, _, _)| *g == gvk).and_then(|(_, _, l)| l.as_deref())
    }
}

fn def_gvk(d: &ResourceDef) -> Gvk {
    Gvk { group: d.group, version: d.version, kind: d.kind }
}

/// The group-versions served, core first, in registry order.
fn served_group_versions() -> Vec<(&'static str, &'static str)> {
    let mut gvs: Vec<(&'static str, &'static str)> = Vec::new();
    for d in registry::all() {
        if !gvs.contains(&(d.group, d.version)) {
            gvs.push((d.group, d.version));
        }
    }
    gvs
}

/// Builds every definition the documents need.
pub fn build() -> Definitions {
    let settings = SchemaSettings::draft07().with(|s| {
        s.meta_schema = None;
        s.transforms.clear();
        s.definitions_path = "/definitions".into();
    });
    let mut gen = SchemaGenerator::new(settings);

    // Served kinds (with Lists) and the kinds subresources use.
    let mut kinds: Vec<(Gvk, String, Option<String>)> = Vec::new();
    let mut list_defs: Vec<(Gvk, String, String)> = Vec::new();
    let mut wanted: Vec<(Gvk, bool)> = Vec::new();
    for d in registry::all() {
        wanted.push((def_gvk(d), true));
        for s in d.subresources {
            wanted.push((Gvk { group: s.group, version: s.version, kind: s.kind }, false));
        }
    }
    for (gvk, listed) in wanted {
        if let Some(i) = kinds.iter().position(|(g, _, _)| *g == gvk) {
            if listed && kinds[i].2.is_none() {
                let list = format!("{}List", kinds[i].1);
                list_defs.push((gvk, kinds[i].1.clone(), list.clone()));
                kinds[i].2 = Some(list);
            }
            continue;
        }
        let Some(name) = add_kind(&mut gen, gvk) else { continue };
        let list = listed.then(|| format!("{name}List"));
        if let Some(l) = &list {
            list_defs.push((gvk, name.clone(), l.clone()));
        }
        kinds.push((gvk, name, list));
    }
    // Meta types of the operations and the discovery documents.
    add::<meta::Status>(&mut gen);
    add::<meta::DeleteOptions>(&mut gen);
    add::<meta::Patch>(&mut gen);
    add::<meta::WatchEvent<api::core::v1::Pod>>(&mut gen);
    add::<meta::APIResourceList>(&mut gen);
    add::<meta::APIVersions>(&mut gen);
    add::<meta::APIGroupList>(&mut gen);
    add::<meta::APIGroup>(&mut gen);
    add::<meta::ListMeta>(&mut gen);
    add::<k8s_openapi::apimachinery::pkg::version::Info>(&mut gen);

    let mut defs = gen.take_definitions(false);
    for (gvk, item, list) in &list_defs {
        defs.insert(list.clone(), list_schema(*gvk, item));
    }

    // Upstream's shape for the special scalar types.
    fix_scalars(&mut defs);
    // Kinds carry their group-version-kind; Lists theirs.
    for (gvk, name, list) in &kinds {
        if let Some(Value::Object(s)) = defs.get_mut(name) {
            drop_required_metadata(s);
            s.insert("x-kubernetes-group-version-kind".into(), json!([gvk.to_json()]));
        }
        if let Some(Value::Object(s)) = list.as_ref().and_then(|l| defs.get_mut(l)) {
            let list_kind = format!("{}List", gvk.kind);
            s.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": gvk.group, "kind": list_kind, "version": gvk.version}]),
            );
        }
    }
    meta_kinds(&mut defs);
    facts::apply(&mut defs);

    let defs = sort_keys(Value::Object(defs));
    let Value::Object(defs) = defs else { unreachable!("sorting keeps an object an object") };
    Definitions { defs, kinds }
}

/// `<Kind>List`: apiVersion, items, kind, metadata (ListMeta); items required.
fn list_schema(gvk: Gvk, item: &str) -> Value {
    json!({
        "description": format!("{}List is a list of {} objects.", gvk.kind, gvk.kind),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string",
            },
            "items": {
                "description": format!("List of {} objects.", gvk.kind),
                "type": "array",
                "items": {"$ref": format!("{V2_PREFIX}{item}")},
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string",
            },
            "metadata": {
                "$ref": format!("{V2_PREFIX}{LIST_META}"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            },
        },
        "required": ["items"],
    })
}

/// k8s-openapi makes `metadata` required on every resource (it is not an Option in Rust);
/// upstream requires it nowhere.
fn drop_required_metadata(s: &mut Map<String, Value>) {
    if let Some(Value::Array(req)) = s.get_mut("required") {
        req.retain(|r| r != "metadata");
        if req.is_empty() {
            s.remove("required");
        }
    }
}

/// IntOrString and Quantity are strings on upstream's wire schema (IntOrString with format
/// int-or-string); k8s-openapi describes them with `x-kubernetes-int-or-string` alone.
fn fix_scalars(defs: &mut Map<String, Value>) {
    let fixes: [(&str, Value); 2] = [
        ("io.k8s.apimachinery.pkg.util.intstr.IntOrString", json!({"type": "string", "format": "int-or-string"})),
        ("io.k8s.apimachinery.pkg.api.resource.Quantity", json!({"type": "string"})),
    ];
    for (name, fix) in fixes {
        if let Some(Value::Object(s)) = defs.get_mut(name) {
            s.remove("x-kubernetes-int-or-string");
            if let Value::Object(f) = fix {
                s.extend(f);
            }
        }
    }
}

/// The group-version-kinds upstream lists on the meta types: DeleteOptions and WatchEvent
/// under every served group-version, Status and the discovery kinds under core v1.
fn meta_kinds(defs: &mut Map<String, Value>) {
    let everywhere = |kind: &str| -> Value {
        let mut v: Vec<Value> = served_group_versions()
            .into_iter()
            .map(|(g, ver)| json!({"group": g, "kind": kind, "version": ver}))
            .collect();
        for (g, ver) in [("authentication.k8s.io", "v1"), ("meta.k8s.io", "v1")] {
            let e = json!({"group": g, "kind": kind, "version": ver});
            if !v.contains(&e) {
                v.push(e);
            }
        }
        Value::Array(v)
    };
    let core = |kind: &str| json!([{"group": "", "kind": kind, "version": "v1"}]);
    let set: [(&str, Value); 7] = [
        (DELETE_OPTIONS, everywhere("DeleteOptions")),
        (WATCH_EVENT, everywhere("WatchEvent")),
        (STATUS, core("Status")),
        (API_RESOURCE_LIST, core("APIResourceList")),
        (API_VERSIONS, core("APIVersions")),
        (API_GROUP_LIST, core("APIGroupList")),
        (API_GROUP, core("APIGroup")),
    ];
    for (name, gvks) in set {
        if let Some(Value::Object(s)) = defs.get_mut(name) {
            s.insert("x-kubernetes-group-version-kind".into(), gvks);
        }
    }
}

/// Objects with their keys sorted, as upstream (Go's encoding of maps) writes them.
pub fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Every `$ref` target below `v`, without the prefix.
pub fn refs_in<'a>(v: &'a Value, prefix: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(r) = x.as_str().and_then(|r| r.strip_prefix(prefix)) {
                        out.push(r);
                    }
                } else {
                    refs_in(x, prefix, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs_in(x, prefix, out)),
        _ => {}
    }
}

/// The definitions reachable from `roots`, sorted by name.
pub fn closure(defs: &Map<String, Value>, roots: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(s) = defs.get(&n) {
            let mut out = Vec::new();
            refs_in(s, V2_PREFIX, &mut out);
            todo.extend(out.into_iter().filter(|r| !seen.contains(*r)).map(str::to_string));
        }
    }
    seen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_kind_has_a_schema_and_a_list() {
        let d = build();
        for def in registry::all() {
            let gvk = def_gvk(def);
            let name = d.name_of(gvk).unwrap_or_else(|| panic!("no schema for {gvk:?}"));
            let list = d.list_of(gvk).unwrap();
            for n in [name, list] {
                assert!(d.defs[n]["x-kubernetes-group-version-kind"].is_array(), "{n}");
            }
            for s in def.subresources {
                if matches!(s.name, "status" | "scale" | "binding" | "eviction" | "token") {
                    assert!(
                        d.name_of(Gvk { group: s.group, version: s.version, kind: s.kind }).is_some(),
                        "{}",
                        s.kind
                    );
                }
            }
        }
        assert_eq!(
            d.name_of(Gvk { group: "apps", version: "v1", kind: "Deployment" }),
            Some("io.k8s.api.apps.v1.Deployment")
        );
        assert!(d.defs["io.k8s.api.apps.v1.Deployment"].get("required").is_none());
        assert_eq!(d.defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"], "int-or-string");
    }

    #[test]
    fn every_ref_resolves() {
        let d = build();
        let mut out = Vec::new();
        for s in d.defs.values() {
            refs_in(s, V2_PREFIX, &mut out);
        }
        for r in out {
            assert!(d.defs.contains_key(r), "dangling {r}");
        }
    }
}
