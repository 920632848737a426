//! `metadata.managedFields`: one entry per field manager (name, operation Apply or Update,
//! apiVersion, subresource) with the set of fields it manages and when it last changed
//! something. Decoded from and encoded to the API form as the apiserver does, entries sorted
//! Apply first, then by time, manager, apiVersion and subresource.

use super::fieldset::{go_quote, Set};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who manages a set of fields: what upstream's manager identifier holds. Appliers are one
/// manager whatever apiVersion they apply with, so `api_version` is empty for them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Manager {
    pub name: String,
    pub operation: Operation,
    pub api_version: String,
    pub subresource: String,
}

impl Manager {
    pub fn applier(name: &str, subresource: &str) -> Manager {
        Manager {
            name: name.into(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: subresource.into(),
        }
    }

    pub fn updater(name: &str, api_version: &str, subresource: &str) -> Manager {
        Manager {
            name: name.into(),
            operation: Operation::Update,
            api_version: api_version.into(),
            subresource: subresource.into(),
        }
    }

    /// Upstream's identifier (the entry without fields and time, as JSON); conflict
    /// messages list managers in its order.
    pub fn identifier(&self) -> String {
        let mut m = Map::new();
        if !self.name.is_empty() {
            m.insert("manager".into(), json!(self.name));
        }
        m.insert("operation".into(), json!(self.operation.as_str()));
        if !self.api_version.is_empty() {
            m.insert("apiVersion".into(), json!(self.api_version));
        }
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m).to_string()
    }

    /// As conflict messages name a manager: `"kubectl"`, `"kubectl" with subresource
    /// "scale" using apps/v1`.
    pub fn describe(&self) -> String {
        let mut s = go_quote(&self.name);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {}", go_quote(&self.subresource));
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: Manager,
    /// The apiVersion the fields are named in.
    pub api_version: String,
    pub set: Set,
    /// RFC 3339, whole seconds; None when the manager never changed the object.
    pub time: Option<String>,
}

impl Entry {
    fn seconds(&self) -> i64 {
        self.time.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|t| t.as_second()).unwrap_or(0)
    }
}

/// Every manager of an object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Managed {
    pub entries: Vec<Entry>,
}

impl Managed {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, m: &Manager) -> Option<&Entry> {
        self.entries.iter().find(|e| e.manager == *m)
    }

    pub fn get_mut(&mut self, m: &Manager) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.manager == *m)
    }

    pub fn remove(&mut self, m: &Manager) -> Option<Entry> {
        let i = self.entries.iter().position(|e| e.manager == *m)?;
        Some(self.entries.remove(i))
    }

    /// Sets `m`'s fields (keeping its time), or adds it.
    pub fn set(&mut self, m: &Manager, api_version: &str, set: Set) {
        match self.get_mut(m) {
            Some(e) => {
                e.set = set;
                e.api_version = api_version.into();
            }
            None => self.entries.push(Entry { manager: m.clone(), api_version: api_version.into(), set, time: None }),
        }
    }

    /// Drops managers left with no fields.
    pub fn prune_empty(&mut self) {
        self.entries.retain(|e| !e.set.is_empty());
    }

    /// Reads `metadata.managedFields` as upstream's `DecodeManagedFields` does.
    pub fn decode(v: Option<&Value>) -> Result<Managed, String> {
        let mut out = Managed::default();
        let items = match v {
            None | Some(Value::Null) => return Ok(out),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(format!("managedFields must be a list, got {other}")),
        };
        for (i, item) in items.iter().enumerate() {
            let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
            let operation = match s("operation") {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                _ => return Err("operation must be `Apply` or `Update`".into()),
            };
            let api_version = s("apiVersion");
            if api_version.is_empty() {
                return Err("apiVersion must not be empty".into());
            }
            match s("fieldsType") {
                "FieldsV1" => {}
                "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
                other => return Err(format!("invalid fieldsType {} in managed fields entry {i}", go_quote(other))),
            }
            let set = match item.get("fieldsV1") {
                None | Some(Value::Null) => Set::new(),
                Some(f) => Set::from_fields_v1(f).map_err(|e| format!("error decoding set: {e}"))?,
            };
            let manager = Manager {
                name: s("manager").into(),
                operation,
                api_version: if operation == Operation::Apply { String::new() } else { api_version.into() },
                subresource: s("subresource").into(),
            };
            let time = item.get("time").and_then(Value::as_str).map(str::to_string);
            out.remove(&manager);
            out.entries.push(Entry { manager, api_version: api_version.into(), set, time });
        }
        Ok(out)
    }

    /// The API form, sorted as upstream sorts it; None when no manager is left.
    pub fn encode(&self) -> Option<Value> {
        if self.entries.is_empty() {
            return None;
        }
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by(|p, q| {
            p.manager
                .operation
                .as_str()
                .cmp(q.manager.operation.as_str())
                .then_with(|| p.seconds().cmp(&q.seconds()))
                .then_with(|| p.manager.name.cmp(&q.manager.name))
                .then_with(|| p.api_version.cmp(&q.api_version))
                .then_with(|| p.manager.subresource.cmp(&q.manager.subresource))
        });
        let items = entries
            .into_iter()
            .map(|e| {
                let mut m = Map::new();
                if !e.manager.name.is_empty() {
                    m.insert("manager".into(), json!(e.manager.name));
                }
                m.insert("operation".into(), json!(e.manager.operation.as_str()));
                m.insert("apiVersion".into(), json!(e.api_version));
                if let Some(t) = &e.time {
                    m.insert("time".into(), json!(t));
                }
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), e.set.to_fields_v1());
                if !e.manager.subresource.is_empty() {
                    m.insert("subresource".into(), json!(e.manager.subresource));
                }
                Value::Object(m)
            })
            .collect();
        Some(Value::Array(items))
    }

    /// Keeps at most `max` Update managers: the oldest are folded, per apiVersion, into one
    /// `ancient-changes` manager (upstream's capManagersManager).
    pub fn cap_updaters(&mut self, max: usize) {
        let mut updaters: Vec<(i64, String, Manager)> = self
            .entries
            .iter()
            .filter(|e| e.manager.operation == Operation::Update)
            .map(|e| (e.seconds(), e.manager.identifier(), e.manager.clone()))
            .collect();
        if updaters.len() <= max {
            return;
        }
        updaters.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut length = updaters.len();
        let mut first_of_version: Vec<(String, Manager)> = Vec::new();
        for (_, _, manager) in updaters {
            if length <= max {
                break;
            }
            let Some(entry) = self.get(&manager).cloned() else { continue };
            let version = entry.api_version.clone();
            let bucket = Manager::updater("ancient-changes", &version, "");
            match first_of_version.iter().find(|(v, _)| *v == version) {
                Some((_, first)) => {
                    if self.get(&bucket).is_none() {
                        if let Some(mut moved) = self.remove(first) {
                            moved.manager = bucket.clone();
                            self.entries.push(moved);
                        }
                    }
                    self.remove(&manager);
                    if let Some(b) = self.get_mut(&bucket) {
                        b.set = entry.set.union(&b.set);
                        b.time = entry.time.clone();
                    }
                    length -= 1;
                }
                None => first_of_version.push((version, manager)),
            }
        }
    }
}

