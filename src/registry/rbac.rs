//! RBAC (rbac.authorization.k8s.io/v1): Roles and ClusterRoles (default Table),
//! RoleBindings and ClusterRoleBindings (role and subjects). Names are path segments.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

const GROUP: &str = "rbac.authorization.k8s.io";
const API_VERSION: &str = "rbac.authorization.k8s.io/v1";

pub static CLUSTERROLEBINDINGS: ResourceDef = ResourceDef {
    group: GROUP,
    version: "v1",
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
    singular: "clusterrolebinding",
    namespaced: false,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/clusterrolebindings",
    storage_version: API_VERSION,
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::PathSegment,
    columns: CLUSTERROLEBINDING_COLUMNS,
    row: binding_row,
    field_labels: &[],
    field_value: meta_field_value,
    default: default_binding,
    validate: validate_cluster_role_binding,
};

pub static CLUSTERROLES: ResourceDef = ResourceDef {
    group: GROUP,
    version: "v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    singular: "clusterrole",
    namespaced: false,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/clusterroles",
    storage_version: API_VERSION,
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::PathSegment,
    columns: DEFAULT_COLUMNS,
    row: default_row,
    field_labels: &[],
    field_value: meta_field_value,
    default: default_role,
    validate: validate_cluster_role,
};

pub static ROLEBINDINGS: ResourceDef = ResourceDef {
    group: GROUP,
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    singular: "rolebinding",
    namespaced: true,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/rolebindings",
    storage_version: API_VERSION,
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::PathSegment,
    columns: ROLEBINDING_COLUMNS,
    row: binding_row,
    field_labels: &[],
    field_value: meta_field_value,
    default: default_binding,
    validate: validate_role_binding,
};

pub static ROLES: ResourceDef = ResourceDef {
    group: GROUP,
    version: "v1",
    kind: "Role",
    plural: "roles",
    singular: "role",
    namespaced: true,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/roles",
    storage_version: API_VERSION,
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::PathSegment,
    columns: DEFAULT_COLUMNS,
    row: default_row,
    field_labels: &[],
    field_value: meta_field_value,
    default: default_role,
    validate: validate_role,
};

static ROLEBINDING_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Role", type_: "string", format: "", description: "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Users", type_: "string", format: "", description: "Users in the roleBinding", priority: 1 },
    Column { name: "Groups", type_: "string", format: "", description: "Groups in the roleBinding", priority: 1 },
    Column { name: "ServiceAccounts", type_: "string", format: "", description: "ServiceAccounts in the roleBinding", priority: 1 },
];

static CLUSTERROLEBINDING_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Role", type_: "string", format: "", description: "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Users", type_: "string", format: "", description: "Users in the clusterRoleBinding", priority: 1 },
    Column { name: "Groups", type_: "string", format: "", description: "Groups in the clusterRoleBinding", priority: 1 },
    Column { name: "ServiceAccounts", type_: "string", format: "", description: "ServiceAccounts in the clusterRoleBinding", priority: 1 },
];

/// Name, Role ("Kind/name"), Age, Users, Groups, ServiceAccounts ("ns/name").
fn binding_row(b: &Value, now: Timestamp) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr_at(b, "/subjects") {
        let subject_name = str_at(subject, "/name");
        match str_at(subject, "/kind") {
            "ServiceAccount" => sas.push(format!("{}/{}", str_at(subject, "/namespace"), subject_name)),
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            _ => {}
        }
    }
    vec![
        name(b),
        s(format!("{}/{}", str_at(b, "/roleRef/kind"), str_at(b, "/roleRef/name"))),
        age(b, now),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(sas.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binding_cells() {
        let b = json!({"metadata": {"name": "admin"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "Group", "name": "system:masters"}, {"kind": "User", "name": "alice"},
                         {"kind": "ServiceAccount", "namespace": "kube-system", "name": "default"},
                         {"kind": "User", "name": "bob"}]});
        let c = binding_row(&b, Timestamp::UNIX_EPOCH);
        assert_eq!(c[1], json!("ClusterRole/cluster-admin"));
        assert_eq!(c[3..6], [json!("alice, bob"), json!("system:masters"), json!("kube-system/default")]);
    }
}

/// SetDefaults_RoleBinding / _ClusterRoleBinding (roleRef in rbac.authorization.k8s.io) and
/// SetDefaults_Subject (users and groups in rbac.authorization.k8s.io).
fn default_binding(obj: &mut Value) {
    use super::defaulting::*;
    const GROUP: &str = "rbac.authorization.k8s.io";
    let Some(root) = root(obj) else { return };
    if let Some(r) = child(root, "roleRef") {
        default_str(r, "apiGroup", GROUP);
    }
    for s in items(root, "subjects") {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        if matches!(kind, "User" | "Group") {
            default_str(s, "apiGroup", GROUP);
        }
    }
}

/// Roles have no defaults; `rules` is a list Go writes as null when there is none.
fn default_role(obj: &mut Value) {
    if let Some(root) = obj.as_object_mut() {
        super::defaulting::go_zero(root, &[("rules", Value::Null)]);
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binding_and_role_defaults() {
        let mut b = json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "sa", "namespace": "default"}]});
        default_binding(&mut b);
        assert_eq!(b["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(b["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(b["subjects"][1]["apiGroup"], "rbac.authorization.k8s.io");
        assert!(b["subjects"][2].get("apiGroup").is_none());
        let mut r = json!({"metadata": {"name": "agg"}, "aggregationRule": {}});
        default_role(&mut r);
        assert!(r["rules"].is_null() && r.get("rules").is_some());
    }
}

