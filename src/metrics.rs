//! Prometheus metrics, served on the debug listener when
//! `http.debug.prometheus.enabled` (names as distribution's, `registry_`).
//!
//! One `Metrics` value per server: no global state, so tests that run many
//! servers in one process do not share counters.

use std::time::Duration;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// Labels of a finished request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Response status.
    pub code: u16,
}

/// Labels of a request's duration.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// HTTP method.
    pub method: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<MethodLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("registry");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let in_flight = Gauge::default();
        registry.register("http_requests", "Requests answered, by method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer, by method", durations.clone());
        registry.register("http_in_flight_requests", "Requests being answered", in_flight.clone());
        Metrics { registry, requests, durations, in_flight }
    }
}

/// Decrements the in-flight gauge when a request ends, however it ends.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// Counts a request as in flight until the guard drops.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Records a finished request.
    pub fn record(&self, method: &str, code: u16, took: Duration) {
        self.requests.get_or_create(&RequestLabels { method: method.to_owned(), code }).inc();
        self.durations.get_or_create(&MethodLabels { method: method.to_owned() }).observe(took.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests() {
        let m = Metrics::default();
        {
            let _guard = m.start();
            m.record("GET", 200, Duration::from_millis(2));
        }
        let text = m.render();
        assert!(text.contains(r#"registry_http_requests_total{method="GET",code="200"} 1"#), "{text}");
        assert!(text.contains("registry_http_in_flight_requests 0"), "{text}");
        assert!(text.contains("registry_http_request_duration_seconds_count{method=\"GET\"} 1"), "{text}");
    }
}
