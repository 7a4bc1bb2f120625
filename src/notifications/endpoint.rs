//! One configured endpoint: its filter, its bounded queue, and the task
//! that drains the queue in order, retrying each event until delivered.

use std::{collections::HashSet, sync::Arc, time::Instant};

use bytes::Bytes;

use super::{
    EndpointError,
    breaker::Breaker,
    client::Client,
    event::Event,
    queue::{Pushed, Queue},
};
use crate::{config, metrics::EndpointMetrics};

/// Which events an endpoint does not want (`ignoredmediatypes`,
/// `ignore.mediatypes`, `ignore.actions`): either list matching is enough.
#[derive(Debug, Default)]
pub struct Filter {
    media_types: HashSet<String>,
    actions: HashSet<String>,
}

impl Filter {
    /// The filter of an endpoint's configuration.
    pub fn of(endpoint: &config::Endpoint) -> Filter {
        let media_types =
            endpoint.ignoredmediatypes.iter().chain(&endpoint.ignore.mediatypes).cloned().collect::<HashSet<_>>();
        // The config accepts actions in any case; events name them in lower case.
        let actions = endpoint.ignore.actions.iter().map(|a| a.to_ascii_lowercase()).collect();
        Filter { media_types, actions }
    }

    /// True when the endpoint wants the event.
    pub fn wants(&self, event: &Event) -> bool {
        !self.media_types.contains(&event.target.media_type) && !self.actions.contains(event.action.as_str())
    }
}

/// The publishing side of an endpoint.
pub struct Endpoint {
    name: String,
    filter: Filter,
    queue: Arc<Queue<Arc<Event>>>,
    metrics: EndpointMetrics,
}

/// The delivering side: owns the HTTP client and the breaker.
pub struct Delivery {
    name: String,
    url: String,
    client: Client,
    breaker: Breaker,
    queue: Arc<Queue<Arc<Event>>>,
    metrics: EndpointMetrics,
}

impl Endpoint {
    /// An endpoint and the delivery that drains it, holding up to
    /// `capacity` undelivered events.
    pub fn new(
        config: &config::Endpoint,
        capacity: usize,
        metrics: EndpointMetrics,
    ) -> Result<(Endpoint, Delivery), EndpointError> {
        let client = Client::new(&config.url, &config.headers, config.timeout)
            .map_err(|e| EndpointError::Named { name: config.name.clone(), source: Box::new(e) })?;
        let queue = Arc::new(Queue::new(capacity));
        let endpoint = Endpoint {
            name: config.name.clone(),
            filter: Filter::of(config),
            queue: queue.clone(),
            metrics: metrics.clone(),
        };
        let delivery = Delivery {
            name: config.name.clone(),
            url: config.url.clone(),
            client,
            breaker: Breaker::new(config.threshold, config.backoff),
            queue,
            metrics,
        };
        Ok((endpoint, delivery))
    }

    /// Queues an event unless filtered out. Never waits.
    pub fn publish(&self, event: &Arc<Event>) {
        if !self.filter.wants(event) {
            return;
        }
        match self.queue.push(event.clone()) {
            Pushed::Queued => self.metrics.queued(),
            Pushed::Displaced(lost) => {
                self.metrics.queued();
                self.metrics.dropped();
                tracing::warn!(
                    endpoint = %self.name,
                    event.id = %lost.id,
                    event.action = lost.action.as_str(),
                    "notification queue full: dropped the oldest event"
                );
            }
            // Shutting down: the flush has started and takes nothing new.
            Pushed::Closed(_) => {}
        }
    }

    /// Stops taking events; the delivery sends what is queued, then ends.
    pub fn close(&self) {
        self.queue.close();
    }
}

impl Delivery {
    /// Sends queued events one at a time, in order, until the queue is
    /// closed and empty.
    pub async fn run(mut self) {
        while let Some(event) = self.queue.pop().await {
            let body = Bytes::from(event.envelope());
            self.deliver(&event, body).await;
        }
    }

    /// Retries one event until the endpoint accepts it (2xx or 3xx, as in
    /// distribution).
    async fn deliver(&mut self, event: &Event, body: Bytes) {
        loop {
            let wait = self.breaker.wait(Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let why = match self.client.post(body.clone()).await {
                Ok(status) if status.is_success() || status.is_redirection() => {
                    self.metrics.succeeded(status);
                    self.breaker.success();
                    return;
                }
                Ok(status) => {
                    self.metrics.failed(status);
                    format!("response status {status} unaccepted")
                }
                Err(e) => {
                    self.metrics.errored();
                    e.to_string()
                }
            };
            self.breaker.failure(Instant::now());
            tracing::warn!(
                endpoint = %self.name,
                url = %self.url,
                event.id = %event.id,
                error = %why,
                backing_off = self.breaker.is_open(),
                "notification not delivered, retrying"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::event::{Action, Origin, SourceRecord, Target};

    fn event(action: Action, media_type: &str) -> Event {
        let target = Target { media_type: media_type.into(), ..Target::default() };
        Event::new(action, target, &Origin::default(), &SourceRecord::default())
    }

    #[test]
    fn filter_ignores_media_types_from_both_keys_and_actions() {
        let config = config::Endpoint {
            ignoredmediatypes: vec!["a/old".into()],
            ignore: config::Ignore { mediatypes: vec!["a/new".into()], actions: vec!["Pull".into()] },
            ..config::Endpoint::default()
        };
        let filter = Filter::of(&config);
        assert!(!filter.wants(&event(Action::Push, "a/old")));
        assert!(!filter.wants(&event(Action::Push, "a/new")));
        assert!(!filter.wants(&event(Action::Pull, "a/other")));
        assert!(filter.wants(&event(Action::Push, "a/other")));
        assert!(filter.wants(&event(Action::Delete, "")));
    }
}