/// `managedFields: []` or `[{}]` in a request: the client asks to clear them.
pub fn is_reset(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => true,
            [only] => only.as_object().is_some_and(|m| m.is_empty()),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_sort_apply_first_then_by_time() {
        let v = json!([
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1", "time": "2025-01-01T00:00:02Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "time": "2025-01-01T00:00:01Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:paused": {}}}, "subresource": "scale"},
            {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": "2025-01-01T00:00:03Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}
        ]);
        let m = Managed::decode(Some(&v)).unwrap();
        assert_eq!(m.entries.len(), 3);
        let out = m.encode().unwrap();
        let order: Vec<(&str, &str)> = out
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["manager"].as_str().unwrap(), e["operation"].as_str().unwrap()))
            .collect();
        assert_eq!(order, vec![("kubectl", "Apply"), ("kubectl", "Update"), ("kubectl-client-side-apply", "Update")]);
        assert_eq!(Managed::decode(Some(&out)).unwrap().encode().unwrap(), out);
        assert_eq!(out[1]["subresource"], "scale");
    }

    #[test]
    fn identifiers_and_descriptions_as_upstream_prints_them() {
        let scale = Manager::updater("kubectl", "apps/v1", "scale");
        assert_eq!(
            scale.identifier(),
            r#"{"manager":"kubectl","operation":"Update","apiVersion":"apps/v1","subresource":"scale"}"#
        );
        assert_eq!(scale.describe(), r#""kubectl" with subresource "scale" using apps/v1"#);
        assert_eq!(Manager::applier("m1", "").describe(), r#""m1""#);
    }

    #[test]
    fn bad_entries_are_rejected_and_resets_recognised() {
        for bad in [
            json!([{"operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]),
            json!([{"operation": "Update", "fieldsType": "FieldsV1"}]),
            json!([{"operation": "Update", "apiVersion": "v1"}]),
            json!([{"operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV2"}]),
        ] {
            assert!(Managed::decode(Some(&bad)).is_err(), "{bad}");
        }
        assert!(is_reset(Some(&json!([]))) && is_reset(Some(&json!([{}]))));
        assert!(!is_reset(None) && !is_reset(Some(&json!([{"manager": "x"}]))));
    }

    #[test]
    fn the_oldest_updaters_fold_into_ancient_changes() {
        let mut m = Managed::default();
        for i in 0..12 {
            let mut set = Set::new();
            set.insert(&[super::super::fieldset::PathElement::Field(format!("f{i}"))]);
            m.entries.push(Entry {
                manager: Manager::updater(&format!("m{i:02}"), "v1", ""),
                api_version: "v1".into(),
                set,
                time: Some(format!("2025-01-01T00:00:{i:02}Z")),
            });
        }
        m.cap_updaters(10);
        assert_eq!(m.entries.len(), 10);
        let bucket = m.get(&Manager::updater("ancient-changes", "v1", "")).expect("bucket");
        assert_eq!(bucket.set.paths().len(), 3);
        assert!(m.get(&Manager::updater("m00", "v1", "")).is_none());
    }
}
