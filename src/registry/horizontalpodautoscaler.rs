//! HorizontalPodAutoscalers, served as autoscaling/v2 and autoscaling/v1 and stored as v2
//! under /registry/horizontalpodautoscalers. v1 keeps what it cannot express (other metrics,
//! current metrics, conditions, behavior) in the `autoscaling.alpha.kubernetes.io/*`
//! annotations, exactly as Kubernetes' v1 conversion does, so v1 round trips are lossless.

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static HORIZONTALPODAUTOSCALERS_V2: ResourceDef = ResourceDef {
    group: "autoscaling",
    version: "v2",
    kind: "HorizontalPodAutoscaler",
    plural: "horizontalpodautoscalers",
    singular: "horizontalpodautoscaler",
    namespaced: true,
    short_names: &["hpa"],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/horizontalpodautoscalers",
    storage_version: "autoscaling/v2",
    to_storage: None,
    from_storage: None,
    has_status: true,
    // metadata.generation for HPAs only arrives with the HPAGeneration gate (after 1.33).
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: HPA_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default: default_v2,
    validate: validate_v2,
};

pub static HORIZONTALPODAUTOSCALERS_V1: ResourceDef = ResourceDef {
    group: "autoscaling",
    version: "v1",
    kind: "HorizontalPodAutoscaler",
    plural: "horizontalpodautoscalers",
    singular: "horizontalpodautoscaler",
    namespaced: true,
    short_names: &["hpa"],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "autoscaling",
        version: "v1",
        kind: "HorizontalPodAutoscaler",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/horizontalpodautoscalers",
    storage_version: "autoscaling/v2",
    to_storage: Some(v1_to_v2),
    from_storage: Some(v2_to_v1),
    has_status: true,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: HPA_COLUMNS,
    row: row_v1,
    field_labels: &[],
    field_value: meta_field_value,
    default: default_v1,
    validate: validate_v1,
};

