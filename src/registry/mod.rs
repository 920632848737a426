//! Every built-in kind's behaviour, one module per kind (or group): how it is named, scoped,
//! stored, printed as a Table, selected by fields, defaulted and validated. The generic
//! create/read/update/delete/watch machinery over the store lives in `generic`.

use serde_json::Value;

pub mod allocator;
pub mod apply;
pub mod fields;
pub mod generic;
pub mod hooks;
pub mod print;
pub mod status;
pub mod patch;

/// A served (group, version, resource) and everything the API needs to know about it.
/// Each kind module exposes one or more `pub static` defs; `all()` lists them.
#[derive(Debug)]
pub struct ResourceDef {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Plural resource name, as in URLs: "deployments".
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Key prefix in the store, as Kubernetes lays it out in etcd: "/registry/deployments",
    /// "/registry/minions" for nodes, "/registry/services/specs" for services. Objects live at
    /// `<prefix>/<namespace>/<name>` or `<prefix>/<name>`.
    pub storage_prefix: &'static str,
    /// The apiVersion objects are stored in ("autoscaling/v2" for both HPA versions).
    pub storage_version: &'static str,
    /// Converts an object of this def's version into the storage version (None = identity).
    pub to_storage: Option<fn(Value) -> Result<Value, String>>,
    /// Converts a stored object into this def's version (None = identity).
    pub from_storage: Option<fn(Value) -> Value>,
    /// Has a status subresource: updates of the main resource keep the stored status and
    /// updates of /status change only the status.
    pub has_status: bool,
    /// metadata.generation is set to 1 on create and bumped when anything outside
    /// metadata and status changes.
    pub tracks_generation: bool,
    pub name_rule: NameRule,
    /// Table columns, in order, with priority 1 for `-o wide` columns.
    pub columns: &'static [Column],
    /// The Table cells of one object (same length and order as `columns`).
    pub row: fn(&Value, jiff::Timestamp) -> Vec<Value>,
    /// Field selector labels this kind supports besides metadata.name and metadata.namespace.
    pub field_labels: &'static [&'static str],
    /// The value of a field label for an object (None if unsupported).
    pub field_value: fn(&Value, &str) -> Option<String>,
    /// Defaulting on create and update (filled by the kubectl-fidelity work).
    pub default: fn(&mut Value),
    /// Validation of a new object (and its old version on update); each error is
    /// (field path, message) as Kubernetes words it.
    pub validate: fn(&Value, Option<&Value>) -> Vec<FieldError>,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// "deployments.apps", "pods": the name used in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/{}/{}", self.storage_prefix, ns, name),
            _ => format!("{}/{}", self.storage_prefix, name),
        }
    }
    /// Prefix covering every object of this resource in one namespace (or all namespaces).
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/{}/", self.storage_prefix, ns),
            _ => format!("{}/", self.storage_prefix),
        }
    }
}

#[derive(Debug)]
pub struct Subresource {
    pub name: &'static str,
    /// The kind the subresource answers with: ("autoscaling", "v1", "Scale") for scale,
    /// the parent's own kind for status.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    /// "string", "integer", "number", "boolean" or "date".
    pub type_: &'static str,
    /// "name" for the name column, "" otherwise.
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// RFC 1035 label (services).
    Label1035,
    /// Any name that is a valid path segment (not "." or "..", no "/" or "%").
    PathSegment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// "metadata.name", "spec.template.metadata.labels".
    pub field: String,
    /// Kubernetes' reason: "FieldValueInvalid", "FieldValueRequired", ...
    pub reason: &'static str,
    /// The full message as Kubernetes prints it for this field, e.g.
    /// `Invalid value: "Foo": a lowercase RFC 1123 subdomain must consist of ...`.
    pub message: String,
}

pub const VERBS_ALL: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
pub const VERBS_GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

pub mod defaulting;
pub mod names;
pub mod podspec;
pub mod selector;
pub mod validation;