use super::validation::{go, invalid, list_of, not_supported, obj_of, required, str_of, Path};

/// ValidateRole: every rule names verbs, and API groups and resources (or, cluster-wide only,
/// non-resource URLs).
fn validate_role(role: &Value, _old: Option<&Value>) -> Vec<super::FieldError> {
    policy_rules(role, true)
}

/// ValidateClusterRole.
fn validate_cluster_role(role: &Value, _old: Option<&Value>) -> Vec<super::FieldError> {
    policy_rules(role, false)
}

fn policy_rules(role: &Value, namespaced: bool) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    for (i, rule) in list_of(role, "rules").iter().enumerate() {
        let p = Path::new("rules").index(i);
        if list_of(rule, "verbs").is_empty() {
            errs.push(required(&p.child("verbs"), "verbs must contain at least one value"));
        }
        let urls = list_of(rule, "nonResourceURLs");
        if !urls.is_empty() {
            let shown = go::string_slice(rule.get("nonResourceURLs"));
            if namespaced {
                errs.push(invalid(
                    &p.child("nonResourceURLs"),
                    shown.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !list_of(rule, "apiGroups").is_empty()
                || !list_of(rule, "resources").is_empty()
                || !list_of(rule, "resourceNames").is_empty()
            {
                errs.push(invalid(
                    &p.child("nonResourceURLs"),
                    shown,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if list_of(rule, "apiGroups").is_empty() {
            errs.push(required(&p.child("apiGroups"), "resource rules must supply at least one api group"));
        }
        if list_of(rule, "resources").is_empty() {
            errs.push(required(&p.child("resources"), "resource rules must supply at least one resource"));
        }
    }
    errs
}

/// ValidateRoleBinding(Update).
fn validate_role_binding(b: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    binding(b, old, true)
}

/// ValidateClusterRoleBinding(Update): only ClusterRoles, and service accounts need a namespace.
fn validate_cluster_role_binding(b: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    binding(b, old, false)
}

fn binding(b: &Value, old: Option<&Value>, namespaced: bool) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    let rr = obj_of(b, "roleRef");
    let rp = Path::new("roleRef");
    let group = str_of(rr, "apiGroup");
    if group != GROUP {
        errs.push(not_supported(&rp.child("apiGroup"), go::str(group), &[GROUP]));
    }
    let kind = str_of(rr, "kind");
    let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !kinds.contains(&kind) {
        errs.push(not_supported(&rp.child("kind"), go::str(kind), kinds));
    }
    let name = str_of(rr, "name");
    if name.is_empty() {
        errs.push(required(&rp.child("name"), ""));
    } else {
        for m in super::names::is_valid_path_segment_name(name) {
            errs.push(invalid(&rp.child("name"), go::str(name), &m));
        }
    }
    for (i, s) in list_of(b, "subjects").iter().enumerate() {
        let p = Path::new("subjects").index(i);
        let sname = str_of(s, "name");
        if sname.is_empty() {
            errs.push(required(&p.child("name"), ""));
        }
        let sgroup = str_of(s, "apiGroup");
        match str_of(s, "kind") {
            "ServiceAccount" => {
                if !sname.is_empty() {
                    for m in super::names::is_dns1123_subdomain(sname) {
                        errs.push(invalid(&p.child("name"), go::str(sname), &m));
                    }
                }
                if !sgroup.is_empty() {
                    errs.push(not_supported(&p.child("apiGroup"), go::str(sgroup), &[""]));
                }
                if !namespaced && str_of(s, "namespace").is_empty() {
                    errs.push(required(&p.child("namespace"), ""));
                }
            }
            "User" | "Group" => {
                // An unset apiGroup defaults to rbac.authorization.k8s.io.
                if !sgroup.is_empty() && sgroup != GROUP {
                    errs.push(not_supported(&p.child("apiGroup"), go::str(sgroup), &[GROUP]));
                }
            }
            other => errs.push(not_supported(&p.child("kind"), go::str(other), &["ServiceAccount", "User", "Group"])),
        }
    }
    if let Some(old) = old {
        let orr = obj_of(old, "roleRef");
        let fields = ["apiGroup", "kind", "name"];
        if fields.iter().any(|f| str_of(rr, f) != str_of(orr, f)) {
            let shown =
                format!("rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}", go::str(group), go::str(kind), go::str(name));
            errs.push(invalid(&rp, shown, "cannot change roleRef"));
        }
    }
    errs
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    #[test]
    fn rules_and_bindings() {
        let role = json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, {"resources": ["pods"]}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]});
        assert_eq!(render(&validate_role(&role, None)), vec![
            "rules[1].verbs: Required value: verbs must contain at least one value",
            "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
            "rules[2].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
        ]);
        assert!(validate_cluster_role(&json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}), None)
            .is_empty());
        let rb = json!({"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Robot", "name": "r2"}]});
        assert_eq!(
            render(&validate_role_binding(&rb, None)),
            vec![
            "subjects[1].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
        ]
        );
        let mut moved = rb.clone();
        moved["roleRef"]["name"] = json!("other");
        moved["subjects"] = json!([]);
        assert_eq!(render(&validate_role_binding(&moved, Some(&rb))), vec![
            "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"Role\", Name:\"other\"}: cannot change roleRef",
        ]);
        let crb = json!({"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "default"}]});
        assert_eq!(
            render(&validate_cluster_role_binding(&crb, None)),
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value",
            ]
        );
    }
}
