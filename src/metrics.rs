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

/// Labels of a maintenance run (garbage collection).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok` or `failed`.
    pub outcome: &'static str,
}

/// Labels of what a collection removed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `manifest`, `blob` or `layer_link`.
    pub kind: &'static str,
}

/// What one garbage collection did, for the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcTotals {
    /// Manifests removed.
    pub manifests: u64,
    /// Blobs removed.
    pub blobs: u64,
    /// Layer links removed.
    pub layer_links: u64,
    /// Bytes of the blobs removed.
    pub bytes: u64,
    /// Unreferenced items spared for being younger than the grace period.
    pub young: u64,
    /// How long it took.
    pub took: Duration,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<MethodLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    gc_runs: Family<OutcomeLabels, Counter>,
    gc_deleted: Family<KindLabels, Counter>,
    gc_bytes: Counter,
    gc_young: Gauge,
    gc_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    uploads_purged: Counter,
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
        let gc_runs = Family::<OutcomeLabels, Counter>::default();
        let gc_deleted = Family::<KindLabels, Counter>::default();
        let (gc_bytes, gc_young, gc_seconds, uploads_purged) =
            (Counter::default(), Gauge::default(), Gauge::default(), Counter::default());
        registry.register("gc_runs", "Garbage collections run by the server, by outcome", gc_runs.clone());
        registry.register("gc_deleted", "Items garbage collection removed, by kind", gc_deleted.clone());
        registry.register("gc_freed_bytes", "Bytes of blobs garbage collection removed", gc_bytes.clone());
        registry.register("gc_young_items", "Unreferenced items the last collection spared as young", gc_young.clone());
        registry.register("gc_last_duration_seconds", "How long the last collection took", gc_seconds.clone());
        registry.register("uploads_purged", "Upload sessions removed by upload purging", uploads_purged.clone());
        Metrics {
            registry,
            requests,
            durations,
            in_flight,
            gc_runs,
            gc_deleted,
            gc_bytes,
            gc_young,
            gc_seconds,
            uploads_purged,
        }
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

    /// Records a finished garbage collection.
    pub fn gc_done(&self, totals: &GcTotals) {
        self.gc_runs.get_or_create(&OutcomeLabels { outcome: "ok" }).inc();
        for (kind, n) in [("manifest", totals.manifests), ("blob", totals.blobs), ("layer_link", totals.layer_links)] {
            self.gc_deleted.get_or_create(&KindLabels { kind }).inc_by(n);
        }
        self.gc_bytes.inc_by(totals.bytes);
        self.gc_young.set(i64::try_from(totals.young).unwrap_or(i64::MAX));
        self.gc_seconds.set(totals.took.as_secs_f64());
    }

    /// Records a garbage collection that failed.
    pub fn gc_failed(&self) {
        self.gc_runs.get_or_create(&OutcomeLabels { outcome: "failed" }).inc();
    }

    /// Records upload sessions removed by purging.
    pub fn uploads_purged(&self, n: u64) {
        self.uploads_purged.inc_by(n);
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

    #[test]
    fn renders_maintenance() {
        let m = Metrics::default();
        m.gc_done(&GcTotals {
            manifests: 2,
            blobs: 3,
            layer_links: 4,
            bytes: 500,
            young: 1,
            took: Duration::from_secs(2),
        });
        m.gc_failed();
        m.uploads_purged(7);
        let text = m.render();
        for line in [
            r#"registry_gc_runs_total{outcome="ok"} 1"#,
            r#"registry_gc_runs_total{outcome="failed"} 1"#,
            r#"registry_gc_deleted_total{kind="blob"} 3"#,
            r#"registry_gc_deleted_total{kind="layer_link"} 4"#,
            "registry_gc_freed_bytes_total 500",
            "registry_gc_young_items 1",
            "registry_gc_last_duration_seconds 2.0",
            "registry_uploads_purged_total 7",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