// One module per built-in kind (or small group of kinds).
pub mod configmap;
pub mod controllerrevision;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod event;
pub mod horizontalpodautoscaler;
pub mod ingress;
pub mod ipaddress;
pub mod job;
pub mod lease;
pub mod limitrange;
pub mod namespace;
pub mod networkpolicy;
pub mod node;
pub mod persistentvolume;
pub mod persistentvolumeclaim;
pub mod pod;
pub mod poddisruptionbudget;
pub mod priorityclass;
pub mod rbac;
pub mod replicaset;
pub mod replicationcontroller;
pub mod resourcequota;
pub mod secret;
pub mod service;
pub mod servicecidr;
pub mod serviceaccount;
pub mod statefulset;
pub mod storageclass;

/// Every served resource: core/v1 first, then the groups in the order a 1.33 apiserver's
/// discovery lists them (apps, events.k8s.io, autoscaling v2 before v1, batch,
/// networking.k8s.io, policy, rbac.authorization.k8s.io, storage.k8s.io, scheduling.k8s.io,
/// coordination.k8s.io, discovery.k8s.io); resources alphabetical within a group-version.
pub fn all() -> &'static [&'static ResourceDef] {
    static ALL: &[&ResourceDef] = &[
        // core/v1
        &configmap::CONFIGMAPS,
        &endpoints::ENDPOINTS,
        &event::EVENTS,
        &limitrange::LIMITRANGES,
        &namespace::NAMESPACES,
        &node::NODES,
        &persistentvolumeclaim::PERSISTENTVOLUMECLAIMS,
        &persistentvolume::PERSISTENTVOLUMES,
        &pod::PODS,
        &replicationcontroller::REPLICATIONCONTROLLERS,
        &resourcequota::RESOURCEQUOTAS,
        &secret::SECRETS,
        &serviceaccount::SERVICEACCOUNTS,
        &service::SERVICES,
        // apps/v1
        &controllerrevision::CONTROLLERREVISIONS,
        &daemonset::DAEMONSETS,
        &deployment::DEPLOYMENTS,
        &replicaset::REPLICASETS,
        &statefulset::STATEFULSETS,
        // events.k8s.io/v1
        &event::EVENTS_V1,
        // autoscaling/v2, then autoscaling/v1
        &horizontalpodautoscaler::HORIZONTALPODAUTOSCALERS_V2,
        &horizontalpodautoscaler::HORIZONTALPODAUTOSCALERS_V1,
        // batch/v1
        &cronjob::CRONJOBS,
        &job::JOBS,
        // networking.k8s.io/v1
        &ingress::INGRESSCLASSES,
        &ingress::INGRESSES,
        &ipaddress::IPADDRESSES,
        &networkpolicy::NETWORKPOLICIES,
        &servicecidr::SERVICECIDRS,
        // policy/v1
        &poddisruptionbudget::PODDISRUPTIONBUDGETS,
        // rbac.authorization.k8s.io/v1
        &rbac::CLUSTERROLEBINDINGS,
        &rbac::CLUSTERROLES,
        &rbac::ROLEBINDINGS,
        &rbac::ROLES,
        // storage.k8s.io/v1
        &storageclass::STORAGECLASSES,
        // scheduling.k8s.io/v1
        &priorityclass::PRIORITYCLASSES,
        // coordination.k8s.io/v1
        &lease::LEASES,
        // discovery.k8s.io/v1
        &endpointslice::ENDPOINTSLICES,
    ];
    ALL
}

/// The objects a fresh cluster starts with: the four system namespaces and the two system
/// priority classes. uid, resourceVersion and timestamps are the caller's to fill.
pub fn builtin_objects() -> Vec<(&'static ResourceDef, Value)> {
    let namespaces = namespace::builtin().into_iter().map(|o| (&namespace::NAMESPACES, o));
    let classes = priorityclass::builtin().into_iter().map(|o| (&priorityclass::PRIORITYCLASSES, o));
    namespaces.chain(classes).collect()
}

/// The def serving `group/version` `plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    all().iter().copied().find(|d| d.group == group && d.version == version && d.plural == plural)
}