static HPA_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Reference", type_: "string", format: "", description: "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.", priority: 0 },
    Column { name: "Targets", type_: "string", format: "", description: "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond.", priority: 0 },
    Column { name: "MinPods", type_: "string", format: "", description: "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.", priority: 0 },
    Column { name: "MaxPods", type_: "string", format: "", description: "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.", priority: 0 },
    Column { name: "Replicas", type_: "string", format: "", description: "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";
const ROUND_TRIP_ANNOTATIONS: &[&str] =
    &[METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION, BEHAVIOR_ANNOTATION];

/// autoscaling/v1 applied 80% CPU when no metric was given.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

// ---- ordered JSON, so annotations read exactly as Go's encoding/json writes them ----

/// A JSON object whose fields keep the order they are pushed in (Go struct order).
#[derive(Default)]
struct Ordered(Vec<(&'static str, String)>);

impl Ordered {
    fn put(mut self, key: &'static str, encoded: String) -> Self {
        self.0.push((key, encoded));
        self
    }
    fn put_value(self, key: &'static str, v: &Value) -> Self {
        self.put(key, enc(v))
    }
    /// An optional field (`omitempty` pointer): skipped when unset.
    fn opt(self, key: &'static str, v: Option<&Value>) -> Self {
        match v.filter(|v| !v.is_null()) {
            Some(v) => self.put_value(key, v),
            None => self,
        }
    }
    fn opt_with(self, key: &'static str, v: Option<&Value>, f: impl Fn(&Value) -> String) -> Self {
        match v.filter(|v| !v.is_null()) {
            Some(v) => self.put(key, f(v)),
            None => self,
        }
    }
    fn finish(self) -> String {
        let fields: Vec<String> =
            self.0.into_iter().map(|(k, v)| format!("{}:{}", enc(&Value::String(k.into())), v)).collect();
        format!("{{{}}}", fields.join(","))
    }
}

fn enc(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn enc_str(v: &str) -> String {
    enc(&Value::String(v.into()))
}

/// A `resource.Quantity` that is not a pointer: zero prints "0".
fn enc_quantity(v: Option<&Value>) -> String {
    enc_str(&quantity(v.filter(|v| !v.is_null())))
}

fn enc_list(items: &[Value], f: impl Fn(&Value) -> String) -> String {
    format!("[{}]", items.iter().map(f).collect::<Vec<_>>().join(","))
}

fn enc_selector(sel: &Value) -> String {
    Ordered::default()
        .opt("matchLabels", sel.get("matchLabels"))
        .opt_with("matchExpressions", sel.get("matchExpressions"), |exprs| {
            enc_list(exprs.as_array().map(Vec::as_slice).unwrap_or(&[]), |e| {
                Ordered::default()
                    .put("key", enc_str(str_at(e, "/key")))
                    .put("operator", enc_str(str_at(e, "/operator")))
                    .opt("values", e.get("values"))
                    .finish()
            })
        })
        .finish()
}

fn enc_ref(r: Option<&Value>) -> String {
    let r = r.unwrap_or(&Value::Null);
    let api_version = str_at(r, "/apiVersion");
    let out = Ordered::default().put("kind", enc_str(str_at(r, "/kind"))).put("name", enc_str(str_at(r, "/name")));
    if api_version.is_empty() {
        out.finish()
    } else {
        out.put("apiVersion", enc_str(api_version)).finish()
    }
}

// ---- v2 → v1 ----

fn is_cpu_utilization(metric: &Value) -> bool {
    str_at(metric, "/type") == "Resource"
        && str_at(metric, "/resource/name") == "cpu"
        && at(metric, "/resource/target/averageUtilization").is_some()
}

/// A v2 MetricSpec in the v1 (annotation) form.
fn enc_v1_metric_spec(m: &Value) -> String {
    let t = str_at(m, "/type");
    let out = Ordered::default().put("type", enc_str(t));
    let body = match t {
        "Object" => m.get("object").map(|o| {
            Ordered::default()
                .put("target", enc_ref(o.get("describedObject")))
                .put("metricName", enc_str(str_at(o, "/metric/name")))
                .put("targetValue", enc_quantity(o.pointer("/target/value")))
                .opt_with("selector", o.pointer("/metric/selector"), enc_selector)
                .opt("averageValue", o.pointer("/target/averageValue"))
                .finish()
        }),
        "Pods" => m.get("pods").map(|p| {
            Ordered::default()
                .put("metricName", enc_str(str_at(p, "/metric/name")))
                .put("targetAverageValue", enc_quantity(p.pointer("/target/averageValue")))
                .opt_with("selector", p.pointer("/metric/selector"), enc_selector)
                .finish()
        }),
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" { "resource" } else { "containerResource" };
            m.get(key).map(|r| {
                let out = Ordered::default()
                    .put("name", enc_str(str_at(r, "/name")))
                    .opt("targetAverageUtilization", r.pointer("/target/averageUtilization"))
                    .opt("targetAverageValue", r.pointer("/target/averageValue"));
                if t == "ContainerResource" {
                    out.put("container", enc_str(str_at(r, "/container"))).finish()
                } else {
                    out.finish()
                }
            })
        }
        "External" => m.get("external").map(|e| {
            Ordered::default()
                .put("metricName", enc_str(str_at(e, "/metric/name")))
                .opt_with("metricSelector", e.pointer("/metric/selector"), enc_selector)
                .opt("targetValue", e.pointer("/target/value"))
                .opt("targetAverageValue", e.pointer("/target/averageValue"))
                .finish()
        }),
        _ => None,
    };
    let field = match t {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        _ => "external",
    };
    match body {
        Some(b) => out.put(field, b).finish(),
        None => out.finish(),
    }
}

/// A v2 MetricStatus in the v1 (annotation) form.
fn enc_v1_metric_status(m: &Value) -> String {
    let t = str_at(m, "/type");
    let out = Ordered::default().put("type", enc_str(t));
    let (field, body) = match t {
        "Object" => (
            "object",
            m.get("object").map(|o| {
                Ordered::default()
                    .put("target", enc_ref(o.get("describedObject")))
                    .put("metricName", enc_str(str_at(o, "/metric/name")))
                    .put("currentValue", enc_quantity(o.pointer("/current/value")))
                    .opt_with("selector", o.pointer("/metric/selector"), enc_selector)
                    .opt("averageValue", o.pointer("/current/averageValue"))
                    .finish()
            }),
        ),
        "Pods" => (
            "pods",
            m.get("pods").map(|p| {
                Ordered::default()
                    .put("metricName", enc_str(str_at(p, "/metric/name")))
                    .put("currentAverageValue", enc_quantity(p.pointer("/current/averageValue")))
                    .opt_with("selector", p.pointer("/metric/selector"), enc_selector)
                    .finish()
            }),
        ),
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" { "resource" } else { "containerResource" };
            (
                key,
                m.get(key).map(|r| {
                    let out = Ordered::default()
                        .put("name", enc_str(str_at(r, "/name")))
                        .opt("currentAverageUtilization", r.pointer("/current/averageUtilization"))
                        .put("currentAverageValue", enc_quantity(r.pointer("/current/averageValue")));
                    if t == "ContainerResource" {
                        out.put("container", enc_str(str_at(r, "/container"))).finish()
                    } else {
                        out.finish()
                    }
                }),
            )
        }
        _ => (
            "external",
            m.get("external").map(|e| {
                Ordered::default()
                    .put("metricName", enc_str(str_at(e, "/metric/name")))
                    .opt_with("metricSelector", e.pointer("/metric/selector"), enc_selector)
                    .put("currentValue", enc_quantity(e.pointer("/current/value")))
                    .opt("currentAverageValue", e.pointer("/current/averageValue"))
                    .finish()
            }),
        ),
    };
    match body {
        Some(b) => out.put(field, b).finish(),
        None => out.finish(),
    }
}

fn skip_empty(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| v.as_str() != Some(""))
}

fn enc_condition(c: &Value) -> String {
    Ordered::default()
        .put("type", enc_str(str_at(c, "/type")))
        .put("status", enc_str(str_at(c, "/status")))
        // metav1.Time is a struct: omitempty never drops it, a zero time prints null.
        .put("lastTransitionTime", enc(c.get("lastTransitionTime").unwrap_or(&Value::Null)))
        .opt("reason", skip_empty(c.get("reason")))
        .opt("message", skip_empty(c.get("message")))
        .finish()
}

/// The behavior as Kubernetes stores it in the v1 annotation: the internal type, which has
/// no JSON tags, so Go field names and explicit nulls.
fn enc_behavior(b: &Value) -> String {
    let rules = |r: Option<&Value>| match r.filter(|v| !v.is_null()) {
        None => "null".to_string(),
        Some(r) => Ordered::default()
            .put("StabilizationWindowSeconds", enc(r.get("stabilizationWindowSeconds").unwrap_or(&Value::Null)))
            .put("SelectPolicy", enc(r.get("selectPolicy").unwrap_or(&Value::Null)))
            .put(
                "Policies",
                match r.get("policies").and_then(Value::as_array) {
                    Some(ps) => enc_list(ps, |p| {
                        Ordered::default()
                            .put("Type", enc_str(str_at(p, "/type")))
                            .put("Value", enc(&Value::from(i64_at(p, "/value"))))
                            .put("PeriodSeconds", enc(&Value::from(i64_at(p, "/periodSeconds"))))
                            .finish()
                    }),
                    None => "null".into(),
                },
            )
            .put("Tolerance", enc(r.get("tolerance").unwrap_or(&Value::Null)))
            .finish(),
    };
    Ordered::default().put("ScaleUp", rules(b.get("scaleUp"))).put("ScaleDown", rules(b.get("scaleDown"))).finish()
}

fn drop_round_trip_annotations(meta: &mut Map<String, Value>) {
    if let Some(Value::Object(a)) = meta.get_mut("annotations") {
        for k in ROUND_TRIP_ANNOTATIONS {
            a.remove(*k);
        }
        if a.is_empty() {
            meta.remove("annotations");
        }
    }
}

/// autoscaling/v2 → autoscaling/v1.
pub fn v2_to_v1(hpa: Value) -> Value {
    let Value::Object(mut out) = hpa.clone() else { return hpa };
    out.insert("apiVersion".into(), json!("autoscaling/v1"));
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    let mut meta = match out.remove("metadata") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    drop_round_trip_annotations(&mut meta);
    let mut annotations: Vec<(&str, String)> = Vec::new();

    let metrics = arr_at(&hpa, "/spec/metrics");
    let mut spec = Map::new();
    spec.insert("scaleTargetRef".into(), hpa.pointer("/spec/scaleTargetRef").cloned().unwrap_or(json!({})));
    if let Some(min) = at(&hpa, "/spec/minReplicas") {
        spec.insert("minReplicas".into(), min.clone());
    }
    spec.insert("maxReplicas".into(), Value::from(i64_at(&hpa, "/spec/maxReplicas")));
    if let Some(cpu) = metrics.iter().find(|m| str_at(m, "/type") == "Resource" && str_at(m, "/resource/name") == "cpu")
    {
        if let Some(u) = at(cpu, "/resource/target/averageUtilization") {
            spec.insert("targetCPUUtilizationPercentage".into(), u.clone());
        }
    }
    let others: Vec<&Value> = metrics.iter().filter(|m| !is_cpu_utilization(m)).collect();
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(|m| enc_v1_metric_spec(m)).collect();
        annotations.push((METRICS_ANNOTATION, format!("[{}]", list.join(","))));
    }

    let current = arr_at(&hpa, "/status/currentMetrics");
    let mut status = Map::new();
    if let Some(g) = at(&hpa, "/status/observedGeneration") {
        status.insert("observedGeneration".into(), g.clone());
    }
    if let Some(t) = at(&hpa, "/status/lastScaleTime") {
        status.insert("lastScaleTime".into(), t.clone());
    }
    status.insert("currentReplicas".into(), Value::from(i64_at(&hpa, "/status/currentReplicas")));
    status.insert("desiredReplicas".into(), Value::from(i64_at(&hpa, "/status/desiredReplicas")));
    for m in current {
        if str_at(m, "/type") == "Resource" && str_at(m, "/resource/name") == "cpu" {
            if let Some(u) = at(m, "/resource/current/averageUtilization") {
                status.insert("currentCPUUtilizationPercentage".into(), u.clone());
            }
        }
    }
    if !current.is_empty() {
        annotations.push((CURRENT_METRICS_ANNOTATION, enc_list(current, enc_v1_metric_status)));
    }
    if let Some(b) = at(&hpa, "/spec/behavior") {
        annotations.push((BEHAVIOR_ANNOTATION, enc_behavior(b)));
    }
    let conditions = arr_at(&hpa, "/status/conditions");
    if !conditions.is_empty() {
        annotations.push((CONDITIONS_ANNOTATION, enc_list(conditions, enc_condition)));
    }
    if !annotations.is_empty() {
        let a = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Value::Object(a) = a {
            for (k, v) in annotations {
                a.insert(k.into(), Value::String(v));
            }
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    out.insert("spec".into(), Value::Object(spec));
    out.insert("status".into(), Value::Object(status));
    Value::Object(out)
}

// ---- v1 → v2 ----

fn metric_target(type_: &str, value: Option<&Value>, average_value: Option<&Value>, util: Option<&Value>) -> Value {
    let mut t = Map::new();
    t.insert("type".into(), json!(type_));
    for (k, v) in [("value", value), ("averageValue", average_value), ("averageUtilization", util)] {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            t.insert(k.into(), v.clone());
        }
    }
    Value::Object(t)
}

fn metric_id(name: &str, selector: Option<&Value>) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    if let Some(s) = selector.filter(|v| !v.is_null()) {
        m.insert("selector".into(), s.clone());
    }
    Value::Object(m)
}

