//! Events, served as core/v1 and as events.k8s.io/v1 from the same store
//! (/registry/events, stored as core v1): the conversion between the two shapes, the
//! `kubectl get events` Table and the event field selectors (the same labels in both groups).

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

const FIELD_LABELS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

pub static EVENTS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    namespaced: true,
    short_names: &["ev"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/events",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: EVENT_COLUMNS,
    row,
    field_labels: FIELD_LABELS,
    field_value,
    default: no_defaults,
    validate: no_validation,
};

pub static EVENTS_V1: ResourceDef = ResourceDef {
    group: "events.k8s.io",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    namespaced: true,
    short_names: &["ev"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/events",
    storage_version: "v1",
    to_storage: Some(to_core),
    from_storage: Some(from_core),
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: EVENT_COLUMNS,
    row: row_v1,
    field_labels: FIELD_LABELS,
    field_value: field_value_v1,
    default: no_defaults,
    validate: no_validation,
};

static EVENT_COLUMNS: &[Column] = &[
    Column { name: "Last Seen", type_: "string", format: "", description: "The time at which the most recent occurrence of this event was recorded.", priority: 0 },
    Column { name: "Type", type_: "string", format: "", description: "Type of this event (Normal, Warning), new types could be added in the future", priority: 0 },
    Column { name: "Reason", type_: "string", format: "", description: "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", priority: 0 },
    Column { name: "Object", type_: "string", format: "", description: "The object that this event is about.", priority: 0 },
    Column { name: "Subobject", type_: "string", format: "", description: "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.", priority: 1 },
    Column { name: "Source", type_: "string", format: "", description: "The component reporting this event. Should be a short machine understandable string.", priority: 1 },
    Column { name: "Message", type_: "string", format: "", description: "A human-readable description of the status of this operation.", priority: 0 },
    Column { name: "First Seen", type_: "string", format: "", description: "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", priority: 1 },
    Column { name: "Count", type_: "string", format: "", description: "The number of times this event has occurred.", priority: 1 },
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 1 },
];

/// events.k8s.io/v1 field ↔ core/v1 field, for the fields whose names differ.
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(mut obj: Map<String, Value>, to_core: bool, api_version: &str) -> Map<String, Value> {
    for (v1, core) in RENAMES {
        let (from, to) = if to_core { (v1, core) } else { (core, v1) };
        if let Some(v) = obj.remove(*from) {
            obj.insert(to.to_string(), v);
        }
    }
    obj.insert("apiVersion".into(), Value::String(api_version.into()));
    obj.insert("kind".into(), Value::String("Event".into()));
    obj
}

/// events.k8s.io/v1 Event → core/v1 Event (the storage form).
pub fn to_core(event: Value) -> Result<Value, String> {
    match event {
        Value::Object(m) => Ok(Value::Object(rename(m, true, "v1"))),
        _ => Err("an Event must be a JSON object".into()),
    }
}

/// core/v1 Event → events.k8s.io/v1 Event. Fields events.k8s.io/v1 omits when empty are
/// dropped.
pub fn from_core(event: Value) -> Value {
    let Value::Object(m) = event else { return event };
    let mut m = rename(m, false, "events.k8s.io/v1");
    m.retain(|k, v| match k.as_str() {
        "deprecatedFirstTimestamp" | "deprecatedLastTimestamp" | "series" | "related" => !v.is_null(),
        "deprecatedCount" => !(v.is_null() || v.as_i64() == Some(0)),
        "reportingController" | "reportingInstance" | "action" | "reason" | "note" | "type" => {
            !(v.is_null() || v.as_str() == Some(""))
        }
        _ => true,
    });
    Value::Object(m)
}

/// The core shape of an event in either form (a core event passes through unchanged).
fn as_core(event: &Value) -> Value {
    to_core(event.clone()).unwrap_or(Value::Null)
}

fn field_value(ev: &Value, label: &str) -> Option<String> {
    let v = match label {
        "reason" => str_at(ev, "/reason"),
        "reportingComponent" => str_at(ev, "/reportingComponent"),
        "source" => str_at(ev, "/source/component"),
        "type" => str_at(ev, "/type"),
        _ => match label.strip_prefix("involvedObject.") {
            Some(f @ ("kind" | "namespace" | "name" | "uid" | "apiVersion" | "resourceVersion" | "fieldPath")) => {
                ev.pointer("/involvedObject").and_then(|o| o.get(f)).and_then(Value::as_str).unwrap_or("")
            }
            _ => return meta_field(ev, label),
        },
    };
    Some(v.to_string())
}

fn field_value_v1(ev: &Value, label: &str) -> Option<String> {
    field_value(&as_core(ev), label)
}