#[cfg(test)]
mod catalog_tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_def_prints_a_full_row_for_any_shape() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let shapes = [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!([1, 2]),
            serde_json::json!({"metadata": 5, "spec": "x", "status": [1], "subsets": {"a": 1}}),
            serde_json::json!({"spec": {"containers": 3, "ports": [null, 1, "x"], "metrics": [{"type": "Resource"}]},
                               "status": {"containerStatuses": [null, {"state": 1}], "conditions": "x"}}),
        ];
        for def in all() {
            for shape in &shapes {
                let cells = (def.row)(shape, now);
                assert_eq!(cells.len(), def.columns.len(), "{}", def.qualified());
            }
            assert!(def.columns.iter().all(|c| !c.name.is_empty() && !c.description.is_empty()));
            assert!(def.columns.iter().any(|c| c.format == "name"), "{}", def.qualified());
        }
    }

    #[test]
    fn group_version_resources_are_unique_and_findable() {
        let mut seen = HashSet::new();
        for def in all() {
            assert!(seen.insert((def.group, def.version, def.plural)), "duplicate {}", def.qualified());
            let found = find(def.group, def.version, def.plural).unwrap();
            assert!(std::ptr::eq(found, *def));
            assert!(def.storage_prefix.starts_with("/registry/"));
            assert!(!def.storage_prefix.ends_with('/'));
        }
        assert!(find("apps", "v1", "deployments").is_some());
        assert_eq!(find("", "v1", "nodes").unwrap().storage_prefix, "/registry/minions");
        assert_eq!(find("autoscaling", "v1", "horizontalpodautoscalers").unwrap().storage_version, "autoscaling/v2");
        assert!(find("apps", "v1beta1", "deployments").is_none());
        assert!(find("", "v1", "deployments").is_none());
    }

    #[test]
    fn name_rules_follow_upstream_validation() {
        let rule = |g: &str, p: &str| find(g, "v1", p).unwrap().name_rule;
        assert_eq!(rule("", "namespaces"), NameRule::Label);
        assert_eq!(rule("", "services"), NameRule::Label1035);
        assert_eq!(rule("apps", "statefulsets"), NameRule::Label);
        assert_eq!(rule("", "pods"), NameRule::Subdomain);
        assert_eq!(rule("rbac.authorization.k8s.io", "clusterroles"), NameRule::PathSegment);
        assert_eq!(rule("rbac.authorization.k8s.io", "rolebindings"), NameRule::PathSegment);
    }

    #[test]
    fn field_values_answer_metadata_and_their_labels() {
        let obj = serde_json::json!({"metadata": {"name": "n", "namespace": "ns"}});
        for def in all() {
            assert_eq!((def.field_value)(&obj, "metadata.name").as_deref(), Some("n"), "{}", def.qualified());
            assert_eq!((def.field_value)(&obj, "metadata.namespace").as_deref(), Some("ns"));
            for label in def.field_labels {
                assert!((def.field_value)(&serde_json::json!({}), label).is_some(), "{} {label}", def.qualified());
            }
            assert_eq!((def.field_value)(&obj, "no.such.field"), None);
        }
    }

    #[test]
    fn builtin_objects_are_namespaces_and_priority_classes() {
        let objs = builtin_objects();
        let names: Vec<(&str, &str)> = objs
            .iter()
            .map(|(d, o)| (d.plural, o["metadata"]["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("namespaces", "default"),
                ("namespaces", "kube-system"),
                ("namespaces", "kube-public"),
                ("namespaces", "kube-node-lease"),
                ("priorityclasses", "system-node-critical"),
                ("priorityclasses", "system-cluster-critical"),
            ]
        );
        let (_, kube_system) = &objs[1];
        assert_eq!(kube_system["metadata"]["labels"]["kubernetes.io/metadata.name"], "kube-system");
        assert_eq!(kube_system["spec"]["finalizers"][0], "kubernetes");
        assert_eq!(kube_system["status"]["phase"], "Active");
        assert_eq!(objs[5].1["value"], 2_000_000_000);
    }
}
