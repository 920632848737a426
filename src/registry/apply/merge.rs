//! Field ownership through writes, as structured-merge-diff's `Updater` keeps it: an Update
//! takes over the fields it changed; an Apply merges the applied configuration, removes the
//! fields its manager stopped applying (unless someone else still manages them) and fails
//! with conflicts when it changes a field another manager owns, unless forced.

use super::fieldset::{path_string, values_equal, Path, PathElement, Set};
use super::managed::{Managed, Manager};
use super::typed::{self, Comparison, Errors, Ty};
use crate::registry::status::StatusError;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// Most Update managers an object keeps before the oldest are folded together.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// Which fields of the object a request may not change (and so never owns): the status
/// of an object written through its main resource, everything but status (and metadata)
/// through the status subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    Nothing,
    Status,
    AllButStatus,
}

impl Reset {
    fn drops(self, top: &str) -> bool {
        match self {
            Reset::Nothing => false,
            Reset::Status => top == "status",
            Reset::AllButStatus => !matches!(top, "status" | "metadata" | "apiVersion" | "kind"),
        }
    }
}

/// What one write is about: the object's type, the apiVersion it is written in, the
/// subresource ("" for the object itself) and the fields it resets.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub ty: Ty,
    pub api_version: &'a str,
    pub subresource: &'a str,
    pub reset: Reset,
}

/// A field another manager owns and an apply would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub manager: Manager,
    pub path: Path,
}

#[derive(Debug)]
pub enum ApplyError {
    /// The applied configuration cannot be typed (unnamed or repeated list items).
    Config(Errors),
    /// The live object cannot be typed.
    Live(Errors),
    Conflicts(Vec<Conflict>),
}

/// Metadata no manager owns (upstream's stripMetaManager).
fn stripped() -> &'static Set {
    static SET: OnceLock<Set> = OnceLock::new();
    SET.get_or_init(|| {
        let f = |s: &str| PathElement::Field(s.into());
        let mut set = Set::new();
        set.insert(&[f("apiVersion")]);
        set.insert(&[f("kind")]);
        set.insert(&[f("metadata")]);
        for m in [
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            set.insert(&[f("metadata"), f(m)]);
        }
        set
    })
}