/// `printEvent`: Last Seen, Type, Reason, Object, Subobject, Source, Message, First Seen,
/// Count, Name.
pub fn row(ev: &Value, now: Timestamp) -> Vec<Value> {
    let first_seen = if at(ev, "/firstTimestamp").is_some() {
        since(ev.pointer("/firstTimestamp"), now)
    } else {
        since(ev.pointer("/eventTime"), now)
    };
    let mut last_seen =
        if at(ev, "/lastTimestamp").is_some() { since(ev.pointer("/lastTimestamp"), now) } else { first_seen.clone() };
    let mut count = i64_at(ev, "/count");
    if map_at(ev, "/series").is_some() {
        last_seen = since(ev.pointer("/series/lastObservedTime"), now);
        count = i64_at(ev, "/series/count");
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = str_at(ev, "/involvedObject/kind").to_lowercase();
    let object_name = str_at(ev, "/involvedObject/name");
    let target = if object_name.is_empty() { kind } else { format!("{kind}/{object_name}") };
    let source = {
        let component = first_non_empty(&[str_at(ev, "/source/component"), str_at(ev, "/reportingComponent")]);
        let instance = first_non_empty(&[str_at(ev, "/source/host"), str_at(ev, "/reportingInstance")]);
        if instance.is_empty() {
            component.to_string()
        } else {
            format!("{component}, {instance}")
        }
    };
    vec![
        s(last_seen),
        s(str_at(ev, "/type")),
        s(str_at(ev, "/reason")),
        s(target),
        s(str_at(ev, "/involvedObject/fieldPath")),
        s(source),
        s(str_at(ev, "/message").trim()),
        s(first_seen),
        Value::from(count),
        name(ev),
    ]
}

fn row_v1(ev: &Value, now: Timestamp) -> Vec<Value> {
    row(&as_core(ev), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn core_event() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.17c", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1",
                               "apiVersion": "v1", "resourceVersion": "42", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "message": "Successfully pulled image \"nginx\"\n",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": "2024-05-01T11:50:00Z", "lastTimestamp": "2024-05-01T11:58:00Z",
            "count": 3, "type": "Normal", "eventTime": null,
            "reportingComponent": "kubelet", "reportingInstance": "node1"
        })
    }

    #[test]
    fn round_trip_core_events_k8s_io() {
        let core = core_event();
        let v1 = from_core(core.clone());
        assert_eq!(v1["apiVersion"], json!("events.k8s.io/v1"));
        assert_eq!(v1["regarding"]["name"], json!("web"));
        assert_eq!(v1["note"], core["message"]);
        assert_eq!(v1["deprecatedSource"], json!({"component": "kubelet", "host": "node1"}));
        assert_eq!(v1["deprecatedFirstTimestamp"], json!("2024-05-01T11:50:00Z"));
        assert_eq!(v1["deprecatedLastTimestamp"], json!("2024-05-01T11:58:00Z"));
        assert_eq!(v1["deprecatedCount"], json!(3));
        assert_eq!(v1["reportingController"], json!("kubelet"));
        assert!(v1.get("involvedObject").is_none() && v1.get("message").is_none());
        assert_eq!(to_core(v1).unwrap(), core);

        let new_style = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "eventTime": "2024-05-01T11:59:00.000000Z", "reportingController": "example.com/ctl",
            "reportingInstance": "ctl-1", "action": "Scale", "reason": "Scaled", "type": "Normal",
            "regarding": {"kind": "Deployment", "name": "web"}, "note": "scaled up",
            "series": {"count": 2, "lastObservedTime": "2024-05-01T11:59:30.000000Z"}
        });
        let core = to_core(new_style.clone()).unwrap();
        assert_eq!(core["reportingComponent"], json!("example.com/ctl"));
        assert_eq!(core["involvedObject"]["kind"], json!("Deployment"));
        assert_eq!(from_core(core), new_style);
    }

    #[test]
    fn event_rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            row(&core_event(), now),
            vec![
                json!("2m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node1"),
                json!("Successfully pulled image \"nginx\""),
                json!("10m"),
                json!(3),
                json!("web.17c")
            ]
        );
        let series = json!({"metadata": {"name": "e"}, "eventTime": "2024-05-01T11:59:00.000000Z",
            "reportingController": "ctl", "regarding": {"kind": "Deployment", "name": "web"},
            "series": {"count": 2, "lastObservedTime": "2024-05-01T11:59:30.000000Z"}});
        let c = row_v1(&series, now);
        assert_eq!(c[0], json!("30s"));
        assert_eq!(c[3], json!("deployment/web"));
        assert_eq!(c[5], json!("ctl"));
        assert_eq!(c[7], json!("60s"));
        assert_eq!(c[8], json!(2));
    }

    #[test]
    fn field_selectors_in_both_groups() {
        let core = core_event();
        assert_eq!(field_value(&core, "involvedObject.uid").as_deref(), Some("u1"));
        assert_eq!(field_value(&core, "source").as_deref(), Some("kubelet"));
        let v1 = from_core(core);
        assert_eq!(field_value_v1(&v1, "involvedObject.name").as_deref(), Some("web"));
        assert_eq!(field_value_v1(&v1, "reportingComponent").as_deref(), Some("kubelet"));
        assert_eq!(field_value_v1(&v1, "regarding.name"), None);
    }
}
