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
    validate: no_validation,
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
    validate: no_validation,
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
    validate: no_validation,
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
    validate: no_validation,
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
