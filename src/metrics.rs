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

/// Labels of a maintenance run (garbage collection, retention).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok` or `failed`.
    pub outcome: &'static str,
}

/// Labels of what a collection or retention removed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `manifest`, `blob`, `layer_link` or `tag`.
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

/// Labels of a notifications endpoint's event counts (distribution's
/// `type`: Events, Successes, Failures, Errors; berth adds Dropped).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// What happened to the events.
    pub r#type: &'static str,
    /// The endpoint's `name`.
    pub endpoint: String,
}

/// Labels of a notifications endpoint's answers.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// `200 OK`, as distribution writes it.
    pub code: String,
    /// The endpoint's `name`.
    pub endpoint: String,
}

/// Labels of a notifications endpoint's queue.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The endpoint's `name`.
    pub endpoint: String,
}

/// Labels of tags moved through the admin route.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViaLabels {
    /// `copy`, `promote` or `rollback`.
    pub via: &'static str,
}

/// Labels of refusals by an immutable rule.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// The rule's name.
    pub rule: String,
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
    retention_runs: Family<OutcomeLabels, Counter>,
    retention_deleted: Family<KindLabels, Counter>,
    retention_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    notify_events: Family<EventLabels, Counter>,
    notify_status: Family<StatusLabels, Counter>,
    notify_pending: Family<EndpointLabels, Gauge>,
    tag_moves: Family<ViaLabels, Counter>,
    tag_conflicts: Counter,
    immutable_refusals: Family<RuleLabels, Counter>,
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
        let retention_runs = Family::<OutcomeLabels, Counter>::default();
        let retention_deleted = Family::<KindLabels, Counter>::default();
        let retention_seconds = Gauge::default();
        registry.register("retention_runs", "Retention runs by the server, by outcome", retention_runs.clone());
        registry.register(
            "retention_deleted",
            "Tags and manifests retention removed, by kind",
            retention_deleted.clone(),
        );
        registry.register(
            "retention_last_duration_seconds",
            "How long the last retention run took",
            retention_seconds.clone(),
        );
        let notify_events = Family::<EventLabels, Counter>::default();
        let notify_status = Family::<StatusLabels, Counter>::default();
        let notify_pending = Family::<EndpointLabels, Gauge>::default();
        let notifications = registry.sub_registry_with_prefix("notifications");
        notifications.register("events", "Notification events by what happened to them", notify_events.clone());
        notifications.register("status", "Notification requests by the endpoint's answer", notify_status.clone());
        notifications.register("pending", "Notification events queued or being delivered", notify_pending.clone());
        let (tag_moves, tag_conflicts, immutable_refusals) = (Family::default(), Counter::default(), Family::default());
        registry.register("tag_moves", "Tags moved by copy, promote or rollback", tag_moves.clone());
        registry.register(
            "tag_conflicts",
            "Tag moves refused because a tag moved since it was read",
            tag_conflicts.clone(),
        );
        registry.register(
            "immutable_refusals",
            "Changes refused by an immutable-tag rule, by rule",
            immutable_refusals.clone(),
        );
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
            retention_runs,
            retention_deleted,
            retention_seconds,
            notify_events,
            notify_status,
            notify_pending,
            tag_moves,
            tag_conflicts,
            immutable_refusals,
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

    /// Records a finished retention run that removed `tags` and `manifests`.
    pub fn retention_done(&self, tags: u64, manifests: u64, took: Duration) {
        self.retention_runs.get_or_create(&OutcomeLabels { outcome: "ok" }).inc();
        self.retention_deleted.get_or_create(&KindLabels { kind: "tag" }).inc_by(tags);
        self.retention_deleted.get_or_create(&KindLabels { kind: "manifest" }).inc_by(manifests);
        self.retention_seconds.set(took.as_secs_f64());
    }

    /// Records a retention run that failed.
    pub fn retention_failed(&self) {
        self.retention_runs.get_or_create(&OutcomeLabels { outcome: "failed" }).inc();
    }

    /// Records tags moved by one request.
    pub fn tags_moved(&self, via: &'static str, n: u64) {
        self.tag_moves.get_or_create(&ViaLabels { via }).inc_by(n);
    }

    /// Records a move refused because a tag moved since it was read.
    pub fn tag_conflict(&self) {
        self.tag_conflicts.inc();
    }

    /// Records a change refused by an immutable rule.
    pub fn immutable_refusal(&self, rule: &str) {
        self.immutable_refusals.get_or_create(&RuleLabels { rule: rule.to_owned() }).inc();
    }

    /// The counters of one notifications endpoint.
    pub fn endpoint(&self, name: &str) -> EndpointMetrics {
        let events =
            |r#type| self.notify_events.get_or_create(&EventLabels { r#type, endpoint: name.to_owned() }).clone();
        EndpointMetrics {
            endpoint: name.to_owned(),
            events: events("Events"),
            successes: events("Successes"),
            failures: events("Failures"),
            errors: events("Errors"),
            dropped: events("Dropped"),
            statuses: self.notify_status.clone(),
            pending: self.notify_pending.get_or_create(&EndpointLabels { endpoint: name.to_owned() }).clone(),
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// One notifications endpoint's share of the metrics.
#[derive(Clone)]
pub struct EndpointMetrics {
    endpoint: String,
    events: Counter,
    successes: Counter,
    failures: Counter,
    errors: Counter,
    dropped: Counter,
    statuses: Family<StatusLabels, Counter>,
    pending: Gauge,
}

impl EndpointMetrics {
    /// An event entered the queue.
    pub fn queued(&self) {
        self.events.inc();
        self.pending.inc();
    }

    /// The queue was full: its oldest event was dropped.
    pub fn dropped(&self) {
        self.dropped.inc();
        self.pending.dec();
    }

    /// The endpoint accepted an event: it is no longer pending.
    pub fn succeeded(&self, status: http::StatusCode) {
        self.successes.inc();
        self.pending.dec();
        self.status(status);
    }

    /// The endpoint answered with a status that does not accept the event.
    pub fn failed(&self, status: http::StatusCode) {
        self.failures.inc();
        self.status(status);
    }

    /// The endpoint could not be reached, or did not answer in time.
    pub fn errored(&self) {
        self.errors.inc();
    }

    fn status(&self, status: http::StatusCode) {
        let code = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or_default());
        self.statuses.get_or_create(&StatusLabels { code, endpoint: self.endpoint.clone() }).inc();
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
        m.retention_done(3, 2, Duration::from_millis(1500));
        m.retention_failed();
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
            r#"registry_retention_runs_total{outcome="ok"} 1"#,
            r#"registry_retention_runs_total{outcome="failed"} 1"#,
            r#"registry_retention_deleted_total{kind="tag"} 3"#,
            r#"registry_retention_deleted_total{kind="manifest"} 2"#,
            "registry_retention_last_duration_seconds 1.5",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn renders_notifications_with_distributions_names() {
        let m = Metrics::default();
        let e = m.endpoint("hook");
        e.queued();
        e.queued();
        e.dropped();
        e.errored();
        e.failed(http::StatusCode::INTERNAL_SERVER_ERROR);
        e.succeeded(http::StatusCode::OK);
        let text = m.render();
        for line in [
            r#"registry_notifications_events_total{type="Events",endpoint="hook"} 2"#,
            r#"registry_notifications_events_total{type="Dropped",endpoint="hook"} 1"#,
            r#"registry_notifications_events_total{type="Errors",endpoint="hook"} 1"#,
            r#"registry_notifications_events_total{type="Failures",endpoint="hook"} 1"#,
            r#"registry_notifications_events_total{type="Successes",endpoint="hook"} 1"#,
            r#"registry_notifications_status_total{code="500 Internal Server Error",endpoint="hook"} 1"#,
            r#"registry_notifications_status_total{code="200 OK",endpoint="hook"} 1"#,
            r#"registry_notifications_pending{endpoint="hook"} 0"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
