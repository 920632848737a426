//! Resource requests: maps each verb and subresource to the registry and shapes the answer
//! (object, List, Table, PartialObjectMetadata, Status) as the apiserver does.

use super::negotiate::{self, Accept, As};
use super::request::{Query, ResourceRequest};
use super::table::{self, IncludeObject};
use super::{error_response, respond, ApiState, Body};
use crate::registry::fields::{self, Directive, FieldValidation};
use crate::registry::apply;
use crate::registry::generic::{meta_str, DeleteOptions, Deleted, ListOptions, PatchType, WriteOptions};
use crate::registry::status::{self, StatusError};
use crate::registry::{self, ResourceDef};
use http::{Request, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

type Res<T> = Result<T, StatusError>;

/// Kinds whose delete answers with the deleted object instead of a Status (ReturnDeletedObject).
const RETURNS_DELETED_OBJECT: &[&str] = &["pods", "namespaces"];

pub async fn resource(state: &ApiState, req: Request<Bytes>, r: ResourceRequest, query: Query, pretty: bool) -> Response<Body> {
    let (res, warnings) = fields::with_warnings(dispatch(state, req, &r, &query, pretty)).await;
    let mut resp = match res {
        Ok(resp) => resp,
        Err(e) => error_response(&e, pretty),
    };
    for w in fields::warning_headers(&warnings) {
        if let Ok(v) = http::HeaderValue::from_bytes(w.as_bytes()) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

fn header<'a>(req: &'a Request<Bytes>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A write without `fieldManager` is recorded under its user agent's product name, as the
/// apiserver does; a server-side apply must name its manager itself.
fn default_field_manager(q: &Query, req: &Request<Bytes>, r: &ResourceRequest) -> Query {
    let is_apply = r.verb == "patch" && negotiate::essence(header(req, "content-type")).starts_with("application/apply-patch");
    if is_apply || q.get("fieldManager").is_some_and(|m| !m.is_empty()) {
        return q.clone();
    }
    q.with("fieldManager", &apply::manager_from_user_agent(header(req, "user-agent").unwrap_or("")))
}

fn write_options(q: &Query) -> Res<WriteOptions> {
    // An invalid fieldValidation was answered in `dispatch`, with its options kind.
    let directive = Directive::from_query(q.get("fieldValidation")).unwrap_or_default();
    Ok(WriteOptions {
        dry_run: dry_run(q)?,
        field_manager: q.get("fieldManager").map(str::to_string),
        field_validation: FieldValidation::new(directive),
    })
}

/// Decodes a create or update body, noting for field validation what the raw body shows and
/// the decoded object no longer does: duplicate fields (and, in document order among them, the
/// unknown ones) of JSON, repeated keys of YAML (which the apiserver decodes, the last winning).
fn decode_object(def: &ResourceDef, ct: Option<&str>, body: &[u8], opts: &mut WriteOptions) -> Res<Value> {
    let fv = &mut opts.field_validation;
    let essence = negotiate::essence(ct);
    match negotiate::decode_body(ct, body) {
        Ok(obj) => {
            if fv.directive != Directive::Ignore && matches!(essence.as_str(), "" | "application/json") {
                fv.body_errors = fields::scan_json_body(def, body);
            }
            Ok(obj)
        }
        Err(e) if matches!(essence.as_str(), "application/yaml" | "application/x-yaml" | "text/yaml") => {
            let Ok((obj, mut errors)) = fields::decode_yaml(body) else { return Err(e) };
            if errors.is_empty() {
                return Err(e);
            }
            errors.extend(fields::unknown_errors(def, &obj));
            fv.body_errors = Some(errors);
            Ok(obj)
        }
        Err(e) => Err(e),
    }
}

/// Write options for a patch, with the patch document's own strict-decoding errors.
fn patch_options(q: &Query, pt: PatchType, raw: &[u8]) -> Res<WriteOptions> {
    let mut opts = write_options(q)?;
    if opts.field_validation.directive != Directive::Ignore {
        opts.field_validation.body_errors = Some(fields::scan_patch(pt, raw));
    }
    Ok(opts)
}

fn dry_run(q: &Query) -> Res<bool> {
    match q.get("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(StatusError::bad_request(format!(
            "Invalid dry run value: {other:?}: supported values: \"All\""
        ))),
    }
}

