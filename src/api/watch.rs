//! Watch over HTTP: a chunked stream of `{"type":…,"object":…}` lines, with Tables when asked,
//! bookmarks only when allowed, and the stream closed at `timeoutSeconds`.

use super::negotiate::{Accept, As, Format};
use super::request::Query;
use super::table::{self, IncludeObject};
use super::{ApiState, Body};
use crate::registry::generic::{WatchEvent, WatchOptions};
use crate::registry::status::StatusError;
use crate::registry::ResourceDef;
use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use rand::Rng;
use serde_json::{json, Value};
use std::time::Duration;

/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

pub async fn serve(
    state: &ApiState,
    def: &'static ResourceDef,
    ns: Option<&str>,
    q: &Query,
    accept: Accept,
    pretty: bool,
) -> Result<Response<Body>, StatusError> {
    let opts = WatchOptions {
        label_selector: q.get("labelSelector").map(str::to_string),
        field_selector: q.get("fieldSelector").map(str::to_string),
        resource_version: q.get("resourceVersion").map(str::to_string),
        send_initial_events: match q.get("sendInitialEvents") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        },
        allow_bookmarks: q.flag("allowWatchBookmarks"),
    };
    if opts.send_initial_events == Some(true) && q.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(StatusError::new(
            422,
            "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    let timeout = match q.get("timeoutSeconds").and_then(|s| s.parse::<u64>().ok()) {
        Some(t) if t > 0 => Duration::from_secs(t),
        _ => Duration::from_secs(rand::rng().random_range(1800..3600)),
    };
    let mut watch = state.registry.watch(def, ns, &opts).await?;
    let include = IncludeObject::parse(q.get("includeObject"));
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let shutdown = state.shutdown.clone();
    let allow_bookmarks = opts.allow_bookmarks;
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_INTERVAL, BOOKMARK_INTERVAL);
        let mut headers_sent = false;
        loop {
            let ev = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = &mut deadline => break,
                _ = tx.closed() => break,
                _ = bookmarks.tick(), if allow_bookmarks => WatchEvent::Bookmark { revision: watch.revision(), initial_end: false },
                ev = watch.next() => match ev {
                    Some(ev) => ev,
                    None => break,
                },
            };
            let is_error = matches!(ev, WatchEvent::Error(_));
            if let WatchEvent::Bookmark { .. } = ev {
                if !allow_bookmarks {
                    continue;
                }
            }
            let line = encode_event(def, &ev, accept, include, &mut headers_sent, pretty);
            if tx.send(line).await.is_err() {
                break;
            }
            if is_error {
                break;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
    });
    let body = StreamBody::new(stream).boxed();
    Ok(Response::builder()
        .status(200)
        .header("content-type", if accept.format == Format::Protobuf { super::protobuf::WATCH_CONTENT_TYPE } else { "application/json" })
        .header("cache-control", "no-cache, private")
        .body(body)
        .map_err(StatusError::internal)?)
}

fn encode_event(def: &ResourceDef, ev: &WatchEvent, accept: Accept, include: IncludeObject, headers_sent: &mut bool, pretty: bool) -> Bytes {
    let object = match ev {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => match accept.as_ {
            As::Object => o.clone(),
            As::PartialObjectMetadata => table::partial_metadata(o),
            As::Table => {
                let rv = o.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
                let t = table::table(def, std::slice::from_ref(o), json!({"resourceVersion": rv}), include, !*headers_sent);
                *headers_sent = true;
                t
            }
        },
        WatchEvent::Bookmark { revision, initial_end } => {
            let mut meta = json!({"resourceVersion": revision.to_string()});
            if *initial_end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": meta})
        }
        WatchEvent::Error(e) => e.to_status(),
    };
    if accept.format == Format::Protobuf {
        match super::protobuf::encode_watch_event(ev.type_name(), &object) {
            Ok(frame) => return Bytes::from(frame),
            Err(e) => tracing::warn!(error = %e, "could not encode a watch event as protobuf"),
        }
    }
    let line = json!({"type": ev.type_name(), "object": object});
    let mut out = if pretty { serde_json::to_vec_pretty(&line) } else { serde_json::to_vec(&line) }.unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}