/// Compares `live` with `new`, takes the changed fields away from every manager but
/// `workflow` (the removed ones too) and returns the comparison; with `force` false, fields
/// another manager owns that changed are conflicts instead.
fn update_owners(
    ctx: &Ctx,
    live: &Value,
    new: &Value,
    managed: &mut Managed,
    workflow: Option<&Manager>,
    force: bool,
) -> Result<Comparison, Vec<Conflict>> {
    let cmp = typed::compare(ctx.ty, live, new).without_top_fields(|f| ctx.reset.drops(f));
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts: Vec<(Manager, Set)> = Vec::new();
    for e in &managed.entries {
        if Some(&e.manager) == workflow {
            continue;
        }
        let taken = e.set.intersection(&changed);
        if !taken.is_empty() {
            conflicts.push((e.manager.clone(), taken));
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by_key(|(m, _)| m.identifier());
        let mut out = Vec::new();
        for (manager, set) in conflicts {
            set.for_each(|p| out.push(Conflict { manager: manager.clone(), path: p.to_vec() }));
        }
        return Err(out);
    }
    for e in managed.entries.iter_mut() {
        if Some(&e.manager) == workflow {
            continue;
        }
        if let Some((_, taken)) = conflicts.iter().find(|(m, _)| *m == e.manager) {
            e.set = e.set.difference(taken);
        }
        e.set = e.set.difference(&cmp.removed);
    }
    managed.prune_empty();
    Ok(cmp)
}

/// Records an Update by `name`: the fields it changed between `live` and `new` become its
/// own and nobody else's. `now` stamps the entry when it changed anything.
pub fn update(ctx: &Ctx, live: &Value, new: &Value, managed: &mut Managed, name: &str, now: &str) {
    let cmp = match update_owners(ctx, live, new, managed, None, true) {
        Ok(cmp) => cmp,
        Err(_) => unreachable!("a forced update has no conflicts"),
    };
    let mine = cmp.modified.union(&cmp.added).without_top_fields(|f| ctx.reset.drops(f)).difference(stripped());
    if !mine.is_empty() {
        let id = Manager::updater(name, ctx.api_version, ctx.subresource);
        let previous = managed.remove(&id).map(|e| e.set).unwrap_or_default();
        managed.set(&id, ctx.api_version, mine.union(&previous));
        if let Some(e) = managed.get_mut(&id) {
            e.time = Some(now.to_string());
        }
    }
    managed.cap_updaters(MAX_UPDATE_MANAGERS);
}

/// Applies `config` for `name` to `live`: the merged object (None when it equals `live`)
/// and the managers after the apply.
pub fn apply(
    ctx: &Ctx,
    live: &Value,
    config: &Value,
    managed: &mut Managed,
    name: &str,
    force: bool,
    now: &str,
) -> Result<Option<Value>, ApplyError> {
    let mut errs = Errors::default();
    typed::validate(ctx.ty, config, &mut errs);
    if !errs.is_empty() {
        return Err(ApplyError::Config(errs));
    }
    let merged = typed::merge(ctx.ty, live, config).map_err(ApplyError::Live)?;
    let id = Manager::applier(name, ctx.subresource);
    let last = managed.get(&id).map(|e| e.set.clone()).unwrap_or_default();
    let set = typed::to_field_set(ctx.ty, config).without_top_fields(|f| ctx.reset.drops(f));
    managed.set(&id, ctx.api_version, set);
    let merged = prune(ctx.ty, merged, managed, &last);
    update_owners(ctx, live, &merged, managed, Some(&id), force).map_err(ApplyError::Conflicts)?;
    if let Some(e) = managed.get_mut(&id) {
        e.set = e.set.difference(stripped());
    }
    managed.prune_empty();
    if values_equal(live, &merged) {
        return Ok(None);
    }
    if let Some(e) = managed.get_mut(&id) {
        e.time = Some(now.to_string());
    }
    Ok(Some(merged))
}

/// Removes what the applier applied last time and no longer applies, unless some manager
/// (the applier included) still owns it (upstream's prune, addBackOwnedItems and
/// addBackDanglingItems).
fn prune(ty: Ty, merged: Value, managed: &Managed, last: &Set) -> Value {
    if last.is_empty() {
        return merged;
    }
    let last = last.with_fields_as_members();
    let pruned = typed::remove_items(ty, &merged, &last);
    let owned = managed.entries.iter().fold(Set::new(), |acc, e| acc.union(&e.set)).with_fields_as_members();
    let merged_set = typed::to_field_set(ty, &merged).with_fields_as_members();
    let pruned_set = typed::to_field_set(ty, &pruned).with_fields_as_members();
    let pruned = typed::remove_items(ty, &merged, &merged_set.difference(&pruned_set.union(&owned)));
    let pruned_set = typed::to_field_set(ty, &pruned).with_fields_as_members();
    typed::remove_items(ty, &merged, &merged_set.difference(&pruned_set).intersection(&last))
}

/// The fields of `last_applied` (a client-side apply annotation) whose value the live object
/// still has: conflicts on them do not stop kubectl's move to server-side apply.
pub fn unchanged_since_last_applied(ty: Ty, last_applied: &Value, live: &Value) -> Option<Set> {
    let mut errs = Errors::default();
    typed::validate(ty, last_applied, &mut errs);
    if !errs.is_empty() {
        return None;
    }
    let set = typed::to_field_set(ty, last_applied);
    let cmp = typed::compare(ty, last_applied, live);
    Some(set.difference(&cmp.modified).difference(&cmp.added).difference(&cmp.removed))
}

/// 409 Conflict as the apiserver words it.
pub fn conflict_error(conflicts: &[Conflict]) -> StatusError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", c.manager.describe()),
                "field": path_string(&c.path),
            })
        })
        .collect();
    let message = match conflicts {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager.describe(),
            path_string(&one.path)
        ),
        many => {
            let mut managers: Vec<&Manager> = Vec::new();
            for c in many {
                if !managers.contains(&&c.manager) {
                    managers.push(&c.manager);
                }
            }
            managers.sort_by_key(|m| m.identifier());
            let mut lines = Vec::new();
            for m in managers {
                lines.push(format!("conflicts with {}:", m.describe()));
                for c in many.iter().filter(|c| c.manager == *m) {
                    lines.push(format!("- {}", path_string(&c.path)));
                }
            }
            format!("Apply failed with {} conflicts: {}", many.len(), lines.join("\n"))
        }
    };
    StatusError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::patch::schema_for;

    const NOW: &str = "2025-01-01T00:00:00Z";

    fn ctx() -> Ctx<'static> {
        Ctx {
            ty: Ty::root(schema_for("apps", "v1", "Deployment").unwrap()),
            api_version: "apps/v1",
            subresource: "",
            reset: Reset::Status,
        }
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}})
    }

    fn fields(m: &Managed, id: &Manager) -> String {
        serde_json::to_string(&m.get(id).expect("entry").set.to_fields_v1()).unwrap()
    }

    #[test]
    fn an_apply_owns_what_it_applies() {
        let mut m = Managed::default();
        let out = apply(&ctx(), &json!({}), &deployment(2, "nginx:1"), &mut m, "kubectl", false, NOW).unwrap().unwrap();
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(
            fields(&m, &Manager::applier("kubectl", "")),
            r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
        );
        assert_eq!(m.get(&Manager::applier("kubectl", "")).unwrap().time.as_deref(), Some(NOW));
        // The same configuration again changes nothing.
        assert!(apply(&ctx(), &out, &deployment(2, "nginx:1"), &mut m, "kubectl", false, NOW).unwrap().is_none());
    }

    #[test]
    fn fields_no_longer_applied_are_removed_unless_someone_else_owns_them() {
        let mut m = Managed::default();
        let live = apply(&ctx(), &json!({}), &deployment(2, "nginx:1"), &mut m, "a", false, NOW).unwrap().unwrap();
        let mut slim = deployment(2, "nginx:1");
        slim["metadata"].as_object_mut().unwrap().remove("labels");
        let out = apply(&ctx(), &live, &slim, &mut m, "a", false, NOW).unwrap().unwrap();
        assert!(out["metadata"].get("labels").is_none(), "{out}");
        // Another applier sharing the label keeps it.
        let mut m = Managed::default();
        let live = apply(&ctx(), &json!({}), &deployment(2, "nginx:1"), &mut m, "a", false, NOW).unwrap().unwrap();
        let labels_only = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}}});
        assert!(apply(&ctx(), &live, &labels_only, &mut m, "b", false, NOW).unwrap().is_none());
        let out = apply(&ctx(), &live, &slim, &mut m, "a", false, NOW).unwrap();
        assert!(out.is_none(), "labels stay: {out:?}");
    }

    #[test]
    fn changing_another_managers_field_conflicts_unless_forced() {
        let mut m = Managed::default();
        let live =
            apply(&ctx(), &json!({}), &deployment(2, "nginx:1"), &mut m, "kubectl", false, NOW).unwrap().unwrap();
        // An updater changes the replicas.
        let scaled = {
            let mut s = live.clone();
            s["spec"]["replicas"] = json!(5);
            s
        };
        let scale = Ctx { subresource: "scale", ..ctx() };
        update(&scale, &live, &scaled, &mut m, "kubectl", NOW);
        assert_eq!(fields(&m, &Manager::updater("kubectl", "apps/v1", "scale")), r#"{"f:spec":{"f:replicas":{}}}"#);
        assert!(!fields(&m, &Manager::applier("kubectl", "")).contains("f:replicas"));

        let err = apply(&ctx(), &scaled, &deployment(3, "nginx:2"), &mut m.clone(), "kubectl", false, NOW).unwrap_err();
        let ApplyError::Conflicts(conflicts) = err else { panic!("{err:?}") };
        let status = conflict_error(&conflicts);
        assert_eq!(status.code, 409);
        assert_eq!(
            status.message,
            r#"Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas"#
        );
        assert_eq!(status.details.unwrap()["causes"][0]["reason"], "FieldManagerConflict");

        let out = apply(&ctx(), &scaled, &deployment(3, "nginx:2"), &mut m, "kubectl", true, NOW).unwrap().unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert!(m.get(&Manager::updater("kubectl", "apps/v1", "scale")).is_none());
        assert!(fields(&m, &Manager::applier("kubectl", "")).contains("f:replicas"));
    }

    #[test]
    fn the_same_value_is_shared_not_a_conflict() {
        let mut m = Managed::default();
        let live = apply(&ctx(), &json!({}), &deployment(2, "nginx:1"), &mut m, "a", false, NOW).unwrap().unwrap();
        assert!(apply(&ctx(), &live, &deployment(2, "nginx:1"), &mut m, "b", false, NOW).unwrap().is_none());
        assert!(fields(&m, &Manager::applier("b", "")).contains("f:replicas"));
        assert!(fields(&m, &Manager::applier("a", "")).contains("f:replicas"));
    }

    #[test]
    fn several_conflicts_are_listed_by_manager() {
        let conflicts = vec![
            Conflict {
                manager: Manager::applier("m2", ""),
                path: vec![PathElement::Field("spec".into()), PathElement::Field("a".into())],
            },
            Conflict {
                manager: Manager::applier("m1", ""),
                path: vec![PathElement::Field("spec".into()), PathElement::Field("b".into())],
            },
            Conflict {
                manager: Manager::applier("m1", ""),
                path: vec![PathElement::Field("spec".into()), PathElement::Field("c".into())],
            },
        ];
        assert_eq!(
            conflict_error(&conflicts).message,
            "Apply failed with 3 conflicts: conflicts with \"m1\":\n- .spec.b\n- .spec.c\nconflicts with \"m2\":\n- .spec.a"
        );
    }

    #[test]
    fn updates_take_changed_fields_from_others_and_keep_the_rest() {
        let mut m = Managed::default();
        let live = apply(&ctx(), &json!({}), &deployment(2, "nginx:1"), &mut m, "a", false, NOW).unwrap().unwrap();
        let mut new = live.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        new["status"] = json!({"replicas": 2});
        update(&ctx(), &live, &new, &mut m, "kubectl-set", NOW);
        assert_eq!(
            fields(&m, &Manager::updater("kubectl-set", "apps/v1", "")),
            r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{"f:image":{}}}}}}}"#
        );
        assert!(!fields(&m, &Manager::applier("a", "")).contains("f:image"));
        // Nothing changed: no entry, no new time.
        let before = m.clone();
        update(&ctx(), &new, &new, &mut m, "other", "2030-01-01T00:00:00Z");
        assert_eq!(m, before);
    }

    #[test]
    fn allowed_conflicts_are_the_unchanged_last_applied_fields() {
        let last = deployment(2, "nginx:1");
        let mut live = deployment(2, "nginx:1");
        live["spec"]["replicas"] = json!(4);
        let allowed = unchanged_since_last_applied(ctx().ty, &last, &live).unwrap();
        let image = vec![
            PathElement::Field("spec".into()),
            PathElement::Field("template".into()),
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
            PathElement::Key(vec![("name".into(), json!("nginx"))]),
            PathElement::Field("image".into()),
        ];
        assert!(allowed.has(&image));
        assert!(!allowed.has(&[PathElement::Field("spec".into()), PathElement::Field("replicas".into())]));
    }
}