fn quantity_or_zero(v: Option<&Value>) -> Value {
    Value::String(quantity(v.filter(|v| !v.is_null())))
}

fn v1_metric_spec_to_v2(m: &Value) -> Value {
    let t = str_at(m, "/type");
    let body = match t {
        "Object" => m.get("object").map(|o| {
            let avg = at(o, "/averageValue");
            let kind = if avg.is_none() { "Value" } else { "AverageValue" };
            json!({
                "describedObject": o.get("target").cloned().unwrap_or(json!({})),
                "metric": metric_id(str_at(o, "/metricName"), o.get("selector")),
                "target": metric_target(kind, Some(&quantity_or_zero(o.get("targetValue"))), avg, None),
            })
        }),
        "Pods" => m.get("pods").map(|p| {
            json!({
                "metric": metric_id(str_at(p, "/metricName"), p.get("selector")),
                "target": metric_target("AverageValue", None, Some(&quantity_or_zero(p.get("targetAverageValue"))), None),
            })
        }),
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" { "resource" } else { "containerResource" };
            m.get(key).map(|r| {
                let util = at(r, "/targetAverageUtilization");
                let kind = if util.is_none() { "AverageValue" } else { "Utilization" };
                let mut out = json!({
                    "name": str_at(r, "/name"),
                    "target": metric_target(kind, None, at(r, "/targetAverageValue"), util),
                });
                if t == "ContainerResource" {
                    out["container"] = json!(str_at(r, "/container"));
                }
                out
            })
        }
        "External" => m.get("external").map(|e| {
            let avg = at(e, "/targetAverageValue");
            let kind = if avg.is_some() { "AverageValue" } else { "Value" };
            json!({
                "metric": metric_id(str_at(e, "/metricName"), e.get("metricSelector")),
                "target": metric_target(kind, at(e, "/targetValue"), avg, None),
            })
        }),
        _ => None,
    };
    with_body(t, body)
}