fn list_options(q: &Query) -> Res<ListOptions> {
    let limit = match q.get("limit") {
        None | Some("") => 0,
        Some(s) => s.parse::<i64>().map_err(|_| StatusError::bad_request(format!("invalid limit {s:?}")))?.max(0) as usize,
    };
    Ok(ListOptions {
        label_selector: q.get("labelSelector").map(str::to_string),
        field_selector: q.get("fieldSelector").map(str::to_string),
        limit,
        continue_token: q.get("continue").map(str::to_string),
    })
}

async fn dispatch(state: &ApiState, req: Request<Bytes>, r: &ResourceRequest, q: &Query, pretty: bool) -> Res<Response<Body>> {
    let def = registry::find(&r.group, &r.version, &r.resource).ok_or_else(StatusError::not_found_path)?;
    let q = &default_field_manager(q, &req, r);
    if r.namespace.is_some() && !def.namespaced {
        return Err(StatusError::not_found_path());
    }
    let ns = r.namespace.as_deref();
    let named = r.name.is_some();
    if def.namespaced && ns.is_none() && (named || r.verb == "create" || r.verb == "deletecollection") {
        return Err(StatusError::not_found_path());
    }
    if r.subresource.is_none() && named && r.verb == "create" {
        return Err(StatusError::method_not_allowed());
    }
    let accept = negotiate::accept(header(&req, "accept"))?;
    let options_kind = match r.verb.as_str() {
        "create" => Some("CreateOptions"),
        "update" => Some("UpdateOptions"),
        "patch" => Some("PatchOptions"),
        _ => None,
    };
    if let Some(kind) = options_kind {
        Directive::check_query(q.get("fieldValidation"), kind)?;
    }
    if let Some(sub) = r.subresource.as_deref() {
        if def.subresource(sub).is_none() {
            return Err(StatusError::not_found_path());
        }
        let name = r.name.clone().unwrap_or_default();
        return subresource(state, req, def, ns, &name, sub, r, q, accept, pretty).await;
    }
    if !def.verbs.contains(&r.verb.as_str()) && r.verb != "watch" || (r.verb == "watch" && !def.verbs.contains(&"watch")) {
        return Err(StatusError::method_not_allowed());
    }
    let reg = &state.registry;
    match r.verb.as_str() {
        "get" => {
            let name = r.name.as_deref().unwrap_or("");
            let obj = reg.get(def, ns, name).await?;
            Ok(object_response(200, def, obj, accept, q, pretty))
        }
        "list" => {
            let out = reg.list(def, ns, &list_options(q)?).await?;
            let mut meta = Map::new();
            meta.insert("resourceVersion".into(), json!(out.resource_version.to_string()));
            if let Some(c) = &out.continue_token {
                meta.insert("continue".into(), json!(c));
            }
            if let Some(n) = out.remaining {
                meta.insert("remainingItemCount".into(), json!(n));
            }
            Ok(list_response(def, out.items, Value::Object(meta), accept, q, pretty))
        }
        "watch" => {
            let mut q = q.clone();
            if let Some(name) = r.name.as_deref() {
                q = q.with("fieldSelector", &format!("metadata.name={name}"));
            }
            super::watch::serve(state, def, ns, &q, accept, pretty).await
        }
        "create" => {
            let ct = header(&req, "content-type").map(str::to_string);
            let body = req.into_body();
            let mut opts = write_options(q)?;
            let obj = decode_object(def, ct.as_deref(), &body, &mut opts)?;
            check_type(def, &obj)?;
            let created = reg.create(def, ns, obj, &opts).await?;
            Ok(object_response(201, def, created, accept, q, pretty))
        }
        "update" => {
            let name = r.name.clone().unwrap_or_default();
            let ct = header(&req, "content-type").map(str::to_string);
            let body = req.into_body();
            let mut opts = write_options(q)?;
            let obj = decode_object(def, ct.as_deref(), &body, &mut opts)?;
            check_type(def, &obj)?;
            let updated = reg.update(def, ns, &name, obj, None, &opts).await?;
            Ok(object_response(200, def, updated, accept, q, pretty))
        }
        "patch" => {
            let name = r.name.clone().unwrap_or_default();
            let (pt, patch, raw) = read_patch_raw(req).await?;
            let force = apply::check_patch_options(pt == PatchType::Apply, q.get("fieldManager"), q.get("force"))?;
            let opts = patch_options(q, pt, &raw)?;
            if pt == PatchType::Apply {
                let (obj, created) = reg.apply(def, ns, &name, &patch, None, force, &opts).await?;
                return Ok(object_response(if created { 201 } else { 200 }, def, obj, accept, q, pretty));
            }
            let updated = reg.patch(def, ns, &name, pt, &patch, None, &opts).await?;
            Ok(object_response(200, def, updated, accept, q, pretty))
        }
        "delete" => {
            let name = r.name.clone().unwrap_or_default();
            let opts = delete_options(req, q).await?;
            match reg.delete(def, ns, &name, &opts).await? {
                Deleted::Gone(obj) => {
                    if RETURNS_DELETED_OBJECT.contains(&def.plural) && def.group.is_empty() {
                        Ok(object_response(200, def, obj, accept, q, pretty))
                    } else {
                        let uid = meta_str(&obj, "uid").to_string();
                        Ok(respond(200, &status::success(def, &name, Some(&uid)), accept.format, pretty))
                    }
                }
                // 202 only where Kubernetes keeps it: a pending delete that asked orphanDependents=false.
                Deleted::Pending(obj) => {
                    let code = if opts.orphan_dependents == Some(false) { 202 } else { 200 };
                    Ok(object_response(code, def, obj, accept, q, pretty))
                }
            }
        }
        "deletecollection" => {
            let list = list_options(q)?;
            let opts = delete_options(req, q).await?;
            let out = reg.delete_collection(def, ns, &list, &opts).await?;
            let meta = json!({"resourceVersion": out.resource_version.to_string()});
            Ok(list_response(def, out.items, meta, Accept { as_: As::Object, ..accept }, q, pretty))
        }
        _ => Err(StatusError::method_not_allowed()),
    }
}

