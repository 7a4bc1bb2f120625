//! Announcing changes to the other replicas over Redis pub/sub.
//!
//! Every mutation of a replica's cached driver publishes the paths it
//! changed on one channel before the mutation returns; every replica
//! subscribes and drops what those paths make wrong. A replica trusts its
//! memory only while its subscription is up: it starts out of sync, becomes
//! in sync once subscribed (after clearing what it may have missed), and
//! falls out of sync as soon as the subscription fails or a ping goes
//! unanswered.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::{Link, Redis};
use crate::storage::{Forget, Peers};

/// The pub/sub channel every replica publishes on and listens to.
const CHANNEL: &str = "berth:changes";

/// How often the subscription is checked, and how long to wait before
/// subscribing again after a failure.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// One replica's end of the channel.
pub struct Channel {
    redis: Redis,
    /// Names this replica in its messages, so it skips its own.
    origin: String,
}

impl Channel {
    /// A replica's end of the channel, out of sync until `listen` has
    /// subscribed.
    pub fn new(redis: Redis) -> Self {
        let origin = uuid::Uuid::new_v4().simple().to_string();
        Channel { redis, origin }
    }

    /// Subscribes, and keeps subscribing, for as long as the task lives:
    /// announcements of the other replicas go to `listener`.
    pub fn listen(&self, listener: Arc<dyn Forget>) -> JoinHandle<()> {
        let subscriber = Subscriber { redis: self.redis.clone(), origin: self.origin.clone(), listener };
        tokio::spawn(subscriber.run())
    }
}

#[async_trait]
impl Peers for Channel {
    /// Skipped while the server is down: the other replicas then answer
    /// from storage themselves, or within their entries' lifetime when only
    /// this replica lost the server.
    async fn changed(&self, paths: &[String]) {
        if paths.is_empty() || !self.redis.available().await {
            return;
        }
        let message = format!("{}\n{}", self.origin, paths.join("\n"));
        let mut commands = self.redis.commands.clone();
        let publish = redis::cmd("PUBLISH").arg(CHANNEL).arg(message).query_async::<i64>(&mut commands).await;
        if let Err(e) = publish {
            tracing::warn!(error = %e, "redis: cannot announce a change to the other replicas");
        }
    }

    fn in_sync(&self) -> bool {
        self.redis.up()
    }
}

/// The task that receives the other replicas' announcements.
struct Subscriber {
    redis: Redis,
    origin: String,
    listener: Arc<dyn Forget>,
}

impl Subscriber {
    async fn run(self) {
        loop {
            if let Err(e) = self.subscribed().await {
                tracing::warn!(error = %e, "redis: lost the channel of changes; answering from storage until it is back");
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    }

    /// One subscription, until it fails. Whatever happens, the replica is
    /// out of sync and has forgotten everything when it returns.
    async fn subscribed(&self) -> anyhow::Result<()> {
        let result = self.receive().await;
        self.redis.set_link(Link::Down);
        self.listener.clear();
        result
    }

    async fn receive(&self) -> anyhow::Result<()> {
        let timeout = self.redis.timeout;
        let pubsub = tokio::time::timeout(timeout, self.redis.client.get_async_pubsub()).await??;
        let (mut sink, mut stream) = pubsub.split();
        tokio::time::timeout(timeout, sink.subscribe(CHANNEL)).await??;
        // Whatever changed while unsubscribed went unheard.
        self.listener.clear();
        self.redis.set_link(Link::Up);
        tracing::info!("redis: subscribed to the channel of changes");
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => self.deliver(message.get_payload_bytes()),
                    None => anyhow::bail!("the subscription ended"),
                },
                _ = heartbeat.tick() => {
                    tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await??;
                }
            }
        }
    }

    /// Passes on another replica's paths; skips this replica's own.
    fn deliver(&self, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload);
        let mut lines = text.lines();
        if lines.next() == Some(self.origin.as_str()) {
            return;
        }
        lines.for_each(|path| self.listener.changed(path));
    }
}
