//! ControllerRevisions (apps/v1): printed with their controller ("kind.group/name") and
//! revision number.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

pub static CONTROLLERREVISIONS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    kind: "ControllerRevision",
    plural: "controllerrevisions",
    singular: "controllerrevision",
    namespaced: true,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/controllerrevisions",
    storage_version: "apps/v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: CONTROLLERREVISION_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default: no_defaults,
    validate,
};

static CONTROLLERREVISION_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Controller", type_: "string", format: "", description: "Controller of the object", priority: 0 },
    Column {
        name: "Revision",
        type_: "string",
        format: "",
        description: "revision indicates the revision of the state represented by Data.",
        priority: 0,
    },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

/// The controller owner as `formatResourceName` prints it: "statefulset.apps/web".
fn controller(obj: &Value) -> String {
    let Some(owner) = arr_at(obj, "/metadata/ownerReferences").iter().find(|o| bool_at(o, "/controller")) else {
        return "<none>".into();
    };
    let api_version = str_at(owner, "/apiVersion");
    let group = match api_version.rsplit_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let kind = str_at(owner, "/kind");
    let owner_name = str_at(owner, "/name");
    if kind.is_empty() && group.is_empty() {
        return owner_name.to_string();
    }
    let gk = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    format!("{}/{}", gk.to_lowercase(), owner_name)
}

fn row(cr: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(cr), s(controller(cr)), Value::from(i64_at(cr, "/revision")), age(cr, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn controller_cell() {
        let cr = json!({"metadata": {"name": "web-5d4b", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]}, "revision": 2});
        let c = row(&cr, Timestamp::UNIX_EPOCH);
        assert_eq!(c[1..3], [json!("statefulset.apps/web"), json!(2)]);
        assert_eq!(row(&json!({}), Timestamp::UNIX_EPOCH)[1], json!("<none>"));
    }
}

use super::validation::{field, go, immutable, int_of, nonnegative, required, Path};

/// ValidateControllerRevision(Update): data is required and never changes.
fn validate(cr: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    if cr.get("data").is_none_or(Value::is_null) {
        errs.push(required(&Path::new("data"), "data is mandatory"));
    }
    errs.extend(nonnegative(int_of(cr, "revision"), &Path::new("revision")));
    if let Some(old) = old {
        errs.extend(immutable(field(cr, "data"), field(old, "data"), &Path::new("data"), |v| {
            go::structure("runtime.RawExtension", v)
        }));
    }
    errs
}