/// A body's apiVersion and kind must name the resource of the URL.
fn check_type(def: &ResourceDef, obj: &Value) -> Res<()> {
    if !obj.is_object() {
        return Err(StatusError::bad_request("Object 'Kind' is missing in the request body: it must be a JSON object"));
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        if av != def.api_version() {
            return Err(StatusError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                def.api_version()
            )));
        }
    }
    if let Some(kind) = obj.get("kind").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        if kind != def.kind {
            return Err(StatusError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                def.kind
            )));
        }
    }
    Ok(())
}

async fn read_patch(req: Request<Bytes>) -> Res<(PatchType, Value)> {
    read_patch_raw(req).await.map(|(pt, patch, _)| (pt, patch))
}

/// A patch's type, its decoded document and its raw bytes.
async fn read_patch_raw(req: Request<Bytes>) -> Res<(PatchType, Value, bytes::Bytes)> {
    let ct = negotiate::essence(header(&req, "content-type"));
    let pt = match ct.as_str() {
        "application/json-patch+json" => PatchType::Json,
        "application/merge-patch+json" => PatchType::Merge,
        "application/strategic-merge-patch+json" => PatchType::Strategic,
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => PatchType::Apply,
        _ => {
            return Err(StatusError::unsupported_media_type(
                &ct,
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            ))
        }
    };
    let body = req.into_body();
    let patch: Value = if pt == PatchType::Apply {
        negotiate::decode_body(Some("application/yaml"), &body)?
    } else {
        serde_json::from_slice(&body).map_err(|e| StatusError::bad_request(format!("error decoding patch: {e}")))?
    };
    Ok((pt, patch, body))
}

