//! The documents as kubectl reads them: the PATCH operation with the group-version-kind and
//! `fieldValidation` (server-side validation), schemas with their kinds (explain), refs that
//! resolve, and the hashed URLs of the v3 index.

use super::*;
use crate::registry::ResourceDef;

fn parse(doc: &Doc) -> Value {
    serde_json::from_slice(&doc.bytes).expect("a document is JSON")
}

fn v3(key: &str) -> Value {
    parse(&documents().v3[key])
}

fn doc_key(def: &ResourceDef) -> String {
    operations::gv_prefix(def.group, def.version).trim_start_matches('/').to_string()
}

/// kubectl's condition for `fieldValidation=Strict` (cli-runtime query_param_verifier_v3):
/// some PATCH operation carries the kind's group-version-kind and a `fieldValidation`
/// query parameter.
fn supports_field_validation(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
    let want = json!({"group": group, "kind": kind, "version": version});
    doc["paths"].as_object().unwrap().values().any(|p| {
        let Some(op) = p.get("patch") else { return false };
        op["x-kubernetes-group-version-kind"] == want
            && op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query"))
    })
}

#[test]
fn apps_v1_patches_deployments_with_field_validation() {
    let doc = v3("apis/apps/v1");
    assert_eq!(doc["openapi"], "3.0.0");
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    let names: Vec<&str> =
        patch["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dryRun", "fieldManager", "fieldValidation", "force"]);
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    assert!(supports_field_validation(&doc, "apps", "v1", "Deployment"));
    let post = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["post"];
    assert!(post["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
}

#[test]
fn every_served_kind_supports_server_side_validation() {
    for def in registry::all() {
        if def.verbs.contains(&"patch") {
            let doc = v3(&doc_key(def));
            assert!(supports_field_validation(&doc, def.group, def.version, def.kind), "{}", def.qualified());
        }
    }
}

fn check_refs(doc: &Value, prefix: &str, table: &Map<String, Value>, what: &str) {
    let mut refs = Vec::new();
    schemas::refs_in(doc, "", &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.strip_prefix(prefix).unwrap_or_else(|| panic!("{what}: foreign ref {r}"));
        assert!(table.contains_key(name), "{what}: {r} does not resolve");
    }
}

#[test]
fn every_ref_resolves_inside_its_document() {
    let docs = documents();
    let v2 = parse(&docs.v2);
    check_refs(&v2, "#/definitions/", v2["definitions"].as_object().unwrap(), "v2");
    for key in docs.v3.keys() {
        let doc = v3(key);
        check_refs(&doc, render::V3_PREFIX, doc["components"]["schemas"].as_object().unwrap(), key);
    }
}

fn has_gvk(schema: &Value, group: &str, version: &str, kind: &str) -> bool {
    let want = json!({"group": group, "kind": kind, "version": version});
    schema["x-kubernetes-group-version-kind"].as_array().is_some_and(|a| a.contains(&want))
}

#[test]
fn every_served_kind_has_a_schema_with_its_group_version_kind() {
    let v2 = parse(&documents().v2);
    for def in registry::all() {
        let doc = v3(&doc_key(def));
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(
            schemas.values().any(|s| has_gvk(s, def.group, def.version, def.kind)),
            "v3 {} has no schema for {}",
            doc_key(def),
            def.kind
        );
        let list = format!("{}List", def.kind);
        assert!(schemas.values().any(|s| has_gvk(s, def.group, def.version, &list)), "{list}");
        let defs = v2["definitions"].as_object().unwrap();
        assert!(defs.values().any(|s| has_gvk(s, def.group, def.version, def.kind)), "v2 {}", def.kind);
    }
}

#[test]
fn explain_finds_field_docs_through_all_of() {
    let doc = v3("apis/apps/v1");
    let s = &doc["components"]["schemas"];
    let spec = &s["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(spec["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy");
    assert!(spec["description"].as_str().unwrap().contains("deployment strategy"));
    assert_eq!(spec["x-kubernetes-patch-strategy"], "retainKeys");
    let strategy = &s["io.k8s.api.apps.v1.DeploymentStrategy"];
    assert!(strategy["properties"]["rollingUpdate"].is_object());
    let containers = &s["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Container");
    let int_or_string = &s["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(int_or_string["format"], "int-or-string");
    assert_eq!(int_or_string["oneOf"], json!([{"type": "integer"}, {"type": "string"}]));
    assert!(int_or_string.get("type").is_none());
    let v2 = parse(&documents().v2);
    assert_eq!(v2["definitions"]["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"], "string");
}

#[test]
fn the_index_lists_every_document_under_its_hash() {
    let docs = documents();
    let root = parse(&docs.v3_root);
    let paths = root["paths"].as_object().unwrap();
    for key in
        ["api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/autoscaling/v2", "apis/autoscaling/v1", "version"]
    {
        let url = paths[key]["serverRelativeURL"].as_str().unwrap_or_else(|| panic!("{key} not listed"));
        assert_eq!(url, format!("/openapi/v3/{key}?hash={}", docs.v3[key].hash));
    }
    for def in registry::all() {
        assert!(paths.contains_key(&doc_key(def)), "{}", doc_key(def));
    }
    assert_eq!(paths.len(), docs.v3.len());
    assert_eq!(hash_hex(b"x"), hash_hex(b"x"));
    assert_ne!(hash_hex(b"x"), hash_hex(b"y"));
    assert_eq!(hash_hex(b"").len(), 32);
}

#[test]
fn serving_honours_hash_etag_and_accept() {
    let docs = documents();
    let doc = &docs.v3["apis/apps/v1"];
    let none = HeaderMap::new();
    let hashed = serve("/openapi/v3/apis/apps/v1", &Query::parse(Some(&format!("hash={}", doc.hash))), &none);
    assert_eq!(hashed.status(), 200);
    assert_eq!(hashed.headers()["cache-control"], "public, immutable");
    assert_eq!(hashed.headers()["etag"], format!("\"{}\"", doc.hash));
    assert_eq!(hashed.headers()["content-type"], "application/json");
    let stale = serve("/openapi/v3/apis/apps/v1", &Query::parse(Some("hash=00")), &none);
    assert_eq!(stale.status(), 301);
    assert_eq!(stale.headers()["location"], format!("/openapi/v3/apis/apps/v1?hash={}", doc.hash));
    let mut cached = HeaderMap::new();
    cached.insert("if-none-match", format!("\"{}\"", doc.hash).parse().unwrap());
    assert_eq!(serve("/openapi/v3/apis/apps/v1", &Query::parse(None), &cached).status(), 304);
    assert_eq!(serve("/openapi/v3/apis/nope/v1", &Query::parse(None), &none).status(), 404);
    assert_eq!(serve("/openapi/v2", &Query::parse(None), &none).status(), 200);
    assert_eq!(serve("/openapi/v3", &Query::parse(None), &none).status(), 200);
    let mut pb = HeaderMap::new();
    pb.insert("accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf".parse().unwrap());
    let v2pb = serve("/openapi/v2", &Query::parse(None), &pb);
    assert_eq!(v2pb.status(), 200);
    assert_eq!(v2pb.headers()["content-type"], V2_PROTOBUF);
    assert_eq!(v2pb.headers()["etag"], format!("\"{}\"", docs.v2_protobuf.hash));
    assert_eq!(serve("/openapi/v3", &Query::parse(None), &pb).status(), 406);
    let mut yaml = HeaderMap::new();
    yaml.insert("accept", "application/yaml".parse().unwrap());
    assert_eq!(serve("/openapi/v2", &Query::parse(None), &yaml).status(), 406);
    let mut kubectl = HeaderMap::new();
    kubectl.insert("accept", "application/json, */*".parse().unwrap());
    assert_eq!(serve("/openapi/v3", &Query::parse(None), &kubectl).status(), 200);
}

#[test]
fn documents_are_built_once_and_report_their_size() {
    let docs = documents();
    let v3_total: usize = docs.v3.values().map(|d| d.bytes.len()).sum();
    eprintln!(
        "openapi: built in {:?}; v2 {} bytes JSON, {} bytes protobuf; v3 {} documents, {} bytes in all \
         (apps/v1 {}, api/v1 {})",
        docs.build_time,
        docs.v2.bytes.len(),
        docs.v2_protobuf.bytes.len(),
        docs.v3.len(),
        v3_total,
        docs.v3["apis/apps/v1"].bytes.len(),
        docs.v3["api/v1"].bytes.len()
    );
    assert!(std::ptr::eq(docs, documents()));
}
