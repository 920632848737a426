//! Server-side apply and field ownership (`metadata.managedFields`), as kube-apiserver's
//! field manager keeps them: every write records which manager changed which fields
//! (`track_update`), and an apply (`apply`) merges a manager's configuration into the object,
//! with conflicts against fields other managers own. The registry's write path calls both;
//! nothing else writes managedFields.

pub mod fieldset;
pub mod managed;
pub mod merge;
pub mod typed;

use super::generic::now_rfc3339;
use super::patch::{schema_for, Schema};
use super::status::StatusError;
use super::ResourceDef;
use managed::{is_reset, Managed};
use merge::{ApplyError, Ctx, Reset};
use serde_json::{json, Map, Value};
use typed::Ty;

/// The client-side apply annotation kubectl keeps.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager kubectl's server-side apply uses; its applies keep the client-side apply
/// annotation current and may take over fields client-side apply set.
const KUBECTL: &str = "kubectl";

/// Longest field manager name the API accepts.
const MAX_MANAGER_LEN: usize = 128;

/// The manager a write without `fieldManager` is recorded under: the user agent up to its
/// first `/`, printable characters only, at most 128 bytes (upstream's prefixFromUserAgent).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_MANAGER_LEN {
            break;
        }
        out.push(c);
    }
    out
}

/// Checks a PATCH's options as upstream's ValidatePatchOptions does: `force` only with apply,
/// `fieldManager` required for apply, at most 128 printable characters. Returns `force`.
pub fn check_patch_options(
    is_apply: bool,
    field_manager: Option<&str>,
    force: Option<&str>,
) -> Result<bool, StatusError> {
    let mut causes: Vec<(&str, &str, String)> = Vec::new();
    let force = match force {
        None => None,
        Some(s) => Some(parse_bool(s).ok_or_else(|| {
            StatusError::bad_request(format!("strconv.ParseBool: parsing {}: invalid syntax", fieldset::go_quote(s)))
        })?),
    };
    let manager = field_manager.unwrap_or("");
    if !is_apply {
        if force.is_some() {
            causes.push(("FieldValueForbidden", "force", "Forbidden: may not be specified for non-apply patch".into()));
        }
    } else if manager.is_empty() {
        causes.push(("FieldValueRequired", "fieldManager", "Required value: is required for apply patch".into()));
    }
    if manager.len() > MAX_MANAGER_LEN {
        causes.push((
            "FieldValueTooLong",
            "fieldManager",
            format!("Too long: may not be more than {MAX_MANAGER_LEN} bytes"),
        ));
    }
    for (i, c) in manager.char_indices() {
        if c.is_control() {
            causes.push((
                "FieldValueInvalid",
                "fieldManager",
                format!(
                    "Invalid value: {}: invalid character U+{:04X} (at position {i})",
                    fieldset::go_quote(manager),
                    c as u32
                ),
            ));
        }
    }
    if causes.is_empty() {
        return Ok(force.unwrap_or(false));
    }
    let parts: Vec<String> = causes.iter().map(|(_, f, m)| format!("{f}: {m}")).collect();
    let message = match parts.as_slice() {
        [one] => format!("PatchOptions.meta.k8s.io \"\" is invalid: {one}"),
        many => format!("PatchOptions.meta.k8s.io \"\" is invalid: [{}]", many.join(", ")),
    };
    let causes: Vec<Value> = causes.iter().map(|(r, f, m)| json!({"reason": r, "message": m, "field": f})).collect();
    Err(StatusError::new(422, "Invalid", message)
        .with_details(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": causes})))
}

/// Go's strconv.ParseBool.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn ctx<'a>(def: &'a ResourceDef, api_version: &'a str, subresource: &'a str) -> Ctx<'a> {
    let schema = schema_for(def.group, def.version, def.kind).unwrap_or(&Schema::UNKNOWN);
    let reset = match subresource {
        "status" => Reset::AllButStatus,
        "" if def.has_status => Reset::Status,
        _ => Reset::Nothing,
    };
    Ctx { ty: Ty::root(schema), api_version, subresource, reset }
}

/// The empty object of the kind as the apiserver's Go types hold it before a create: the
/// structs that are never omitted exist (empty), the lists and pointers they hold are null.
/// What a create is compared against, so that only the maps and list items the creator added
/// count as added themselves (`.` in fieldsV1).
fn empty_object(obj: &Value) -> Value {
    fn template() -> Value {
        json!({"metadata": {"creationTimestamp": null}, "spec": {"containers": null}})
    }
    let mut out = Map::new();
    out.insert("metadata".into(), json!({"creationTimestamp": null}));
    if let Some(spec) = obj.get("spec").and_then(Value::as_object) {
        let mut s = Map::new();
        if spec.get("template").is_some_and(Value::is_object) {
            s.insert("template".into(), template());
        }
        if spec.get("jobTemplate").is_some_and(Value::is_object) {
            s.insert(
                "jobTemplate".into(),
                json!({"metadata": {"creationTimestamp": null}, "spec": {"template": template()}}),
            );
        }
        for k in ["strategy", "updateStrategy"] {
            if spec.get(k).is_some_and(Value::is_object) {
                s.insert(k.into(), json!({}));
            }
        }
        if spec.contains_key("containers") {
            s.insert("containers".into(), Value::Null);
        }
        if spec
            .get("selector")
            .and_then(Value::as_object)
            .is_some_and(|m| m.contains_key("matchLabels") || m.contains_key("matchExpressions"))
        {
            s.insert("selector".into(), Value::Null);
        }
        out.insert("spec".into(), Value::Object(s));
    }
    if obj.get("status").is_some() {
        out.insert("status".into(), json!({}));
    }
    Value::Object(out)
}

fn managed_fields(obj: &Value) -> Option<&Value> {
    obj.get("metadata").and_then(|m| m.get("managedFields"))
}

fn take_managed_fields(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata").and_then(Value::as_object_mut).and_then(|m| m.remove("managedFields"))
}

fn put_managed_fields(obj: &mut Value, managed: &Managed) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    match managed.encode() {
        Some(v) => {
            meta.insert("managedFields".into(), v);
        }
        None => {
            meta.remove("managedFields");
        }
    }
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut v = obj.clone();
    take_managed_fields(&mut v);
    v
}