async fn delete_options(req: Request<Bytes>, q: &Query) -> Res<DeleteOptions> {
    let body = req.into_body();
    let mut opts = DeleteOptions { dry_run: dry_run(q)?, ..Default::default() };
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| StatusError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))?;
        opts.precondition_uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string);
        opts.precondition_resource_version =
            v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string);
        opts.grace_period_seconds = v.get("gracePeriodSeconds").and_then(Value::as_i64);
        opts.propagation_policy = v.get("propagationPolicy").and_then(Value::as_str).map(str::to_string);
        opts.orphan_dependents = v.get("orphanDependents").and_then(Value::as_bool);
        if v.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x == "All")) {
            opts.dry_run = true;
        }
    }
    if let Some(g) = q.get("gracePeriodSeconds") {
        opts.grace_period_seconds = g.parse().ok();
    }
    if let Some(p) = q.get("propagationPolicy") {
        opts.propagation_policy = Some(p.to_string());
    }
    if let Some(o) = q.get("orphanDependents") {
        opts.orphan_dependents = o.parse().ok();
    }
    if let (Some(_), Some(p)) = (opts.orphan_dependents, opts.propagation_policy.as_deref()) {
        return Err(StatusError::new(
            422,
            "Invalid",
            format!("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"{p}\": orphanDependents and deletionPropagation cannot be both set"),
        ));
    }
    if let Some(p) = opts.propagation_policy.as_deref() {
        if !matches!(p, "Orphan" | "Background" | "Foreground") {
            return Err(StatusError::new(
                422,
                "Invalid",
                format!("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""),
            ));
        }
    }
    Ok(opts)
}

pub fn object_response(code: u16, def: &ResourceDef, obj: Value, accept: Accept, q: &Query, pretty: bool) -> Response<Body> {
    let out = match accept.as_ {
        As::Object => obj,
        As::PartialObjectMetadata => table::partial_metadata(&obj),
        As::Table => {
            let rv = meta_str(&obj, "resourceVersion").to_string();
            table::table(def, std::slice::from_ref(&obj), json!({"resourceVersion": rv}), IncludeObject::parse(q.get("includeObject")), true)
        }
    };
    respond(code, &out, accept.format, pretty)
}

fn list_response(def: &ResourceDef, items: Vec<Value>, meta: Value, accept: Accept, q: &Query, pretty: bool) -> Response<Body> {
    let out = match accept.as_ {
        As::Object => json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": meta,
            "items": items,
        }),
        As::PartialObjectMetadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": items.iter().map(table::partial_metadata).collect::<Vec<_>>(),
        }),
        As::Table => table::table(def, &items, meta, IncludeObject::parse(q.get("includeObject")), true),
    };
    respond(200, &out, accept.format, pretty)
}

/// The autoscaling/v1 Scale view of a scalable object.
pub fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut m = Map::new();
    for f in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(f) {
            m.insert(f.into(), v.clone());
        }
    }
    let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let status_replicas = obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0);
    let selector = obj.pointer("/spec/selector").map(selector_string).unwrap_or_default();
    let mut status = Map::new();
    status.insert("replicas".into(), json!(status_replicas));
    if !selector.is_empty() {
        status.insert("selector".into(), json!(selector));
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": Value::Object(m),
        "spec": {"replicas": replicas},
        "status": Value::Object(status),
    })
}

