//! Temporary stand-ins for discovery and metrics until their modules land (removed then).
pub struct Metrics;
impl Metrics {
    pub fn new() -> Metrics { Metrics }
    pub fn inflight_inc(&self) {}
    pub fn inflight_dec(&self) {}
    pub fn observe(&self, _v: &str, _r: &str, _c: u16, _d: std::time::Duration) {}
    pub fn render(&self) -> String { String::new() }
}