/// Records a create (`old` None) or an update of `new` by `manager` (None or "": "unknown",
/// as upstream names a write with neither field manager nor user agent) in `new`'s
/// managedFields, as the apiserver does for every create, update and non-apply patch:
/// the manager takes the fields it changed from everyone else. The request's own
/// managedFields, when valid, replace the stored ones (`[]` or `[{}]` clears them);
/// subresource writes cannot change them. An object without managedFields stays without.
pub fn track_update(
    def: &ResourceDef,
    old: Option<&Value>,
    new: &mut Value,
    manager: Option<&str>,
    subresource: Option<&str>,
) {
    let subresource = subresource.unwrap_or("");
    let from_request = take_managed_fields(new);
    let stored = || Managed::decode(old.and_then(managed_fields)).unwrap_or_default();
    let mut managed = if !subresource.is_empty() {
        stored()
    } else if is_reset(from_request.as_ref()) {
        Managed::default()
    } else {
        match Managed::decode(from_request.as_ref()) {
            Ok(m) if !m.is_empty() => m,
            _ => stored(),
        }
    };
    let live = match old {
        // Updates of an object nobody manages are not tracked.
        Some(_) if managed.is_empty() => return,
        Some(old) => without_managed_fields(old),
        None => empty_object(new),
    };
    let api_version = def.api_version();
    let name = manager.filter(|m| !m.is_empty()).unwrap_or("unknown");
    merge::update(&ctx(def, &api_version, subresource), &live, new, &mut managed, name, &now_rfc3339());
    put_managed_fields(new, &managed);
}

fn gvk_string(group: &str, version: &str, kind: &str) -> String {
    format!("{group}/{version}, Kind={kind}")
}

