//! The API server's Prometheus metrics, served at `/metrics`: request counts and latencies,
//! in-flight requests and the process start time, under kube-apiserver's metric names.
//! The HTTP layer records into one shared `Arc<Metrics>`; `render` writes the text format.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// apiserver_request_duration_seconds buckets, as kube-apiserver 1.33 declares them.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0,
    45.0, 60.0,
];

const REQUEST_TOTAL_HELP: &str = "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.";
const DURATION_HELP: &str = "[STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.";
const INFLIGHT_HELP: &str = "[STABLE] Maximal number of currently used inflight request limit of this apiserver per request kind in last second.";
const START_HELP: &str = "Start time of the process since unix epoch in seconds.";

/// Counters, a histogram and gauges; share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    /// (verb, resource, code) → count.
    requests: Mutex<HashMap<(String, String, u16), u64>>,
    /// verb → latency histogram.
    durations: Mutex<HashMap<String, Histogram>>,
    inflight_read_only: AtomicI64,
    inflight_mutating: AtomicI64,
    start_time_seconds: f64,
}

#[derive(Debug, Clone)]
struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is +Inf.
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram { buckets: vec![0; DURATION_BUCKETS.len() + 1], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, v: f64) {
        let i = DURATION_BUCKETS.iter().position(|le| v <= *le).unwrap_or(DURATION_BUCKETS.len());
        self.buckets[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

/// Decrements its in-flight gauge when dropped (see `Metrics::inflight`).
#[must_use = "the request counts as in flight only while the guard lives"]
pub struct InflightGuard<'a> {
    gauge: &'a AtomicI64,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics; the process start time is taken now.
    pub fn new() -> Metrics {
        let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        Metrics {
            requests: Mutex::new(HashMap::new()),
            durations: Mutex::new(HashMap::new()),
            inflight_read_only: AtomicI64::new(0),
            inflight_mutating: AtomicI64::new(0),
            start_time_seconds: start,
        }
    }

    /// Records one finished request. `verb` as kube-apiserver labels it ("GET", "LIST",
    /// "WATCH", "POST", "PUT", "PATCH", "DELETE", "APPLY", ...), `resource` the plural
    /// ("" for non-resource paths).
    pub fn observe(&self, verb: &str, resource: &str, code: u16, elapsed: Duration) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            *requests.entry((verb.to_string(), resource.to_string(), code)).or_insert(0) += 1;
        }
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        durations.entry(verb.to_string()).or_insert_with(Histogram::new).observe(elapsed.as_secs_f64());
    }

    /// One more read-only request in flight (use `inflight` to classify by verb).
    pub fn inflight_inc(&self) {
        self.inflight_read_only.fetch_add(1, Ordering::Relaxed);
    }

    /// One read-only request fewer in flight.
    pub fn inflight_dec(&self) {
        self.inflight_read_only.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a request in flight until the guard drops: get/list/watch are "readOnly",
    /// every other verb "mutating" (the max-in-flight filter's split).
    pub fn inflight(&self, verb: &str) -> InflightGuard<'_> {
        let gauge = if is_read_only(verb) { &self.inflight_read_only } else { &self.inflight_mutating };
        gauge.fetch_add(1, Ordering::Relaxed);
        InflightGuard { gauge }
    }

    /// How many requests were recorded for (verb, resource, code).
    pub fn request_count(&self, verb: &str, resource: &str, code: u16) -> u64 {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        requests.get(&(verb.to_string(), resource.to_string(), code)).copied().unwrap_or(0)
    }

    /// Everything in the Prometheus text exposition format (0.0.4), families by name.
    pub fn render(&self) -> String {
        let mut out = String::new();

        family(&mut out, "apiserver_current_inflight_requests", INFLIGHT_HELP, "gauge");
        for (kind, gauge) in [("mutating", &self.inflight_mutating), ("readOnly", &self.inflight_read_only)] {
            let _ = writeln!(
                out,
                "apiserver_current_inflight_requests{{request_kind=\"{kind}\"}} {}",
                gauge.load(Ordering::Relaxed)
            );
        }

        let durations: BTreeMap<String, Histogram> = {
            let d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
            d.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        if !durations.is_empty() {
            family(&mut out, "apiserver_request_duration_seconds", DURATION_HELP, "histogram");
            for (verb, h) in &durations {
                let verb = escape_label(verb);
                let mut cumulative = 0;
                for (i, le) in DURATION_BUCKETS.iter().enumerate() {
                    cumulative += h.buckets[i];
                    let _ = writeln!(
                        out,
                        "apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",le=\"{le}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "apiserver_request_duration_seconds_sum{{verb=\"{verb}\"}} {}", h.sum);
                let _ = writeln!(out, "apiserver_request_duration_seconds_count{{verb=\"{verb}\"}} {}", h.count);
            }
        }

        // Sorted as client_golang sorts series: by label values in label-name order.
        let requests: BTreeMap<(u16, String, String), u64> = {
            let r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            r.iter().map(|((verb, resource, code), n)| ((*code, resource.clone(), verb.clone()), *n)).collect()
        };
        if !requests.is_empty() {
            family(&mut out, "apiserver_request_total", REQUEST_TOTAL_HELP, "counter");
            for ((code, resource, verb), n) in &requests {
                let _ = writeln!(
                    out,
                    "apiserver_request_total{{code=\"{code}\",resource=\"{}\",verb=\"{}\"}} {n}",
                    escape_label(resource),
                    escape_label(verb)
                );
            }
        }

        family(&mut out, "process_start_time_seconds", START_HELP, "gauge");
        let _ = writeln!(out, "process_start_time_seconds {}", self.start_time_seconds);
        out
    }
}

/// The Content-Type of `render`'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn is_read_only(verb: &str) -> bool {
    ["get", "list", "watch"].iter().any(|v| verb.eq_ignore_ascii_case(v))
}

/// Label values escape backslash, double quote and newline.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn renders_counters_in_the_text_format() {
        let m = Metrics::new();
        m.observe("LIST", "pods", 200, Duration::from_millis(3));
        m.observe("LIST", "pods", 200, Duration::from_millis(30));
        m.observe("GET", "deployments", 404, Duration::from_millis(1));
        m.observe("POST", "pods", 201, Duration::from_secs(100));
        assert_eq!(m.request_count("LIST", "pods", 200), 2);
        let text = m.render();
        assert_eq!(
            lines_of(&text, "apiserver_request_total"),
            [
                "apiserver_request_total{code=\"200\",resource=\"pods\",verb=\"LIST\"} 2",
                "apiserver_request_total{code=\"201\",resource=\"pods\",verb=\"POST\"} 1",
                "apiserver_request_total{code=\"404\",resource=\"deployments\",verb=\"GET\"} 1",
            ]
        );
        assert!(text.contains("# HELP apiserver_request_total [STABLE] Counter of apiserver requests"));
        assert!(text.contains("# TYPE apiserver_request_total counter\n"));
        assert!(text.contains("# TYPE apiserver_request_duration_seconds histogram\n"));
        assert!(text.ends_with("\n"));
    }

    #[test]
    fn renders_histograms_cumulatively() {
        let m = Metrics::new();
        m.observe("LIST", "pods", 200, Duration::from_millis(3));
        m.observe("LIST", "pods", 200, Duration::from_millis(30));
        m.observe("LIST", "pods", 200, Duration::from_secs(61));
        let text = m.render();
        let list = lines_of(&text, "apiserver_request_duration_seconds_bucket{verb=\"LIST\"");
        assert_eq!(list.len(), DURATION_BUCKETS.len() + 1);
        assert_eq!(list[0], "apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"0.005\"} 1");
        assert_eq!(list[1], "apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"0.025\"} 1");
        assert_eq!(list[2], "apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"0.05\"} 2");
        assert_eq!(list[8], "apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"1\"} 2");
        assert_eq!(list[22], "apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"60\"} 2");
        assert_eq!(list[23], "apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"+Inf\"} 3");
        assert_eq!(
            lines_of(&text, "apiserver_request_duration_seconds_count"),
            ["apiserver_request_duration_seconds_count{verb=\"LIST\"} 3"]
        );
        let sum = lines_of(&text, "apiserver_request_duration_seconds_sum")[0];
        let v: f64 = sum.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((v - 61.033).abs() < 1e-9);
    }

    #[test]
    fn gauges_and_start_time() {
        let m = Metrics::new();
        m.inflight_inc();
        m.inflight_inc();
        m.inflight_dec();
        {
            let _g = m.inflight("PATCH");
            let _r = m.inflight("watch");
            let text = m.render();
            assert_eq!(
                lines_of(&text, "apiserver_current_inflight_requests{"),
                [
                    "apiserver_current_inflight_requests{request_kind=\"mutating\"} 1",
                    "apiserver_current_inflight_requests{request_kind=\"readOnly\"} 2",
                ]
            );
        }
        let text = m.render();
        assert!(text.contains("apiserver_current_inflight_requests{request_kind=\"mutating\"} 0\n"));
        assert!(text.contains("apiserver_current_inflight_requests{request_kind=\"readOnly\"} 1\n"));
        // No requests yet: no request families, but gauges are always present.
        assert!(!text.contains("apiserver_request_total"));
        let start = lines_of(&text, "process_start_time_seconds ")[0];
        let v: f64 = start.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(v > 1.6e9);
        assert!(text.contains("# TYPE process_start_time_seconds gauge\n"));
        // Families come out sorted by name.
        let order: Vec<&str> = lines_of(&text, "# TYPE").iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.observe("GET", "we\"ird\\\n", 500, Duration::ZERO);
        assert!(m.render().contains("resource=\"we\\\"ird\\\\\\n\""));
    }
}
