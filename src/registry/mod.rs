//! Every built-in kind's behaviour, one module per kind (or group): how it is named, scoped,
//! stored, printed as a Table, selected by fields, defaulted and validated. The generic
//! create/read/update/delete/watch machinery over the store lives in `generic`.

use serde_json::Value;

pub mod print;

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

pub mod names;
pub mod selector;

/// Every served resource (filled in by the kind modules).
pub fn all() -> &'static [&'static ResourceDef] {
    &[]
}

/// The def serving `group/version` `plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    all().iter().copied().find(|d| d.group == group && d.version == version && d.plural == plural)
}