/// Applies `config` as `manager` to `live` (None: the object does not exist yet) and returns
/// the object to store, managedFields included (defaulting and validation are the
/// registry's). Conflicts with other managers are 409 unless `force`. kubectl's own applies
/// may take over fields client-side apply set and still has the same value, and keep its
/// annotation current.
pub fn apply(
    def: &ResourceDef,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
) -> Result<Value, StatusError> {
    let subresource = subresource.unwrap_or("");
    let Some(config_map) = config.as_object() else {
        return Err(StatusError::bad_request("error decoding YAML: the applied configuration must be an object"));
    };
    let s = |k: &str| config_map.get(k).and_then(Value::as_str).unwrap_or("");
    let (group, version) = match s("apiVersion").split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", s("apiVersion")),
    };
    if (group, version, s("kind")) != (def.group, def.version, def.kind) {
        return Err(StatusError::bad_request(format!(
            "invalid object type: {}",
            gvk_string(group, version, s("kind"))
        )));
    }
    if matches!(managed_fields(config), Some(Value::Array(_))) {
        return Err(StatusError::bad_request("metadata.managedFields must be nil"));
    }
    let name = config.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let namespace = config.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let mut config = config.clone();
    if config.pointer("/metadata/managedFields").is_some() {
        take_managed_fields(&mut config);
    }

    let api_version = def.api_version();
    let ctx = ctx(def, &api_version, subresource);
    let now = now_rfc3339();
    let mut managed = match live {
        Some(l) => Managed::decode(managed_fields(l))
            .map_err(|e| StatusError::internal(format!("failed to decode managed fields: {e}")))?,
        None => Managed::default(),
    };
    let live_clean = live.map(without_managed_fields).unwrap_or_else(|| json!({}));
    if managed.is_empty() && live.is_some() {
        // Whatever the object holds before its first apply belongs to one manager.
        merge::update(&ctx, &empty_object(&live_clean), &live_clean, &mut managed, "before-first-apply", &now);
    }

    let mut attempt = managed.clone();
    let mut result = merge::apply(&ctx, &live_clean, &config, &mut attempt, manager, force, &now);
    if let (Err(ApplyError::Conflicts(conflicts)), Some(live)) = (&result, live) {
        if manager == KUBECTL {
            if let Some(allowed) = allowed_from_last_applied(def, ctx.ty, live, &live_clean) {
                let left: Vec<merge::Conflict> = conflicts.iter().filter(|c| !allowed.has(&c.path)).cloned().collect();
                if left.is_empty() {
                    attempt = managed.clone();
                    result = merge::apply(&ctx, &live_clean, &config, &mut attempt, manager, true, &now);
                } else {
                    result = Err(ApplyError::Conflicts(left));
                }
            }
        }
    }
    let merged = match result {
        Ok(m) => m,
        Err(ApplyError::Conflicts(c)) => return Err(merge::conflict_error(&c)),
        Err(ApplyError::Config(e)) => {
            // Upstream answers these with a plain 500; a 400 names the client's mistake.
            return Err(StatusError::bad_request(format!(
                "failed to create typed patch object ({namespace}/{name}; {}): {e}",
                gvk_string(def.group, def.version, def.kind)
            )));
        }
        Err(ApplyError::Live(e)) => {
            return Err(StatusError::internal(format!(
                "failed to create typed live object ({}/{}; {}): {e}",
                live.map(|l| super::generic::meta_str(l, "namespace")).unwrap_or(""),
                live.map(|l| super::generic::meta_str(l, "name")).unwrap_or(""),
                gvk_string(def.group, def.version, def.kind)
            )));
        }
    };
    let mut out = merged.unwrap_or(live_clean);
    if manager == KUBECTL {
        refresh_last_applied(&mut out, &config);
    }
    if !out.get("metadata").is_some_and(Value::is_object) {
        if let Some(m) = out.as_object_mut() {
            m.insert("metadata".into(), json!({}));
        }
    }
    put_managed_fields(&mut out, &attempt);
    Ok(out)
}

/// The fields set by client-side apply whose value is still live, when the live object has
/// a last-applied annotation for this apiVersion.
fn allowed_from_last_applied(def: &ResourceDef, ty: Ty, live: &Value, live_clean: &Value) -> Option<fieldset::Set> {
    let annotation = live.pointer("/metadata/annotations")?.get(LAST_APPLIED)?.as_str().filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(annotation).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(def.api_version().as_str()) {
        return None;
    }
    merge::unchanged_since_last_applied(ty, &last, live_clean)
}

