//! Content negotiation: which representation a client accepts (object, Table,
//! PartialObjectMetadata; JSON or YAML) and how request bodies are decoded.

use crate::registry::status::StatusError;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    /// Only for clients that accept nothing else.
    Protobuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    Object,
    Table,
    PartialObjectMetadata,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    pub format: Format,
    pub as_: As,
}

struct MediaType<'a> {
    essence: String,
    params: Vec<(&'a str, &'a str)>,
}

fn parse_media(s: &str) -> MediaType<'_> {
    let mut parts = s.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim(), v.trim().trim_matches('"')))
        })
        .collect();
    MediaType { essence, params }
}

impl MediaType<'_> {
    fn param(&self, k: &str) -> Option<&str> {
        self.params.iter().find(|(pk, _)| pk.eq_ignore_ascii_case(k)).map(|(_, v)| *v)
    }
}

/// Picks the first representation in the client's Accept list that we can produce.
pub fn accept(header: Option<&str>) -> Result<Accept, StatusError> {
    let header = header.unwrap_or("").trim();
    if header.is_empty() {
        return Ok(Accept { format: Format::Json, as_: As::Object });
    }
    let mut protobuf_only = false;
    for item in header.split(',') {
        let m = parse_media(item);
        let format = match m.essence.as_str() {
            "application/json" | "application/*" | "*/*" | "application/json-seq" => Format::Json,
            "application/yaml" => Format::Yaml,
            "application/vnd.kubernetes.protobuf" if m.param("as").is_none() => {
                protobuf_only = true;
                continue;
            }
            _ => continue,
        };
        let as_ = match (m.param("as"), m.param("g"), m.param("v")) {
            (None, _, _) => As::Object,
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => As::Table,
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                As::PartialObjectMetadata
            }
            _ => continue,
        };
        return Ok(Accept { format, as_ });
    }
    if protobuf_only {
        return Ok(Accept { format: Format::Protobuf, as_: As::Object });
    }
    Err(StatusError::not_acceptable("application/json, application/yaml, application/vnd.kubernetes.protobuf"))
}

/// Media types the API accepts for request bodies of create and update.
pub const BODY_TYPES: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];

/// Decodes a create/update body (JSON or YAML) into JSON.
pub fn decode_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, StatusError> {
    let essence = parse_media(content_type.unwrap_or("application/json")).essence;
    match essence.as_str() {
        "application/json" | "" => serde_json::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))),
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let v: serde_yaml::Value = serde_yaml::from_slice(body)
                .map_err(|e| StatusError::bad_request(format!("error converting YAML to JSON: yaml: {e}")))?;
            serde_json::to_value(v).map_err(|e| StatusError::bad_request(format!("error converting YAML to JSON: {e}")))
        }
        "application/vnd.kubernetes.protobuf" => match super::protobuf::decode(body) {
            Ok((_, _, obj)) => Ok(obj),
            Err(e) => Err(StatusError::bad_request(e.to_string())),
        },
        _ => Err(StatusError::unsupported_media_type(&essence, BODY_TYPES)),
    }
}

pub fn essence(content_type: Option<&str>) -> String {
    parse_media(content_type.unwrap_or("")).essence
}

/// Serialises a response body; pretty JSON for curl and wget, as the apiserver does.
pub fn encode(v: &Value, format: Format, pretty: bool) -> (Vec<u8>, &'static str) {
    match format {
        Format::Protobuf => match super::protobuf::encode(v) {
            Ok(bytes) => (bytes, super::protobuf::CONTENT_TYPE),
            Err(e) => {
                tracing::warn!(error = %e, "could not encode a response as protobuf; answering JSON");
                (serde_json::to_vec(v).unwrap_or_default(), "application/json")
            }
        },
        Format::Yaml => (serde_yaml::to_string(v).unwrap_or_default().into_bytes(), "application/yaml"),
        Format::Json if pretty => {
            let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
            out.push(b'\n');
            (out, "application/json")
        }
        Format::Json => (serde_json::to_vec(v).unwrap_or_default(), "application/json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let a = accept(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")).unwrap();
        assert_eq!(a, Accept { format: Format::Json, as_: As::Table });
        let a = accept(Some("application/vnd.kubernetes.protobuf,application/json")).unwrap();
        assert_eq!(a, Accept { format: Format::Json, as_: As::Object });
        assert_eq!(accept(Some("application/vnd.kubernetes.protobuf")).unwrap().format, Format::Protobuf);
        assert!(accept(Some("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io")).is_err());
        assert_eq!(accept(Some("application/yaml")).unwrap().format, Format::Yaml);
    }

    #[test]
    fn bodies() {
        assert!(decode_body(Some("application/json"), b"{bad").unwrap_err().message.starts_with("couldn't get version/kind; json parse error"));
        assert_eq!(decode_body(Some("application/yaml"), b"a: 1\n").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(decode_body(Some("text/plain"), b"x").unwrap_err().code, 415);
    }
}
