//! Parses a request path and query into Kubernetes' request info: API prefix, group,
//! version, namespace, resource, name, subresource and verb (as RequestInfoFactory does).

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path that names no resource: /version, /healthz, /api, /apis/apps, ...
    NonResource,
    Resource(ResourceRequest),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceRequest {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
}

/// Query parameters, decoded (last value wins, as Go's url.Values.Get takes the first — we
/// keep the first to match).
#[derive(Debug, Default, Clone)]
pub struct Query {
    map: HashMap<String, String>,
}

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode(k);
            let v = decode(v);
            map.entry(k).or_insert(v);
        }
        Query { map }
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true") | Some("1") | Some("True"))
    }
    pub fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }
    /// A copy with `k` set to `v`.
    pub fn with(&self, k: &str, v: &str) -> Query {
        let mut q = self.clone();
        q.map.insert(k.to_string(), v.to_string());
        q
    }
}

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Splits a path into its request info. Returns None for a path under /api or /apis that is
/// malformed (404).
pub fn parse(method: &http::Method, path: &str, query: &Query) -> Target {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Target::NonResource,
    };
    let mut rest: Vec<&str> = rest.to_vec();
    let mut watch_path = false;
    if rest.first() == Some(&"watch") {
        watch_path = true;
        rest.remove(0);
    }
    let mut req = ResourceRequest { group: group.to_string(), version: version.to_string(), ..Default::default() };
    if rest.first() == Some(&"namespaces") {
        if rest.len() >= 3 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            req.namespace = Some(rest[1].to_string());
            rest.drain(0..2);
        } else {
            // /namespaces, /namespaces/{name}, /namespaces/{name}/status
        }
    }
    req.resource = rest.first().map(|s| s.to_string()).unwrap_or_default();
    req.name = rest.get(1).map(|s| s.to_string());
    req.subresource = rest.get(2).map(|s| s.to_string());
    if rest.len() > 3 && req.subresource.as_deref() != Some("proxy") {
        req.resource.clear(); // too deep: not a resource path
    }
    let is_watch = watch_path || query.flag("watch");
    req.verb = match *method {
        http::Method::GET | http::Method::HEAD => {
            if is_watch {
                "watch"
            } else if req.name.is_none() {
                "list"
            } else {
                "get"
            }
        }
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => {
            if req.name.is_none() {
                "deletecollection"
            } else {
                "delete"
            }
        }
        _ => "",
    }
    .to_string();
    // A watch on a single object is a watch on the collection with a name field selector.
    Target::Resource(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(m: http::Method, path: &str) -> ResourceRequest {
        match parse(&m, path, &Query::parse(None)) {
            Target::Resource(r) => r,
            _ => panic!("not a resource path: {path}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let r = p(http::Method::GET, "/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!((r.group.as_str(), r.namespace.as_deref(), r.resource.as_str()), ("apps", Some("default"), "deployments"));
        assert_eq!((r.name.as_deref(), r.subresource.as_deref(), r.verb.as_str()), (Some("web"), Some("scale"), "get"));
        let r = p(http::Method::GET, "/api/v1/namespaces/kube-system");
        assert_eq!((r.resource.as_str(), r.name.as_deref(), r.namespace), ("namespaces", Some("kube-system"), None));
        let r = p(http::Method::PUT, "/api/v1/namespaces/foo/finalize");
        assert_eq!((r.resource.as_str(), r.name.as_deref(), r.subresource.as_deref()), ("namespaces", Some("foo"), Some("finalize")));
        let r = p(http::Method::GET, "/api/v1/pods");
        assert_eq!((r.resource.as_str(), r.verb.as_str(), r.namespace), ("pods", "list", None));
        let r = p(http::Method::DELETE, "/api/v1/namespaces/default/configmaps");
        assert_eq!(r.verb, "deletecollection");
        let r = p(http::Method::GET, "/api/v1/watch/namespaces/default/pods");
        assert_eq!((r.verb.as_str(), r.namespace.as_deref()), ("watch", Some("default")));
        assert_eq!(parse(&http::Method::GET, "/apis/apps/v1", &Query::parse(None)), Target::NonResource);
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&limit=500"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("limit"), Some("500"));
    }
}
