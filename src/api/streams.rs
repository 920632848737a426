//! Streaming pod subresources served by a node (`pods/log`): the options the apiserver parses
//! and validates, the container it picks, and the in-process trait a node agent implements so
//! the API can relay a node's output without knowing anything of the node (no HTTP, no Linux).

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::request::Query;
use super::{ApiState, Body};
use crate::registry::status::StatusError;

/// What a `GET .../pods/NAME/log` asks for, once parsed and validated (the kubelet's view of
/// `PodLogOptions`: `since` is the later of sinceSeconds and sinceTime).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogOptions {
    /// The container whose log is read; always set by the time a node sees the options.
    pub container: String,
    pub follow: bool,
    pub previous: bool,
    /// Lines older than this are skipped.
    pub since: Option<jiff::Timestamp>,
    pub timestamps: bool,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
}

/// The chunks of a log as the node produces them; the node stops when the receiver is dropped.
pub type LogStream = mpsc::Receiver<Bytes>;

/// Errors a node reports for a log request. The apiserver relays a kubelet's 400 as BadRequest
/// and any other failure as an internal error, with the kubelet's text as the message.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StreamError> for StatusError {
    fn from(e: StreamError) -> StatusError {
        match e {
            StreamError::BadRequest(m) => StatusError::bad_request(m),
            StreamError::Internal(m) => StatusError::internal(m),
        }
    }
}

/// A node that serves the logs of the pods bound to it (the kubelet's `/containerLogs`).
pub trait PodLogs: Send + Sync {
    /// The node whose pods this serves.
    fn node_name(&self) -> &str;
    /// Starts streaming the log of `opts.container` of `pod` (as the API last stored it).
    /// Errors found before the first byte (container waiting, no previous attempt, ...) are
    /// returned; the stream ends when the log is done or, following, the container exited.
    fn logs(&self, pod: &Pod, opts: &LogOptions) -> Result<LogStream, StreamError>;
}

/// Go's `strconv.ParseBool`-free query boolean of the apiserver's parameter codec: present
/// means true unless it is "0" or "false" (any case).
fn query_bool(q: &Query, key: &str) -> bool {
    match q.get(key) {
        None => false,
        Some(v) => !(v == "0" || v.eq_ignore_ascii_case("false")),
    }
}

fn query_int(q: &Query, key: &str) -> Result<Option<i64>, StatusError> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| StatusError::bad_request(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))),
    }
}

fn query_time(q: &Query, key: &str) -> Result<Option<jiff::Timestamp>, StatusError> {
    match q.get(key) {
        None | Some("") | Some("null") => Ok(None),
        Some(v) => v.parse::<jiff::Timestamp>().map(Some).map_err(|_| {
            StatusError::bad_request(format!(r#"parsing time {v:?} as "2006-01-02T15:04:05Z07:00": cannot parse {v:?} as "2006""#))
        }),
    }
}

/// One field error of `PodLogOptions` validation: (field, reason, body).
type FieldErr = (&'static str, &'static str, String);

/// 422 `PodLogOptions "name" is invalid: ...`, worded as the apiserver's `NewInvalid`.
fn invalid(name: &str, errs: &[FieldErr]) -> StatusError {
    let parts: Vec<String> = errs.iter().map(|(f, _, body)| format!("{f}: {body}")).collect();
    let msg = match parts.len() {
        1 => format!("PodLogOptions \"{name}\" is invalid: {}", parts[0]),
        _ => format!("PodLogOptions \"{name}\" is invalid: [{}]", parts.join(", ")),
    };
    let causes: Vec<Value> = errs.iter().map(|(f, reason, body)| json!({"reason": reason, "message": body, "field": f})).collect();
    StatusError::new(422, "Invalid", msg).with_details(json!({"name": name, "kind": "PodLogOptions", "causes": causes}))
}

impl LogOptions {
    /// Decodes the query (400 on a value that does not parse) and validates it as the
    /// apiserver's `ValidatePodLogOptions` (422). `now` anchors sinceSeconds.
    pub fn parse(q: &Query, name: &str, now: jiff::Timestamp) -> Result<LogOptions, StatusError> {
        let tail_lines = query_int(q, "tailLines")?;
        let limit_bytes = query_int(q, "limitBytes")?;
        let since_seconds = query_int(q, "sinceSeconds")?;
        let since_time = query_time(q, "sinceTime")?;
        let mut errs: Vec<FieldErr> = Vec::new();
        if let Some(t) = tail_lines.filter(|t| *t < 0) {
            errs.push(("tailLines", "FieldValueInvalid", format!("Invalid value: {t}: must be greater than or equal to 0")));
        }
        if let Some(b) = limit_bytes.filter(|b| *b < 1) {
            errs.push(("limitBytes", "FieldValueInvalid", format!("Invalid value: {b}: must be greater than 0")));
        }
        match (since_seconds, since_time) {
            (Some(_), Some(_)) => errs.push((
                "",
                "FieldValueForbidden",
                "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified".to_string(),
            )),
            (Some(s), None) if s < 1 => {
                errs.push(("sinceSeconds", "FieldValueInvalid", format!("Invalid value: {s}: must be greater than 0")))
            }
            _ => {}
        }
        if !errs.is_empty() {
            return Err(invalid(name, &errs));
        }
        let from_seconds = since_seconds.and_then(|s| now.checked_sub(jiff::SignedDuration::from_secs(s)).ok());
        Ok(LogOptions {
            container: q.get("container").unwrap_or("").to_string(),
            follow: query_bool(q, "follow"),
            previous: query_bool(q, "previous"),
            since: from_seconds.max(since_time),
            timestamps: query_bool(q, "timestamps"),
            tail_lines,
            limit_bytes,
        })
    }
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The apiserver's choice of container: the one asked for if the pod has it (init and
/// ephemeral containers count), else the only container, else a 400 naming the choices.
pub fn pick_container(pod: &Value, requested: &str) -> Result<String, StatusError> {
    let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let regular = names(pod, "containers");
    let all: Vec<String> =
        names(pod, "initContainers").into_iter().chain(regular.iter().cloned()).chain(names(pod, "ephemeralContainers")).collect();
    if !requested.is_empty() {
        if all.iter().any(|c| c == requested) {
            return Ok(requested.to_string());
        }
        return Err(StatusError::bad_request(format!("container {requested} is not valid for pod {name}")));
    }
    match regular.len() {
        1 => Ok(regular[0].clone()),
        0 => Err(StatusError::bad_request(format!("a container name must be specified for pod {name}"))),
        _ => Err(StatusError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            all.join(" ")
        ))),
    }
}

/// A `text/plain` response streaming `chunks` (chunked), ended early at server shutdown.
fn text_stream(state: &ApiState, chunks: LogStream) -> Result<Response<Body>, StatusError> {
    let shutdown = state.shutdown.clone();
    let stream = futures::stream::unfold((chunks, shutdown), |(mut rx, shutdown)| async move {
        let next = tokio::select! {
            _ = shutdown.cancelled() => None,
            b = rx.recv() => b,
        };
        next.map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), (rx, shutdown)))
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("cache-control", "no-cache, private")
        .body(StreamBody::new(stream).boxed())
        .map_err(StatusError::internal)
}