fn v1_metric_status_to_v2(m: &Value) -> Value {
    let t = str_at(m, "/type");
    let current = |value: Option<Value>, avg: Option<&Value>, util: Option<&Value>| {
        let mut c = Map::new();
        if let Some(v) = value {
            c.insert("value".into(), v);
        }
        if let Some(v) = avg.filter(|v| !v.is_null()) {
            c.insert("averageValue".into(), v.clone());
        }
        if let Some(v) = util.filter(|v| !v.is_null()) {
            c.insert("averageUtilization".into(), v.clone());
        }
        Value::Object(c)
    };
    let body = match t {
        "Object" => m.get("object").map(|o| {
            json!({
                "metric": metric_id(str_at(o, "/metricName"), o.get("selector")),
                "current": current(Some(quantity_or_zero(o.get("currentValue"))), o.get("averageValue"), None),
                "describedObject": o.get("target").cloned().unwrap_or(json!({})),
            })
        }),
        "Pods" => m.get("pods").map(|p| {
            json!({
                "metric": metric_id(str_at(p, "/metricName"), p.get("selector")),
                "current": current(None, Some(&quantity_or_zero(p.get("currentAverageValue"))), None),
            })
        }),
        "Resource" | "ContainerResource" => {
            let key = if t == "Resource" { "resource" } else { "containerResource" };
            m.get(key).map(|r| {
                let mut out = json!({
                    "name": str_at(r, "/name"),
                    "current": current(None, Some(&quantity_or_zero(r.get("currentAverageValue"))),
                                       r.get("currentAverageUtilization")),
                });
                if t == "ContainerResource" {
                    out["container"] = json!(str_at(r, "/container"));
                }
                out
            })
        }
        "External" => m.get("external").map(|e| {
            json!({
                "metric": metric_id(str_at(e, "/metricName"), e.get("metricSelector")),
                "current": current(Some(quantity_or_zero(e.get("currentValue"))), e.get("currentAverageValue"), None),
            })
        }),
        _ => None,
    };
    with_body(t, body)
}

fn with_body(t: &str, body: Option<Value>) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(t));
    if let Some(b) = body {
        let field = match t {
            "Object" => "object",
            "Pods" => "pods",
            "Resource" => "resource",
            "ContainerResource" => "containerResource",
            _ => "external",
        };
        out.insert(field.into(), b);
    }
    Value::Object(out)
}

/// The internal (Go field name) behavior annotation back to v2 JSON.
fn behavior_from_annotation(b: &Value) -> Option<Value> {
    let get = |v: &Value, go: &str, json: &str| v.get(go).or_else(|| v.get(json)).filter(|v| !v.is_null()).cloned();
    let rules = |r: Option<Value>| {
        r.map(|r| {
            let mut out = Map::new();
            if let Some(v) = get(&r, "StabilizationWindowSeconds", "stabilizationWindowSeconds") {
                out.insert("stabilizationWindowSeconds".into(), v);
            }
            if let Some(v) = get(&r, "SelectPolicy", "selectPolicy") {
                out.insert("selectPolicy".into(), v);
            }
            if let Some(Value::Array(ps)) = get(&r, "Policies", "policies") {
                let ps: Vec<Value> = ps
                    .iter()
                    .map(|p| {
                        json!({
                            "type": get(p, "Type", "type").unwrap_or(json!("")),
                            "value": get(p, "Value", "value").unwrap_or(json!(0)),
                            "periodSeconds": get(p, "PeriodSeconds", "periodSeconds").unwrap_or(json!(0)),
                        })
                    })
                    .collect();
                out.insert("policies".into(), Value::Array(ps));
            }
            if let Some(v) = get(&r, "Tolerance", "tolerance") {
                out.insert("tolerance".into(), v);
            }
            Value::Object(out)
        })
    };
    let up = rules(get(b, "ScaleUp", "scaleUp"));
    let down = rules(get(b, "ScaleDown", "scaleDown"));
    if up.is_none() && down.is_none() {
        return None;
    }
    let mut out = Map::new();
    if let Some(u) = up {
        out.insert("scaleUp".into(), u);
    }
    if let Some(d) = down {
        out.insert("scaleDown".into(), d);
    }
    Some(Value::Object(out))
}

