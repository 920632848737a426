//! Temporary stand-ins for discovery and metrics until their modules land (removed then).
use serde_json::{json, Value};
pub struct Metrics;
impl Metrics {
    pub fn new() -> Metrics { Metrics }
    pub fn inflight_inc(&self) {}
    pub fn inflight_dec(&self) {}
    pub fn observe(&self, _v: &str, _r: &str, _c: u16, _d: std::time::Duration) {}
    pub fn render(&self) -> String { String::new() }
}
pub fn aggregated_core() -> Value { json!({}) }
pub fn aggregated_apis() -> Value { json!({}) }
pub fn api_versions(_a: &str) -> Value { json!({}) }
pub fn api_group_list() -> Value { json!({}) }
pub fn api_resource_list(_g: &str, _v: &str) -> Option<Value> { None }
pub fn api_group(_g: &str) -> Option<Value> { None }
pub fn group_versions() -> Vec<(String, Vec<String>)> { vec![] }