/// Serves `pods/log` for `pod` (already fetched). `Ok(None)`: no node here serves the pod's
/// node (a simulated node), and the caller answers as for a container that never started.
pub fn serve_log(state: &ApiState, pod: &Value, mut opts: LogOptions) -> Result<Option<Response<Body>>, StatusError> {
    opts.container = pick_container(pod, &opts.container)?;
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    if node.is_empty() {
        // Not scheduled yet: the apiserver has no location and streams nothing.
        let (_, rx) = mpsc::channel(1);
        return text_stream(state, rx).map(Some);
    }
    let Some(logs) = state.pod_logs.get().filter(|l| l.node_name() == node) else { return Ok(None) };
    let typed: Pod = serde_json::from_value(pod.clone()).map_err(StatusError::internal)?;
    let _span = tracing::debug_span!("pod_logs", pod = typed.metadata.name.as_deref().unwrap_or(""), container = %opts.container).entered();
    let rx = logs.logs(&typed, &opts)?;
    text_stream(state, rx).map(Some)
}

/// Registers the node that serves pod logs (once; a second registration is ignored).
pub fn register_pod_logs(state: &ApiState, logs: Arc<dyn PodLogs>) {
    if state.pod_logs.set(logs).is_err() {
        tracing::warn!("a pod log source is already registered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2025-01-02T03:04:05Z".parse().expect("time")
    }

    fn parse(q: &str) -> Result<LogOptions, StatusError> {
        LogOptions::parse(&Query::parse(Some(q)), "p", now())
    }

    #[test]
    fn options_parse_like_the_parameter_codec() {
        let o = parse("container=c&follow=true&previous=1&timestamps=&tailLines=2&limitBytes=10&sinceSeconds=60").expect("ok");
        assert_eq!(o.container, "c");
        assert!(o.follow && o.previous && o.timestamps);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(2), Some(10)));
        assert_eq!(o.since, Some("2025-01-02T03:03:05Z".parse().expect("time")));
        let o = parse("follow=false&previous=0&timestamps=FALSE").expect("ok");
        assert!(!o.follow && !o.previous && !o.timestamps);
        let o = parse("sinceTime=2025-01-01T00:00:00Z").expect("ok");
        assert_eq!(o.since, Some("2025-01-01T00:00:00Z".parse().expect("time")));
    }

    #[test]
    fn bad_values_are_400_and_invalid_ones_422() {
        let e = parse("tailLines=abc").expect_err("bad");
        assert_eq!((e.code, e.message.as_str()), (400, "strconv.ParseInt: parsing \"abc\": invalid syntax"));
        let e = parse("tailLines=-1").expect_err("invalid");
        assert_eq!(e.code, 422);
        assert_eq!(e.message, "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0");
        let e = parse("limitBytes=0&sinceSeconds=0").expect_err("invalid");
        assert_eq!(
            e.message,
            "PodLogOptions \"p\" is invalid: [limitBytes: Invalid value: 0: must be greater than 0, sinceSeconds: Invalid value: 0: must be greater than 0]"
        );
        let e = parse("sinceSeconds=5&sinceTime=2025-01-01T00:00:00Z").expect_err("invalid");
        assert_eq!(e.message, "PodLogOptions \"p\" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified");
    }

    #[test]
    fn container_choice_follows_the_apiserver() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        assert_eq!(pick_container(&one, "").expect("only"), "a");
        let e = pick_container(&one, "x").expect_err("unknown");
        assert_eq!((e.code, e.message.as_str()), (400, "container x is not valid for pod p"));
        let two = json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(pick_container(&two, "i").expect("init"), "i");
        let e = pick_container(&two, "").expect_err("ambiguous");
        assert_eq!(e.message, "a container name must be specified for pod p, choose one of: [i a b]");
    }
}