/// kubectl's server-side apply keeps an existing client-side apply annotation equal to what
/// it applied (the configuration without the annotation, as compact JSON with sorted keys).
fn refresh_last_applied(obj: &mut Value, config: &Value) {
    let has = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has {
        return;
    }
    let mut applied = config.clone();
    if let Some(a) = applied.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        a.remove(LAST_APPLIED);
    }
    let mut text = String::new();
    fieldset::go_json(&applied, &mut text);
    text.push('\n');
    if let Some(a) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        a.insert(LAST_APPLIED.into(), Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> &'static ResourceDef {
        super::super::find("apps", "v1", "deployments").expect("deployments")
    }

    fn deployment(replicas: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}})
    }

    fn entries(obj: &Value) -> Vec<(String, String, String)> {
        obj["metadata"]["managedFields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["manager"].as_str().unwrap_or("").to_string(),
                            e["operation"].as_str().unwrap_or("").to_string(),
                            e.get("subresource").and_then(Value::as_str).unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn user_agents_name_managers() {
        assert_eq!(manager_from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd"), "kubectl");
        assert_eq!(manager_from_user_agent(""), "");
        assert_eq!(manager_from_user_agent(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn patch_options_are_checked_as_upstream_words_it() {
        let e = check_patch_options(true, None, Some("false")).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#
        );
        let e = check_patch_options(false, None, Some("true")).unwrap_err();
        assert_eq!(
            e.message,
            r#"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#
        );
        assert_eq!(check_patch_options(true, Some("kubectl"), Some("true")), Ok(true));
        assert_eq!(check_patch_options(false, None, None), Ok(false));
        assert_eq!(check_patch_options(true, Some("m"), Some("maybe")).unwrap_err().code, 400);
    }

    #[test]
    fn a_create_records_its_creator_and_later_writers() {
        let mut obj = deployment(1);
        obj["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}});
        track_update(def(), None, &mut obj, Some("kubectl-create"), None);
        assert_eq!(entries(&obj), vec![("kubectl-create".into(), "Update".into(), "".into())]);
        let f = serde_json::to_string(&obj["metadata"]["managedFields"][0]["fieldsV1"]).unwrap();
        assert!(f.starts_with(r#"{"f:spec":{"f:replicas":{},"f:selector":{"f:matchLabels":{".":{},"f:app":{}}},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{}"#), "{f}");

        let mut scaled = obj.clone();
        scaled["spec"]["replicas"] = json!(3);
        track_update(def(), Some(&obj), &mut scaled, Some("kubectl"), Some("scale"));
        assert_eq!(entries(&scaled).len(), 2);
        // Status writes do not change the object's own fields' owners.
        let mut status = scaled.clone();
        status["status"] = json!({"replicas": 3});
        track_update(def(), Some(&scaled), &mut status, Some("kube-controller-manager"), Some("status"));
        assert!(entries(&status).contains(&("kube-controller-manager".into(), "Update".into(), "status".into())));
        assert_eq!(
            status["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:status": {".": {}, "f:replicas": {}}})
        );
        // A request may clear managedFields; then nothing is tracked any more.
        let mut cleared = status.clone();
        cleared["metadata"]["managedFields"] = json!([{}]);
        track_update(def(), Some(&status), &mut cleared, Some("x"), None);
        assert!(cleared["metadata"].get("managedFields").is_none());
        let mut again = cleared.clone();
        again["spec"]["replicas"] = json!(4);
        track_update(def(), Some(&cleared), &mut again, Some("x"), None);
        assert!(again["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn apply_rejects_foreign_kinds_and_managed_fields() {
        let mut wrong = deployment(1);
        wrong["kind"] = json!("ReplicaSet");
        assert_eq!(
            apply(def(), None, &wrong, "m", false, None).unwrap_err().message,
            "invalid object type: apps/v1, Kind=ReplicaSet"
        );
        let mut with_mf = deployment(1);
        with_mf["metadata"]["managedFields"] = json!([]);
        assert_eq!(
            apply(def(), None, &with_mf, "m", false, None).unwrap_err().message,
            "metadata.managedFields must be nil"
        );
        let mut dup = deployment(1);
        dup["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "a"}]);
        assert_eq!(
            apply(def(), None, &dup, "m", false, None).unwrap_err().message,
            r#"failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="a"]"#
        );
    }

    #[test]
    fn kubectl_takes_over_from_client_side_apply_and_keeps_its_annotation() {
        // Created by client-side apply with replicas 1, then scaled by an updater to 1 → 2.
        let mut live = deployment(1);
        let last = {
            let mut s = String::new();
            fieldset::go_json(&deployment(1), &mut s);
            s + "\n"
        };
        live["metadata"]["annotations"] = json!({LAST_APPLIED: last});
        track_update(def(), None, &mut live, Some("kubectl-client-side-apply"), None);
        live["metadata"]["uid"] = json!("u");
        // The manifest now says 5: conflicts with kubectl-client-side-apply are allowed for
        // kubectl, since the live value is still the last applied one.
        let out = apply(def(), Some(&live), &deployment(5), "kubectl", false, None).unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        let annotation = out["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        assert!(annotation.contains(r#""replicas":5"#) && annotation.ends_with('\n'));
        // Another manager gets the conflict.
        let e = apply(def(), Some(&live), &deployment(5), "other", false, None).unwrap_err();
        assert_eq!(
            e.message,
            r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
        );
    }

    #[test]
    fn the_first_apply_to_an_unmanaged_object_keeps_what_it_had() {
        let mut live = deployment(1);
        live["metadata"]["uid"] = json!("u");
        live["metadata"]["labels"] = json!({"team": "a"});
        let out = apply(def(), Some(&live), &deployment(1), "kubectl", false, None).unwrap();
        assert_eq!(out["metadata"]["labels"]["team"], "a");
        let who = entries(&out);
        assert!(who.contains(&("before-first-apply".into(), "Update".into(), "".into())), "{who:?}");
        assert!(who.contains(&("kubectl".into(), "Apply".into(), "".into())), "{who:?}");
    }
}