fn annotation_json(meta: &Map<String, Value>, key: &str) -> Option<Value> {
    let text = meta.get("annotations")?.get(key)?.as_str()?;
    serde_json::from_str(text).ok()
}

/// autoscaling/v1 → autoscaling/v2 (the storage form).
pub fn v1_to_v2(hpa: Value) -> Result<Value, String> {
    let Value::Object(mut out) = hpa.clone() else {
        return Err("a HorizontalPodAutoscaler must be a JSON object".into());
    };
    out.insert("apiVersion".into(), json!("autoscaling/v2"));
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    let mut meta = match out.remove("metadata") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };

    let mut spec = Map::new();
    spec.insert("scaleTargetRef".into(), hpa.pointer("/spec/scaleTargetRef").cloned().unwrap_or(json!({})));
    if let Some(min) = at(&hpa, "/spec/minReplicas") {
        spec.insert("minReplicas".into(), min.clone());
    }
    spec.insert("maxReplicas".into(), Value::from(i64_at(&hpa, "/spec/maxReplicas")));
    let cpu_metric = |util: &Value| {
        json!({"type": "Resource", "resource": {"name": "cpu",
               "target": {"type": "Utilization", "averageUtilization": util}}})
    };
    let mut metrics: Vec<Value> = Vec::new();
    if let Some(Value::Array(others)) = annotation_json(&meta, METRICS_ANNOTATION) {
        metrics.extend(others.iter().map(v1_metric_spec_to_v2));
    }
    if let Some(u) = at(&hpa, "/spec/targetCPUUtilizationPercentage") {
        metrics.push(cpu_metric(u));
    }
    if metrics.is_empty() {
        metrics.push(cpu_metric(&Value::from(DEFAULT_CPU_UTILIZATION)));
    }
    spec.insert("metrics".into(), Value::Array(metrics));
    if let Some(b) = annotation_json(&meta, BEHAVIOR_ANNOTATION).as_ref().and_then(behavior_from_annotation) {
        spec.insert("behavior".into(), b);
    }

    let mut status = Map::new();
    if let Some(g) = at(&hpa, "/status/observedGeneration") {
        status.insert("observedGeneration".into(), g.clone());
    }
    if let Some(t) = at(&hpa, "/status/lastScaleTime") {
        status.insert("lastScaleTime".into(), t.clone());
    }
    let current_replicas = i64_at(&hpa, "/status/currentReplicas");
    if current_replicas != 0 {
        status.insert("currentReplicas".into(), Value::from(current_replicas));
    }
    status.insert("desiredReplicas".into(), Value::from(i64_at(&hpa, "/status/desiredReplicas")));
    let current_metrics: Vec<Value> = match annotation_json(&meta, CURRENT_METRICS_ANNOTATION) {
        // The annotation, when present, carries every current metric.
        Some(Value::Array(list)) => list.iter().map(v1_metric_status_to_v2).collect(),
        _ => match at(&hpa, "/status/currentCPUUtilizationPercentage") {
            Some(u) => vec![json!({"type": "Resource", "resource": {"name": "cpu",
                                   "current": {"averageUtilization": u}}})],
            None => Vec::new(),
        },
    };
    if !current_metrics.is_empty() {
        status.insert("currentMetrics".into(), Value::Array(current_metrics));
    }
    if let Some(Value::Array(conditions)) = annotation_json(&meta, CONDITIONS_ANNOTATION) {
        if !conditions.is_empty() {
            status.insert("conditions".into(), Value::Array(conditions));
        }
    }

    drop_round_trip_annotations(&mut meta);
    out.insert("metadata".into(), Value::Object(meta));
    out.insert("spec".into(), Value::Object(spec));
    out.insert("status".into(), Value::Object(status));
    Ok(Value::Object(out))
}

// ---- Table ----

