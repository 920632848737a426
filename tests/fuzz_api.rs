//! Random and mutated bodies and patches through the HTTP API: every answer is a Status or an
//! object (never a 5xx, a hang or a dropped connection), and the store stays intact.
mod common;
use common::*;
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SEEDS: &[(&str, &str)] = &[
    ("/api/v1/namespaces/default/configmaps", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fz","labels":{"a":"b"}},"data":{"k":"v"}}"#),
    ("/apis/apps/v1/namespaces/default/deployments", r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"fz"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"fz"}},"template":{"metadata":{"labels":{"app":"fz"}},"spec":{"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80}],"env":[{"name":"A","value":"1"}]}]}}}}"#),
    ("/api/v1/namespaces/default/services", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"fz"},"spec":{"selector":{"app":"fz"},"ports":[{"port":80,"targetPort":8080}]}}"#),
    ("/api/v1/namespaces/default/pods", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"fz"},"spec":{"containers":[{"name":"c","image":"busybox","command":["sleep","1"]}]}}"#),
    ("/api/v1/namespaces", r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"fz"}}"#),
    ("/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers", r#"{"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"fz"},"spec":{"scaleTargetRef":{"kind":"Deployment","name":"fz","apiVersion":"apps/v1"},"maxReplicas":3}}"#),
];

const PATCH_TYPES: &[&str] = &[
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/json",
    "application/vnd.kubernetes.protobuf",
    "text/plain",
];

fn random_json(r: &mut Rng, depth: usize) -> serde_json::Value {
    use serde_json::json;
    match if depth > 3 { r.below(5) } else { r.below(8) } {
        0 => json!(null),
        1 => json!(r.below(2) == 0),
        2 => json!(r.next() as i64),
        3 => json!(r.pick(&["", "x", "Foo_Bar", "$patch", "delete", "🦀", "\u{0}", "1e999", "-1"]).to_string()),
        4 => json!(f64::from_bits(r.next() & 0x7fef_ffff_ffff_ffff)),
        5 => serde_json::Value::Array((0..r.below(4)).map(|_| random_json(r, depth + 1)).collect()),
        _ => {
            let keys = ["metadata", "name", "spec", "status", "replicas", "containers", "$patch", "$setElementOrder/containers", "data", "labels", "op", "path", "value", "kind", "apiVersion", "resourceVersion", "selector", "ports"];
            let mut m = serde_json::Map::new();
            for _ in 0..r.below(5) {
                m.insert(r.pick(&keys).to_string(), random_json(r, depth + 1));
            }
            serde_json::Value::Object(m)
        }
    }
}

/// Changes one value somewhere in a JSON document.
fn mutate_json(r: &mut Rng, v: &mut serde_json::Value, depth: usize) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() && r.below(3) != 0 => {
            let k = m.keys().nth(r.below(m.len())).cloned().unwrap_or_default();
            if let Some(child) = m.get_mut(&k) {
                mutate_json(r, child, depth + 1);
            }
        }
        serde_json::Value::Array(a) if !a.is_empty() && r.below(3) != 0 => {
            let i = r.below(a.len());
            mutate_json(r, &mut a[i], depth + 1);
        }
        _ => *v = random_json(r, depth),
    }
}

fn mutate_bytes(r: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + r.below(4) {
        if b.is_empty() {
            break;
        }
        let i = r.below(b.len());
        match r.below(4) {
            0 => b[i] = r.next() as u8,
            1 => {
                b.remove(i);
            }
            2 => b.insert(i, *r.pick(b"{}[]\",:\\0123456789ntf")),
            _ => b.truncate(i),
        }
    }
    b
}

