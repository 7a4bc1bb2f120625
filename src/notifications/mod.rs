//! Notifications: distribution's webhooks. Registry events (push, pull,
//! mount, delete) are POSTed as JSON envelopes to the endpoints of the
//! `notifications` section.
//!
//! The http layer builds each event's request and actor part ([`Origin`])
//! and calls [`Notifier::publish`], which only pushes onto each endpoint's
//! bounded in-memory queue ([`QUEUE_CAPACITY`] events, the oldest dropped
//! when full) and never waits. One task per endpoint drains its queue in
//! order and retries an event until the endpoint accepts it. Queues live in
//! memory only: events not yet delivered are lost when the process ends,
//! as in distribution; a graceful shutdown tries to deliver them for at
//! most [`FLUSH_TIMEOUT`].

mod breaker;
mod client;
mod endpoint;
pub mod event;
mod queue;

use std::{sync::Arc, time::Duration};

use tokio::task::JoinHandle;

pub use event::{Action, ActorRecord, BerthRecord, Descriptor, Origin, RequestRecord, SourceRecord, Target};

use self::{endpoint::Endpoint, event::Event};
use crate::{config, metrics::Metrics};

/// Undelivered events held per endpoint. At about a kilobyte each, a dead
/// endpoint costs at most ~10 MiB; older events are dropped beyond that.
pub const QUEUE_CAPACITY: usize = 10_000;

/// How long a graceful shutdown waits for queued events to be delivered.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A `notifications.endpoints[]` entry that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The URL does not parse, or is not http(s).
    #[error("url {url:?}: {why}")]
    Url {
        /// As configured.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A header name or value is not valid HTTP.
    #[error("invalid header {0:?}")]
    Header(String),
    /// No TLS client could be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// Any of the above, for the endpoint with this name.
    #[error("notifications endpoint {name:?}: {source}")]
    Named {
        /// The endpoint's `name`.
        name: String,
        /// What is wrong.
        source: Box<EndpointError>,
    },
}

/// Publishes events to every enabled endpoint. Cheap to share; a notifier
/// without endpoints does nothing and costs nothing.
pub struct Notifier {
    endpoints: Vec<Endpoint>,
    deliveries: std::sync::Mutex<Vec<JoinHandle<()>>>,
    source: SourceRecord,
    include_references: bool,
}

impl Notifier {
    /// Starts a delivery task for each endpoint that is not `disabled`.
    /// `listen` is the address the registry serves on (`source.addr` is
    /// this host's name with its port, as distribution reports it).
    pub fn start(
        section: &config::Notifications,
        listen: &str,
        metrics: &Metrics,
    ) -> Result<Arc<Notifier>, EndpointError> {
        let mut endpoints = Vec::new();
        let mut deliveries = Vec::new();
        for config in &section.endpoints {
            if config.disabled {
                tracing::info!(endpoint = %config.name, "notifications endpoint disabled, skipping");
                continue;
            }
            let (endpoint, delivery) = Endpoint::new(config, QUEUE_CAPACITY, metrics.endpoint(&config.name))?;
            tracing::info!(
                endpoint = %config.name,
                url = %config.url,
                timeout = ?config.timeout,
                threshold = config.threshold,
                backoff = ?config.backoff,
                "configured notifications endpoint"
            );
            endpoints.push(endpoint);
            deliveries.push(tokio::spawn(delivery.run()));
        }
        let source = SourceRecord { addr: source_addr(listen), instance_id: uuid::Uuid::new_v4().to_string() };
        Ok(Arc::new(Notifier {
            endpoints,
            deliveries: std::sync::Mutex::new(deliveries),
            source,
            include_references: section.events.includereferences,
        }))
    }

    /// True when some endpoint listens: otherwise callers need not build
    /// events at all.
    pub fn is_active(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// `events.includereferences`: manifest events list what the manifest
    /// references.
    pub fn include_references(&self) -> bool {
        self.include_references
    }

    /// Queues an event for every endpoint that wants it. Never waits and
    /// never fails: a slow or dead endpoint only fills its own queue.
    pub fn publish(&self, action: Action, target: Target, origin: &Origin) {
        self.send(Event::new(action, target, origin, &self.source));
    }

    /// As `publish`, for an event a tag-lifecycle operation caused.
    pub fn publish_with(&self, action: Action, target: Target, origin: &Origin, berth: BerthRecord) {
        self.send(Event { berth: Some(berth), ..Event::new(action, target, origin, &self.source) });
    }

    fn send(&self, event: Event) {
        if self.endpoints.is_empty() {
            return;
        }
        let event = Arc::new(event);
        for endpoint in &self.endpoints {
            endpoint.publish(&event);
        }
    }

    /// Stops taking events and gives the queued ones up to
    /// [`FLUSH_TIMEOUT`] to be delivered; what is left then is lost.
    pub async fn shutdown(&self) {
        for endpoint in &self.endpoints {
            endpoint.close();
        }
        let deliveries = std::mem::take(&mut *self.deliveries.lock().unwrap_or_else(|e| e.into_inner()));
        let aborts: Vec<_> = deliveries.iter().map(JoinHandle::abort_handle).collect();
        let flushed = futures_util::future::join_all(deliveries);
        if tokio::time::timeout(FLUSH_TIMEOUT, flushed).await.is_err() {
            tracing::warn!("notifications not delivered within {FLUSH_TIMEOUT:?} of shutdown are lost");
            for abort in aborts {
                abort.abort();
            }
        }
    }
}

/// `hostname:port`, as distribution's `source.addr`: the port of the
/// listen address, the name of this host (the address itself when the
/// name is unknown or the listener is a unix socket).
fn source_addr(listen: &str) -> String {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned());
    match (hostname, listen.rsplit_once(':')) {
        (Ok(host), Some((_, port))) if !host.is_empty() && port.parse::<u16>().is_ok() => format!("{host}:{port}"),
        _ => listen.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addr_is_host_and_port() {
        let addr = source_addr("0.0.0.0:5000");
        assert!(addr.ends_with(":5000"), "{addr}");
        assert!(!addr.starts_with("0.0.0.0"), "{addr}");
        assert_eq!(source_addr("/run/berth.sock"), "/run/berth.sock");
    }

    #[tokio::test]
    async fn without_endpoints_nothing_runs() {
        let notifier = Notifier::start(&config::Notifications::default(), ":5000", &Metrics::default()).unwrap();
        assert!(!notifier.is_active());
        notifier.publish(Action::Push, Target::default(), &Origin::default());
        notifier.shutdown().await;
    }

    #[test]
    fn bad_urls_are_refused_by_name() {
        let mut section = config::Notifications::default();
        section.endpoints.push(config::Endpoint { name: "x".into(), url: "ftp://h/".into(), ..Default::default() });
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _guard = rt.enter();
        let e = Notifier::start(&section, ":5000", &Metrics::default()).err().unwrap().to_string();
        assert!(e.contains("\"x\"") && e.contains("http or https"), "{e}");
    }
}
