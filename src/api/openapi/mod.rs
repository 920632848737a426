//! The OpenAPI documents of the served API, as a 1.33 kube-apiserver serves them:
//! `/openapi/v2` (one Swagger 2.0 document), `/openapi/v3` (the index of group-versions with
//! hashed URLs) and `/openapi/v3/<api|apis/group/version|…>` (one OpenAPI 3.0 document each).
//! Built once, on first use, from k8s-openapi's schemas and `registry::all()`; afterwards
//! every request is served from the kept bytes. kubectl reads them to validate
//! (`fieldValidation` on PATCH), to explain fields and to build strategic merge patches.

pub mod facts;
pub mod operations;
pub mod proto;
pub mod render;
pub mod schemas;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::request::Query;
use super::{error_response, full, Body};
use crate::registry;
use crate::registry::status::StatusError;
use operations::PathItem;

/// One serialized document and the hash its URL advertises.
pub struct Doc {
    pub bytes: Bytes,
    /// Upper-case hex, as upstream writes its hashes; also the ETag.
    pub hash: String,
}

impl Doc {
    fn new(v: &Value) -> Doc {
        Doc::from_bytes(serde_json::to_vec(v).unwrap_or_default())
    }
    fn from_bytes(bytes: Vec<u8>) -> Doc {
        let hash = hash_hex(&bytes);
        Doc { bytes: Bytes::from(bytes), hash }
    }
}

/// Every document, serialized.
pub struct Documents {
    pub v2: Doc,
    /// The same document as gnostic's `openapi.v2.Document` protobuf.
    pub v2_protobuf: Doc,
    /// `/openapi/v3`: `{"paths": {"api/v1": {"serverRelativeURL": …}, …}}`.
    pub v3_root: Doc,
    /// "api", "api/v1", "apis", "apis/apps", "apis/apps/v1", …, "version".
    pub v3: BTreeMap<String, Doc>,
    /// How long building took.
    pub build_time: std::time::Duration,
}

static DOCUMENTS: OnceLock<Documents> = OnceLock::new();

/// The documents, built on first use.
pub fn documents() -> &'static Documents {
    DOCUMENTS.get_or_init(build)
}

/// Builds the documents on a background thread so the first request finds them ready
/// (about 0.1 s of one core in a release build); safe to call any number of times. For the
/// supervisor to call once the API serves, so start-up never waits for it.
pub fn warm() {
    if DOCUMENTS.get().is_none() {
        let _ = std::thread::Builder::new().name("openapi-build".into()).spawn(|| {
            documents();
        });
    }
}

/// Served group-versions: core first, then the groups in discovery order.
fn group_versions() -> Vec<(String, String)> {
    let mut out = vec![(String::new(), "v1".to_string())];
    for (g, versions) in super::discovery::group_versions() {
        for v in versions {
            out.push((g.clone(), v));
        }
    }
    out.retain(|(g, v)| registry::all().iter().any(|d| d.group == g && d.version == v));
    out
}

/// The v3 documents' paths, by document key, and every path for v2.
fn document_paths(defs: &schemas::Definitions) -> (BTreeMap<String, Vec<PathItem>>, Vec<PathItem>) {
    let mut docs: BTreeMap<String, Vec<PathItem>> = BTreeMap::new();
    docs.insert(
        "api".into(),
        vec![operations::discovery_path(
            "/api/",
            "getCoreAPIVersions",
            "get available API versions",
            "core",
            schemas::API_VERSIONS,
        )],
    );
    docs.insert(
        "apis".into(),
        vec![operations::discovery_path(
            "/apis/",
            "getAPIVersions",
            "get available API versions",
            "apis",
            schemas::API_GROUP_LIST,
        )],
    );
    docs.insert(
        "version".into(),
        vec![operations::discovery_path(
            "/version/",
            "getCodeVersion",
            "get the version information for this server",
            "version",
            schemas::VERSION_INFO,
        )],
    );
    for (g, v) in group_versions() {
        if !g.is_empty() && !docs.contains_key(&format!("apis/{g}")) {
            let camel = operations::group_camel(&g);
            let tag = operations::group_tag(&g);
            docs.insert(
                format!("apis/{g}"),
                vec![operations::discovery_path(
                    &format!("/apis/{g}/"),
                    &format!("get{camel}APIGroup"),
                    "get information of a group",
                    &tag,
                    schemas::API_GROUP,
                )],
            );
        }
        let key = operations::gv_prefix(&g, &v).trim_start_matches('/').to_string();
        docs.insert(key, operations::group_version_paths(defs, &g, &v));
    }
    let all: Vec<PathItem> = docs.values().flatten().cloned().collect();
    (docs, all)
}