/// `formatHPAMetrics`: "cpu: 12%/80%, memory: 10Mi/100Mi + 1 more...".
fn format_metrics(hpa: &Value) -> String {
    let specs = arr_at(hpa, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = arr_at(hpa, "/status/currentMetrics");
    const MAX: usize = 2;
    let unknown = || "<unknown>".to_string();
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let status_of = |key: &str| status.and_then(|s| s.get(key)).filter(|v| !v.is_null());
        let q = |v: Option<&Value>| v.filter(|v| !v.is_null()).map(|v| quantity(Some(v)));
        let text = match str_at(spec, "/type") {
            "External" => {
                let target_avg = at(spec, "/external/target/averageValue");
                let cur = status_of("external");
                if let Some(avg) = target_avg {
                    let current = q(cur.and_then(|c| c.pointer("/current/averageValue"))).unwrap_or_else(unknown);
                    format!("{}/{} (avg)", current, quantity(Some(avg)))
                } else {
                    let current = cur.map(|c| quantity(c.pointer("/current/value"))).unwrap_or_else(unknown);
                    format!("{}/{}", current, quantity(spec.pointer("/external/target/value")))
                }
            }
            "Pods" => {
                let current =
                    q(status_of("pods").and_then(|c| c.pointer("/current/averageValue"))).unwrap_or_else(unknown);
                format!("{}/{}", current, quantity(spec.pointer("/pods/target/averageValue")))
            }
            "Object" => {
                let target_avg = at(spec, "/object/target/averageValue");
                let cur = status_of("object");
                if let Some(avg) = target_avg {
                    let current = q(cur.and_then(|c| c.pointer("/current/averageValue"))).unwrap_or_else(unknown);
                    format!("{}/{} (avg)", current, quantity(Some(avg)))
                } else {
                    let current = cur.map(|c| quantity(c.pointer("/current/value"))).unwrap_or_else(unknown);
                    format!("{}/{}", current, quantity(spec.pointer("/object/target/value")))
                }
            }
            t @ ("Resource" | "ContainerResource") => {
                let key = if t == "Resource" { "resource" } else { "containerResource" };
                let r = spec.get(key).unwrap_or(&Value::Null);
                let cur = status_of(key);
                let res_name = str_at(r, "/name");
                if let Some(avg) = at(r, "/target/averageValue") {
                    let current = cur.map(|c| quantity(c.pointer("/current/averageValue"))).unwrap_or_else(unknown);
                    format!("{}: {}/{}", res_name, current, quantity(Some(avg)))
                } else {
                    let current = cur
                        .and_then(|c| opt_i64_at(c, "/current/averageUtilization"))
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(unknown);
                    let target = opt_i64_at(r, "/target/averageUtilization")
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(|| "<auto>".into());
                    format!("{}: {}/{}", res_name, current, target)
                }
            }
            _ => "<unknown type>".into(),
        };
        list.push(text);
    }
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

/// `printHorizontalPodAutoscaler`: Name, Reference, Targets, MinPods, MaxPods, Replicas, Age.
fn row(hpa: &Value, now: Timestamp) -> Vec<Value> {
    let min = match opt_i64_at(hpa, "/spec/minReplicas") {
        Some(m) => m.to_string(),
        None => "<unset>".into(),
    };
    vec![
        name(hpa),
        s(format!("{}/{}", str_at(hpa, "/spec/scaleTargetRef/kind"), str_at(hpa, "/spec/scaleTargetRef/name"))),
        s(format_metrics(hpa)),
        s(min),
        Value::from(i64_at(hpa, "/spec/maxReplicas")),
        Value::from(i64_at(hpa, "/status/currentReplicas")),
        age(hpa, now),
    ]
}

fn row_v1(hpa: &Value, now: Timestamp) -> Vec<Value> {
    match v1_to_v2(hpa.clone()) {
        Ok(v2) => row(&v2, now),
        Err(_) => row(hpa, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1_simple() -> Value {
        json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
            "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 12}
        })
    }

    #[test]
    fn v1_to_v2_maps_cpu_target_and_current() {
        let v2 = v1_to_v2(v1_simple()).unwrap();
        assert_eq!(v2["apiVersion"], json!("autoscaling/v2"));
        assert_eq!(
            v2["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])
        );
        assert_eq!(
            v2["status"]["currentMetrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}])
        );
        assert!(v2["metadata"].get("annotations").is_none());
    }

    #[test]
    fn v1_round_trip_through_v2() {
        let v1 = v1_simple();
        let back = v2_to_v1(v1_to_v2(v1.clone()).unwrap());
        // The current metric is kept in the annotation, as Kubernetes does.
        let ann = back["metadata"]["annotations"][CURRENT_METRICS_ANNOTATION].as_str().unwrap();
        assert_eq!(
            ann,
            r#"[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":12,"currentAverageValue":"0"}}]"#
        );
        assert_eq!(back["spec"], v1["spec"]);
        assert_eq!(back["status"], v1["status"]);
        // And reading that v1 object back gives the same v2 object.
        let v2 = v1_to_v2(back).unwrap();
        assert_eq!(v2["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"], json!(12));
    }

    #[test]
    fn v2_round_trip_through_v1_keeps_other_metrics_behavior_and_conditions() {
        let v2 = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "annotations": {"team": "a"}},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                             "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
            },
            "status": {
                "currentReplicas": 3, "desiredReplicas": 3,
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "50Mi"}}},
                    {"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "20m", "averageUtilization": 20}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "4"}}}
                ],
                "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-05-01T11:00:00Z",
                                "reason": "ReadyForNewScale", "message": "ok"}]
            }
        });
        let v1 = v2_to_v1(v2.clone());
        assert_eq!(v1["apiVersion"], json!("autoscaling/v1"));
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], json!(50));
        assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], json!(20));
        let ann = &v1["metadata"]["annotations"];
        assert_eq!(ann["team"], json!("a"));
        assert_eq!(
            ann[METRICS_ANNOTATION],
            json!(
                r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}},{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]"#
            )
        );
        assert_eq!(
            ann[BEHAVIOR_ANNOTATION],
            json!(
                r#"{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Max","Policies":[{"Type":"Percent","Value":100,"PeriodSeconds":15}],"Tolerance":null}}"#
            )
        );
        assert_eq!(
            ann[CONDITIONS_ANNOTATION],
            json!(
                r#"[{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-05-01T11:00:00Z","reason":"ReadyForNewScale","message":"ok"}]"#
            )
        );

        let back = v1_to_v2(v1).unwrap();
        assert_eq!(back["metadata"], json!({"name": "web", "annotations": {"team": "a"}}));
        // Upstream puts the CPU metric after the annotation's metrics.
        let metrics = back["spec"]["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 3);
        assert_eq!(metrics[0], v2["spec"]["metrics"][0]);
        assert_eq!(metrics[1], v2["spec"]["metrics"][2]);
        assert_eq!(metrics[2], v2["spec"]["metrics"][1]);
        assert_eq!(back["spec"]["behavior"], v2["spec"]["behavior"]);
        assert_eq!(back["status"]["conditions"], v2["status"]["conditions"]);
        assert_eq!(back["status"]["currentMetrics"][0], v2["status"]["currentMetrics"][0]);
        assert_eq!(back["status"]["currentMetrics"][1], v2["status"]["currentMetrics"][1]);
        assert_eq!(back["status"]["currentMetrics"][2], v2["status"]["currentMetrics"][2]);
    }

    #[test]
    fn v1_without_target_gets_default_cpu() {
        let v1 = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3}});
        let v2 = v1_to_v2(v1).unwrap();
        assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], json!(80));
    }

    #[test]
    fn hpa_rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let mut v1 = v1_simple();
        v1["metadata"]["creationTimestamp"] = json!("2024-05-01T11:00:00Z");
        assert_eq!(
            row_v1(&v1, now),
            vec![
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 12%/80%"),
                json!("2"),
                json!(5),
                json!(2),
                json!("60m")
            ]
        );
        let v2 = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]}});
        assert_eq!(row(&v2, now)[2], json!("cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more..."));
        assert_eq!(row(&v2, now)[3], json!("<unset>"));
    }
}