/// A label selector (metav1.LabelSelector, or a plain map as replication controllers use) in
/// its string form, as `Scale.status.selector` carries it.
pub fn selector_string(sel: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let labels = sel.get("matchLabels").or(if sel.get("matchExpressions").is_none() { Some(sel) } else { None });
    if let Some(m) = labels.and_then(Value::as_object) {
        let mut kv: Vec<_> = m.iter().filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}"))).collect();
        kv.sort();
        parts.extend(kv);
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let vals: Vec<&str> = e.get("values").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

#[allow(clippy::too_many_arguments)]
async fn subresource(
    state: &ApiState,
    req: Request<Bytes>,
    def: &'static ResourceDef,
    ns: Option<&str>,
    name: &str,
    sub: &str,
    r: &ResourceRequest,
    q: &Query,
    accept: Accept,
    pretty: bool,
) -> Res<Response<Body>> {
    let reg = &state.registry;
    let verbs = def.subresource(sub).map(|s| s.verbs).unwrap_or(&[]);
    let verb = match r.verb.as_str() {
        "list" | "watch" => "get",
        v => v,
    };
    if !verbs.contains(&verb) {
        return Err(StatusError::method_not_allowed());
    }
    match (sub, verb) {
        ("status", "get") | ("ephemeralcontainers", "get") => {
            let obj = reg.get(def, ns, name).await?;
            Ok(object_response(200, def, obj, accept, q, pretty))
        }
        ("status", "update") => {
            let ct = header(&req, "content-type").map(str::to_string);
            let body = req.into_body();
            let mut opts = write_options(q)?;
            let obj = decode_object(def, ct.as_deref(), &body, &mut opts)?;
            check_type(def, &obj)?;
            let updated = reg.update(def, ns, name, obj, Some("status"), &opts).await?;
            Ok(object_response(200, def, updated, accept, q, pretty))
        }
        ("status", "patch") => {
            let (pt, patch, raw) = read_patch_raw(req).await?;
            let force = apply::check_patch_options(pt == PatchType::Apply, q.get("fieldManager"), q.get("force"))?;
            let opts = patch_options(q, pt, &raw)?;
            let updated = match pt {
                PatchType::Apply => reg.apply(def, ns, name, &patch, Some("status"), force, &opts).await?.0,
                _ => reg.patch(def, ns, name, pt, &patch, Some("status"), &opts).await?,
            };
            Ok(object_response(200, def, updated, accept, q, pretty))
        }
        ("scale", "get") => {
            let obj = reg.get(def, ns, name).await?;
            Ok(respond(200, &scale_of(&obj), accept.format, pretty))
        }
        ("scale", "update") | ("scale", "patch") => {
            let opts = write_options(q)?;
            let update = if verb == "update" {
                let ct = header(&req, "content-type").map(str::to_string);
                let body = req.into_body();
                let scale = negotiate::decode_body(ct.as_deref(), &body)?;
                ScaleChange::Replace(scale)
            } else {
                let (pt, patch) = read_patch(req).await?;
                ScaleChange::Patch(pt, patch)
            };
            let wanted_rv = match &update {
                ScaleChange::Replace(s) => match meta_str(s, "resourceVersion") {
                    "" => None,
                    rv => Some(rv.parse().map_err(|_| StatusError::bad_request(format!("invalid resourceVersion {rv:?}")))?),
                },
                ScaleChange::Patch(..) => None,
            };
            let updated = reg
                .update_subresource_with(def, ns, name, wanted_rv, &opts, "scale", |old| {
                    let scale = match &update {
                        ScaleChange::Replace(s) => s.clone(),
                        ScaleChange::Patch(pt, p) => {
                            crate::registry::generic::apply_patch(&scale_of(old), *pt, p, ("autoscaling", "v1", "Scale"))?
                        }
                    };
                    let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
                    if replicas < 0 {
                        return Err(StatusError::new(
                            422,
                            "Invalid",
                            format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"),
                        ));
                    }
                    let mut new = old.clone();
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.insert("replicas".into(), json!(replicas));
                    }
                    Ok(new)
                })
                .await?;
            Ok(respond(200, &scale_of(&updated), accept.format, pretty))
        }
        ("ephemeralcontainers", "update") | ("ephemeralcontainers", "patch") => {
            let opts = write_options(q)?;
            let change = if verb == "update" {
                let ct = header(&req, "content-type").map(str::to_string);
                let body = req.into_body();
                ScaleChange::Replace(negotiate::decode_body(ct.as_deref(), &body)?)
            } else {
                let (pt, patch) = read_patch(req).await?;
                ScaleChange::Patch(pt, patch)
            };
            let updated = reg
                .update_with(def, ns, name, None, &opts, |old| {
                    let wanted = match &change {
                        ScaleChange::Replace(p) => p.clone(),
                        ScaleChange::Patch(pt, p) => crate::registry::generic::apply_patch(old, *pt, p, (def.group, def.version, def.kind))?,
                    };
                    let mut new = old.clone();
                    let ec = wanted.pointer("/spec/ephemeralContainers").cloned().unwrap_or(Value::Null);
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.insert("ephemeralContainers".into(), ec);
                    }
                    Ok(new)
                })
                .await?;
            Ok(object_response(200, def, updated, accept, q, pretty))
        }
        ("binding", "create") => {
            let body = req.into_body();
            let binding = negotiate::decode_body(Some("application/json"), &body)?;
            let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or("").to_string();
            if node.is_empty() {
                return Err(StatusError::new(422, "Invalid", format!("Binding.core \"{name}\" is invalid: target.name: Required value")));
            }
            let opts = write_options(q)?;
            let annotations = binding.pointer("/metadata/annotations").and_then(Value::as_object).cloned();
            crate::registry::pod::bind(reg, ns, name, &node, annotations.as_ref(), &opts).await?;
            Ok(respond(201, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}), accept.format, pretty))
        }
        ("eviction", "create") => {
            let _ = req.into_body();
            let opts = DeleteOptions { dry_run: dry_run(q)?, ..Default::default() };
            reg.delete(def, ns, name, &opts).await?;
            Ok(respond(201, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}), accept.format, pretty))
        }
        ("finalize", "update") => {
            let ct = header(&req, "content-type").map(str::to_string);
            let body = req.into_body();
            let obj = negotiate::decode_body(ct.as_deref(), &body)?;
            let finalizers = obj.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            let updated = reg
                .update_with(def, ns, name, None, &write_options(q)?, |old| {
                    let mut new = old.clone();
                    if let Some(m) = new.as_object_mut() {
                        let spec = m.entry("spec").or_insert_with(|| json!({}));
                        if let Some(s) = spec.as_object_mut() {
                            s.insert("finalizers".into(), finalizers.clone());
                        }
                    }
                    Ok(new)
                })
                .await?;
            Ok(object_response(200, def, updated, accept, q, pretty))
        }
        ("log", _) => {
            let opts = super::streams::LogOptions::parse(q, name, jiff::Timestamp::now())?;
            let pod = reg.get(def, ns, name).await?;
            match super::streams::serve_log(state, &pod, opts)? {
                Some(resp) => Ok(resp),
                None => Err(pod_not_running(&pod, sub, q)),
            }
        }
        ("exec", _) | ("attach", _) | ("portforward", _) => {
            let pod = reg.get(def, ns, name).await?;
            Err(pod_not_running(&pod, sub, q))
        }
        _ => Err(StatusError::not_found_path()),
    }
}

enum ScaleChange {
    Replace(Value),
    Patch(PatchType, Value),
}

/// Sets (or replaces) a condition in status.conditions.
/// What the apiserver answers for logs/exec/attach/port-forward of a pod whose container
/// is not running.
fn pod_not_running(pod: &Value, sub: &str, q: &Query) -> StatusError {
    let name = meta_str(pod, "name");
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    if node.is_empty() {
        return StatusError::bad_request(format!("pod {name} does not have a host assigned"));
    }
    let containers: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    let container = q.get("container").map(str::to_string).or_else(|| containers.first().map(|s| s.to_string())).unwrap_or_default();
    if sub == "portforward" {
        return StatusError::bad_request(format!("pod {name} is not running"));
    }
    let reason = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str())))
        .and_then(|c| c.pointer("/state/waiting/reason"))
        .and_then(Value::as_str)
        .unwrap_or("ContainerCreating");
    StatusError::bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"))
}