async fn send(client: &kube::Client, method: &str, uri: &str, ct: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .header("accept", "application/json")
        .body(body)
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(10), client.send(req.map(kube::client::Body::from)))
        .await
        .unwrap_or_else(|_| panic!("{method} {uri} hung"))
        .unwrap_or_else(|e| panic!("{method} {uri}: connection failed: {e}"));
    let status = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.map(|c| c.to_bytes().to_vec()).unwrap_or_default();
    (status, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_bodies_never_break_the_server() {
    let s = Server::start();
    let client = s.kube_client().await;
    // A sentinel that must come through untouched.
    s.ok_stdin(&["create", "--validate=false", "-f", "-"], r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sentinel"},"data":{"keep":"me"}}"#);
    let sentinel_before = s.ok(&["get", "cm", "sentinel", "-o", "json"]);

    let seed = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9e3779b97f4a7c15u64);
    let budget = Duration::from_secs(std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20));
    let mut r = Rng(seed);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut codes = std::collections::BTreeMap::new();
    while started.elapsed() < budget && sent < 20_000 {
        let (collection, body) = *r.pick(SEEDS);
        let mut doc: serde_json::Value = serde_json::from_str(body).expect("seed JSON");
        let named = format!("{collection}/fz");
        let (method, uri, ct, bytes) = match r.below(6) {
            0 => {
                mutate_json(&mut r, &mut doc, 0);
                ("POST", collection.to_string(), "application/json", serde_json::to_vec(&doc).expect("json"))
            }
            1 => ("POST", collection.to_string(), *r.pick(PATCH_TYPES), mutate_bytes(&mut r, body.as_bytes().to_vec())),
            2 => {
                mutate_json(&mut r, &mut doc, 0);
                ("PUT", named, "application/json", serde_json::to_vec(&doc).expect("json"))
            }
            3 => {
                let patch = random_json(&mut r, 0);
                ("PATCH", format!("{named}{}", r.pick(&["", "/status", "/scale"])), *r.pick(PATCH_TYPES), serde_json::to_vec(&patch).expect("json"))
            }
            4 => {
                let ops = serde_json::json!([{"op": r.pick(&["add", "remove", "replace", "move", "copy", "test", "bogus"]).to_string(),
                    "path": r.pick(&["/spec/replicas", "/metadata/labels/x", "/data/k", "/spec/template/spec/containers/0", "/nope/deep", "", "/metadata/name"]).to_string(),
                    "value": random_json(&mut r, 2), "from": "/metadata/labels"}]);
                ("PATCH", named, "application/json-patch+json", serde_json::to_vec(&ops).expect("json"))
            }
            _ => {
                let mut junk = vec![0u8; r.below(64)];
                for b in junk.iter_mut() {
                    *b = r.next() as u8;
                }
                junk.splice(0..0, b"k8s\0".iter().copied().take(r.below(5)));
                ("POST", collection.to_string(), "application/vnd.kubernetes.protobuf", junk)
            }
        };
        let (code, resp) = send(&client, method, &uri, ct, bytes.clone()).await;
        assert!(
            code < 500,
            "seed {seed}: {method} {uri} ({ct}) answered {code}: {}\nbody sent: {}",
            String::from_utf8_lossy(&resp),
            String::from_utf8_lossy(&bytes)
        );
        let parsed: serde_json::Value = serde_json::from_slice(&resp)
            .unwrap_or_else(|e| panic!("seed {seed}: {method} {uri} answered {code} with a body that is not JSON ({e}): {}", String::from_utf8_lossy(&resp)));
        if code >= 400 {
            assert_eq!(parsed["kind"], "Status", "{method} {uri}: errors are Status objects: {parsed}");
            assert_eq!(parsed["code"], code, "{parsed}");
        }
        *codes.entry(code).or_insert(0usize) += 1;
        sent += 1;
        // Clean up what got created so later requests keep hitting the create path too.
        if r.below(8) == 0 {
            for (c, _) in SEEDS {
                let _ = send(&client, "DELETE", &format!("{c}/fz"), "application/json", Vec::new()).await;
            }
        }
    }
    eprintln!("fuzz: {sent} requests in {:?}, codes {codes:?}", started.elapsed());
    assert!(sent > 200, "too few requests to mean anything: {sent}");
    assert!(codes.keys().any(|c| *c >= 400) && codes.keys().any(|c| *c < 300), "both successes and errors expected: {codes:?}");

    // Intact: the server answers, the sentinel is unchanged, every stored object lists cleanly.
    assert_eq!(s.ok(&["get", "--raw", "/readyz"]).trim(), "ok");
    assert_eq!(s.ok(&["get", "cm", "sentinel", "-o", "json"]), sentinel_before);
    for kind in ["configmaps", "deployments", "services", "pods", "namespaces", "hpa"] {
        s.ok(&["get", kind, "-A", "-o", "json"]);
    }
}