/// autoscaling/v2 SetDefaults_HorizontalPodAutoscaler: minReplicas 1, a CPU utilization
/// target of 80% when no metric is given, and a given behavior filled with the default scaling
/// rules. The status is Go's zero v2 status, reset on create as PrepareForCreate does.
fn default_v2(obj: &mut Value) {
    use super::defaulting::*;
    let zero = [("currentMetrics", Value::Null), ("desiredReplicas", json!(0))];
    if is_create(obj) {
        reset_status(obj, json!({"currentMetrics": null, "desiredReplicas": 0}));
    }
    status_with_zero(obj, &zero);
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    default_ptr(spec, "minReplicas", json!(1));
    if empty_collection(spec.get("metrics")) {
        let cpu = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]);
        spec.insert("metrics".into(), cpu);
    }
    if let Some(behavior) = existing(spec, "behavior") {
        let up = scaling_rules(behavior.get("scaleUp"), true);
        let down = scaling_rules(behavior.get("scaleDown"), false);
        behavior.insert("scaleUp".into(), up);
        behavior.insert("scaleDown".into(), down);
    }
}

/// GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: the defaults with every field the
/// user set copied over.
fn scaling_rules(given: Option<&Value>, up: bool) -> Value {
    let mut rules = if up {
        json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]})
    } else {
        json!({"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]})
    };
    if let (Some(given), Some(out)) = (given.and_then(Value::as_object), rules.as_object_mut()) {
        for key in ["stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"] {
            if let Some(v) = given.get(key).filter(|v| !v.is_null()) {
                out.insert(key.into(), v.clone());
            }
        }
    }
    rules
}

/// autoscaling/v1 SetDefaults_HorizontalPodAutoscaler: minReplicas 1 (the 80% CPU default
/// comes with the conversion to v2). The status is Go's zero v1 status, reset on create.
fn default_v1(obj: &mut Value) {
    use super::defaulting::*;
    let zero = [("currentReplicas", json!(0)), ("desiredReplicas", json!(0))];
    if is_create(obj) {
        reset_status(obj, json!({"currentReplicas": 0, "desiredReplicas": 0}));
    }
    status_with_zero(obj, &zero);
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    default_ptr(spec, "minReplicas", json!(1));
}

#[cfg(test)]
mod default_tests {
    use super::*;

    #[test]
    fn hpa_defaults() {
        let mut h = json!({"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "maxReplicas": 5},
                           "status": {"currentReplicas": 3}});
        default_v2(&mut h);
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(h["spec"]["metrics"][0]["resource"]["target"], json!({"type": "Utilization", "averageUtilization": 80}));
        assert!(h["spec"].get("behavior").is_none(), "behavior is only filled when given");
        assert_eq!(h["status"], json!({"currentMetrics": null, "desiredReplicas": 0}));
        let mut h = json!({"spec": {"minReplicas": 2, "metrics": [{"type": "Pods"}], "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        default_v2(&mut h);
        assert_eq!(h["spec"]["minReplicas"], 2);
        assert_eq!(h["spec"]["metrics"], json!([{"type": "Pods"}]));
        assert_eq!(
            h["spec"]["behavior"],
            json!({"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                   "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                       {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}})
        );
        let mut h = json!({"spec": {"maxReplicas": 3}});
        default_v1(&mut h);
        assert_eq!(h["spec"], json!({"maxReplicas": 3, "minReplicas": 1}));
        assert_eq!(h["status"], json!({"currentReplicas": 0, "desiredReplicas": 0}));
    }
}

use super::validation::{
    field, forbidden, go, int_of, invalid, list_of, not_supported, obj_of, required, str_of, Path, Quantity,
};

/// ValidateHorizontalPodAutoscaler(Update) for autoscaling/v2 objects.
fn validate_v2(hpa: &Value, _old: Option<&Value>) -> Vec<super::FieldError> {
    check_hpa_spec(obj_of(hpa, "spec"), list_of(obj_of(hpa, "spec"), "metrics"))
}

/// autoscaling/v1 objects are validated as their v2 form: targetCPUUtilizationPercentage is
/// the first metric's target (errors name the v2 field, as the apiserver's do).
fn validate_v1(hpa: &Value, _old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(hpa, "spec");
    let metrics: Vec<Value> = match int_of(spec, "targetCPUUtilizationPercentage") {
        Some(u) => vec![
            serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": u}}}),
        ],
        None => Vec::new(),
    };
    check_hpa_spec(spec, &metrics)
}

/// validateHorizontalPodAutoscalerSpec (scale-to-zero off: minReplicas is at least 1).
fn check_hpa_spec(spec: &Value, metrics: &[Value]) -> Vec<super::FieldError> {
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    let min = int_of(spec, "minReplicas");
    let max = int_of(spec, "maxReplicas").unwrap_or(0);
    if let Some(m) = min.filter(|&m| m < 1) {
        errs.push(invalid(&sp.child("minReplicas"), go::int(m), "must be greater than or equal to 1"));
    }
    if max < 1 {
        errs.push(invalid(&sp.child("maxReplicas"), go::int(max), "must be greater than 0"));
    }
    if min.is_some_and(|m| max < m) {
        errs.push(invalid(&sp.child("maxReplicas"), go::int(max), "must be greater than or equal to `minReplicas`"));
    }
    let ref_errs = check_cross_version_ref(obj_of(spec, "scaleTargetRef"), &sp.child("scaleTargetRef"));
    if !ref_errs.is_empty() {
        errs.extend(ref_errs);
        return errs;
    }
    for (i, m) in metrics.iter().enumerate() {
        errs.extend(check_metric_spec(m, &sp.child("metrics").index(i)));
    }
    errs
}

/// ValidateCrossVersionObjectReference.
fn check_cross_version_ref(r: &Value, path: &Path) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    for f in ["kind", "name"] {
        let v = str_of(r, f);
        if v.is_empty() {
            errs.push(required(&path.child(f), ""));
        } else {
            for m in super::names::is_valid_path_segment_name(v) {
                errs.push(invalid(&path.child(f), go::str(v), &m));
            }
        }
    }
    errs
}

const SOURCE_TYPES: &[&str] = &["ContainerResource", "External", "Object", "Pods", "Resource"];

/// validateMetricSpec: the type names exactly one populated source.
fn check_metric_spec(m: &Value, path: &Path) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    let t = str_of(m, "type");
    if t.is_empty() {
        errs.push(required(&path.child("type"), "must specify a metric source type"));
    }
    if !SOURCE_TYPES.contains(&t) {
        errs.push(not_supported(&path.child("type"), go::str(t), SOURCE_TYPES));
    }
    let mut present: Vec<&str> = Vec::new();
    for key in ["object", "pods", "resource", "containerResource", "external"] {
        if let Some(src) = field(m, key) {
            present.push(key);
            if present.len() == 1 && (key == "resource" || key == "containerResource") {
                errs.extend(check_resource_source(src, &path.child(key), key == "containerResource"));
            } else if present.len() == 1 {
                errs.extend(check_metric_target(obj_of(src, "target"), &path.child(key).child("target")));
            }
        }
    }
    let expected = match t {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "External" => "external",
        _ => "",
    };
    if !expected.is_empty() && !present.contains(&expected) {
        errs.push(required(&path.child(expected), "must populate information for the given metric source"));
    }
    if present.len() != 1 {
        for key in present.iter().filter(|k| **k != expected) {
            errs.push(forbidden(&path.child(key), "must populate the given metric source only"));
        }
    }
    errs
}

fn check_resource_source(src: &Value, path: &Path, container: bool) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    if str_of(src, "name").is_empty() {
        errs.push(required(&path.child("name"), "must specify a resource name"));
    }
    if container && str_of(src, "container").is_empty() {
        errs.push(required(&path.child("container"), "must specify a container"));
    }
    let target = obj_of(src, "target");
    let tp = path.child("target");
    errs.extend(check_metric_target(target, &tp));
    let (util, avg) = (field(target, "averageUtilization"), field(target, "averageValue"));
    if util.is_none() && avg.is_none() {
        errs.push(required(
            &tp.child("averageUtilization"),
            "must set either a target raw value or a target utilization",
        ));
    }
    if util.is_some() && avg.is_some() {
        errs.push(forbidden(&tp.child("averageValue"), "may not set both a target raw value and a target utilization"));
    }
    errs
}

/// validateMetricTarget.
fn check_metric_target(t: &Value, path: &Path) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    let ty = str_of(t, "type");
    if ty.is_empty() {
        errs.push(required(&path.child("type"), "must specify a metric target type"));
    }
    if !["Utilization", "Value", "AverageValue"].contains(&ty) {
        errs.push(invalid(&path.child("type"), go::str(ty), "must be either Utilization, Value, or AverageValue"));
    }
    for f in ["value", "averageValue"] {
        if let Some(v) = field(t, f) {
            if Quantity::from_json(v).map_or(true, |q| q.sign() != 1) {
                errs.push(invalid(&path.child(f), go::structure("resource.Quantity", Some(v)), "must be positive"));
            }
        }
    }
    if let Some(u) = int_of(t, "averageUtilization").filter(|&u| u < 1) {
        errs.push(invalid(&path.child("averageUtilization"), go::int(u), "must be greater than 0"));
    }
    errs
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    #[test]
    fn replica_bounds_and_targets() {
        let v2 = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 0, "maxReplicas": 0,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}]}});
        assert_eq!(
            render(&validate_v2(&v2, None)),
            vec![
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
            ]
        );
        let v1 = json!({"spec": {"scaleTargetRef": {"name": "web"}, "minReplicas": 3, "maxReplicas": 2}});
        assert_eq!(
            render(&validate_v1(&v1, None)),
            vec![
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
                "spec.scaleTargetRef.kind: Required value",
            ]
        );
        let ok = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "maxReplicas": 3, "targetCPUUtilizationPercentage": 80}});
        assert!(validate_v1(&ok, None).is_empty());
    }
}
