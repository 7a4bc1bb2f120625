//! Announcing changes to the other replicas over Redis pub/sub.
//!
//! Every mutation of a replica's cached driver publishes the paths it
//! changed on one channel; every replica subscribes, drops what those paths
//! make wrong and answers (`acks.rs`); the mutation returns once all have
//! answered. A replica trusts its
//! memory only while its subscription is up: it starts out of sync, becomes
//! in sync once subscribed (after clearing what it may have missed), and
//! falls out of sync as soon as the subscription fails or a ping goes
//! unanswered.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::{
    Link, Redis,
    acks::{Acks, WAIT},
};
use crate::storage::{Forget, Peers};

/// The pub/sub channel every replica publishes on and listens to.
const CHANNEL: &str = "berth:changes";

/// How often the subscription is checked, and how long to wait before
/// subscribing again after a failure.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// One replica's end of the channel.
pub struct Channel {
    redis: Redis,
    /// Names this replica in its messages, so it skips its own, and the
    /// channel its answers come back on.
    origin: String,
    acks: Arc<Acks>,
}

impl Channel {
    /// A replica's end of the channel, out of sync until `listen` has
    /// subscribed.
    pub fn new(redis: Redis) -> Self {
        let origin = uuid::Uuid::new_v4().simple().to_string();
        Channel { redis, origin, acks: Arc::default() }
    }

    /// Subscribes, and keeps subscribing, for as long as the task lives:
    /// announcements of the other replicas go to `listener`.
    pub fn listen(&self, listener: Arc<dyn Forget>) -> JoinHandle<()> {
        let subscriber =
            Subscriber { redis: self.redis.clone(), origin: self.origin.clone(), acks: self.acks.clone(), listener };
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
        let ticket = self.acks.ticket();
        let message = format!("{} {}\n{}", self.origin, ticket.number, paths.join("\n"));
        let mut commands = self.redis.commands.clone();
        match redis::cmd("PUBLISH").arg(CHANNEL).arg(message).query_async::<u64>(&mut commands).await {
            // The count includes this replica's own subscription.
            Ok(subscribers) => {
                if !ticket.wait(subscribers.saturating_sub(1)).await {
                    tracing::warn!(wait = ?WAIT, "redis: a replica did not confirm a change in time");
                }
            }
            Err(e) => tracing::warn!(error = %e, "redis: cannot announce a change to the other replicas"),
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
    acks: Arc<Acks>,
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
        tokio::time::timeout(timeout, sink.subscribe(answers(&self.origin))).await??;
        // Whatever changed while unsubscribed went unheard.
        self.listener.clear();
        self.redis.set_link(Link::Up);
        tracing::info!("redis: subscribed to the channel of changes");
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) if message.get_channel_name() == CHANNEL => self.deliver(message.get_payload_bytes()),
                    Some(message) => self.answered(message.get_payload_bytes()),
                    None => anyhow::bail!("the subscription ended"),
                },
                _ = heartbeat.tick() => {
                    tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await??;
                }
            }
        }
    }

    /// Passes on another replica's paths, then answers it; skips this
    /// replica's own.
    fn deliver(&self, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload);
        let mut lines = text.lines();
        let Some((origin, number)) = lines.next().and_then(|head| head.split_once(' ')) else {
            return;
        };
        if origin == self.origin {
            return;
        }
        lines.for_each(|path| self.listener.changed(path));
        let mut commands = self.redis.commands.clone();
        let answer = redis::cmd("PUBLISH").arg(answers(origin)).arg(number).to_owned();
        // Not awaited here: the next announcement need not wait for it.
        tokio::spawn(async move { answer.query_async::<u64>(&mut commands).await });
    }

    /// Another replica applied one of this replica's announcements.
    fn answered(&self, payload: &[u8]) {
        if let Some(number) = std::str::from_utf8(payload).ok().and_then(|n| n.parse().ok()) {
            self.acks.answered(number);
        }
    }
}

/// The channel a replica's answers come back on.
fn answers(origin: &str) -> String {
    format!("berth:answers:{origin}")
}