fn build() -> Documents {
    let started = Instant::now();
    let defs = schemas::build();
    let (docs, all) = document_paths(&defs);
    let (v2_json, v2_protobuf) = render::v2_document(&defs, &all);
    let (v2, v2_protobuf) = (Doc::from_bytes(v2_json), Doc::from_bytes(v2_protobuf));
    let v3_defs = render::v3_definitions(&defs);
    let mut v3 = BTreeMap::new();
    let mut root = Map::new();
    for (key, paths) in docs {
        let doc = Doc::from_bytes(render::v3_document(&defs, &v3_defs, &paths));
        root.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.hash)}));
        v3.insert(key, doc);
    }
    let v3_root = Doc::new(&json!({"paths": root}));
    let build_time = started.elapsed();
    tracing::debug!(ms = build_time.as_millis() as u64, v2_bytes = v2.bytes.len(), "built the OpenAPI documents");
    Documents { v2, v2_protobuf, v3_root, v3, build_time }
}

/// A stable 128-bit hash of a document, as 32 upper-case hex digits: two FNV-1a lanes with
/// different offsets, each finished with a 64-bit mixer.
pub fn hash_hex(bytes: &[u8]) -> String {
    fn lane(bytes: &[u8], offset: u64) -> u64 {
        let mut h = offset;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= bytes.len() as u64;
        // splitmix64 finalizer
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
    format!("{:016X}{:016X}", lane(bytes, 0xcbf2_9ce4_8422_2325), lane(bytes, 0x6c62_272e_07bb_0142))
}

/// Media type of the v2 document in protobuf; clients ask for it under the older name too.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
const V2_PROTOBUF_DEPRECATED: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Protobuf,
}

/// The first media range of the Accept header this document can be served as (JSON for
/// `*/*` and for no Accept at all), as kube-openapi negotiates; `protobuf` says whether the
/// document has a protobuf form.
fn negotiate(headers: &HeaderMap, protobuf: bool) -> Option<Encoding> {
    let Some(accept) = headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Encoding::Json);
    };
    if accept.trim().is_empty() {
        return Some(Encoding::Json);
    }
    accept.split(',').find_map(|range| {
        let media = range.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json" | "application/*" | "*/*" => Some(Encoding::Json),
            V2_PROTOBUF | V2_PROTOBUF_DEPRECATED if protobuf => Some(Encoding::Protobuf),
            _ => None,
        }
    })
}

fn etag_matches(headers: &HeaderMap, hash: &str) -> bool {
    headers
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/").trim_matches('"') == hash))
        .unwrap_or(false)
}

fn respond(doc: &Doc, content_type: &str, headers: &HeaderMap, immutable: bool) -> Response<Body> {
    let mut b = Response::builder().header("etag", format!("\"{}\"", doc.hash)).header("vary", "Accept");
    if immutable {
        let expires = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 365))
            .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
            .unwrap_or_default();
        b = b.header("cache-control", "public, immutable").header("expires", expires);
    } else {
        b = b.header("cache-control", "no-cache, private");
    }
    let resp = if etag_matches(headers, &doc.hash) {
        b.status(StatusCode::NOT_MODIFIED).body(full(Bytes::new()))
    } else {
        b.status(StatusCode::OK).header("content-type", content_type).body(full(doc.bytes.clone()))
    };
    resp.unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// Serves `/openapi/v2`, `/openapi/v3` and `/openapi/v3/<document>` (`path` without a
/// trailing slash). A `hash` that is not the document's current one is redirected to the
/// current URL, as kube-openapi does.
pub fn serve(path: &str, query: &Query, headers: &HeaderMap) -> Response<Body> {
    let not_acceptable = |accepted: &str| error_response(&StatusError::not_acceptable(accepted), false);
    let docs = documents();
    if path == "/openapi/v2" {
        return match negotiate(headers, true) {
            Some(Encoding::Json) => respond(&docs.v2, "application/json", headers, false),
            Some(Encoding::Protobuf) => respond(&docs.v2_protobuf, V2_PROTOBUF, headers, false),
            None => not_acceptable(&format!("application/json, {V2_PROTOBUF}")),
        };
    }
    if negotiate(headers, false).is_none() {
        return not_acceptable("application/json");
    }
    if path == "/openapi/v3" {
        return respond(&docs.v3_root, "application/json", headers, false);
    }
    let key = path.strip_prefix("/openapi/v3/").unwrap_or("");
    let Some(doc) = docs.v3.get(key) else {
        return error_response(&StatusError::not_found_path(), false);
    };
    match query.get("hash") {
        Some(h) if h == doc.hash => respond(doc, "application/json", headers, true),
        Some(_) => Response::builder()
            .status(StatusCode::MOVED_PERMANENTLY)
            .header("location", format!("/openapi/v3/{key}?hash={}", doc.hash))
            .body(full(Bytes::new()))
            .unwrap_or_else(|_| Response::new(full(Bytes::new()))),
        None => respond(doc, "application/json", headers, false),
    }
}

#[cfg(test)]
mod tests;
