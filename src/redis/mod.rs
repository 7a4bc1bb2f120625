//! What the replicas of one storage share through the `redis` section's
//! server: announcements of every change, so each replica's read cache and
//! listing memos stay right (`channel.rs`), and the tag locks
//! (`locks.rs`).
//!
//! Correctness never depends on Redis. While it is unreachable a replica
//! answers from storage instead of memory and changes tags under its own
//! locks only; see ARCHITECTURE.md, "Caches" and "Uploads and concurrency".

mod acks;
mod channel;
mod locks;

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::watch;

pub use channel::Channel;
pub use locks::Locks;

use crate::config;

/// How long a connection attempt or a command may take when the
/// configuration leaves it at zero. Every write waits for its announcement,
/// so an unreachable server must fail fast.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection to the shared server: a client for subscriptions and a
/// reconnecting, multiplexed connection for commands.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    commands: ConnectionManager,
    timeout: Duration,
    /// Whether the server answers, as the subscription to the channel of
    /// changes (and its heartbeat) finds: commands are not even tried while
    /// it is down, so an outage costs no time per request.
    link: Arc<watch::Sender<Link>>,
}

/// What the subscription knows of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not subscribed yet.
    Starting,
    /// Subscribed, and answering its heartbeat.
    Up,
    /// Unreachable; the subscription is being retried.
    Down,
}

impl Redis {
    /// Connects lazily: a server down at startup is tried again on use.
    pub fn open(section: &config::Redis) -> anyhow::Result<Self> {
        let client = redis::Client::open(url(section)?).context("redis")?;
        let timeout = nonzero(section.readtimeout.max(section.writetimeout));
        let options = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(nonzero(section.dialtimeout)))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), options).context("redis")?;
        Ok(Redis { client, commands, timeout, link: Arc::new(watch::Sender::new(Link::Starting)) })
    }

    /// True while the subscription is up.
    fn up(&self) -> bool {
        *self.link.borrow() == Link::Up
    }

    /// True when commands are worth sending: the subscription is up, or
    /// becomes up within the timeout if it is still starting (a command such
    /// as `berth garbage-collect` uses Redis at once).
    async fn available(&self) -> bool {
        let mut link = self.link.subscribe();
        let _ = tokio::time::timeout(self.timeout, link.wait_for(|l| *l != Link::Starting)).await;
        self.up()
    }

    fn set_link(&self, link: Link) {
        self.link.send_replace(link);
    }
}

fn nonzero(d: Duration) -> Duration {
    if d.is_zero() { DEFAULT_TIMEOUT } else { d }
}

/// The server's URL: `addr` (2.8) or the one address of `addrs` (3.x), with
/// `username`, `password` and `db`. Several addresses (a cluster) are
/// refused rather than half-honoured; the configuration refuses sentinels
/// and TLS (`config::schema`).
fn url(section: &config::Redis) -> anyhow::Result<String> {
    let addr = match (&section.addr, section.addrs.as_slice()) {
        (Some(addr), []) => addr,
        (None, [addr]) => addr,
        (None, []) => bail!("redis: addr is not set"),
        _ => bail!("redis: one server only (addr, or addrs with one entry); clusters are not supported yet"),
    };
    let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let password = section.password.as_ref().map(|p| encode(p.expose()));
    let userinfo = match (section.username.as_str(), password) {
        ("", None) => String::new(),
        (user, None) => format!("{}@", encode(user)),
        (user, Some(password)) => format!("{}:{password}@", encode(user)),
    };
    Ok(format!("redis://{userinfo}{addr}/{}", section.db))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(yaml: &str) -> config::Redis {
        let config = config::Config::parse(&format!("version: 0.1\nstorage: {{inmemory: }}\nredis:\n{yaml}"));
        config.expect("config").redis.expect("redis")
    }

    #[test]
    fn builds_the_url() {
        assert_eq!(url(&section("  addr: localhost:6379\n  db: 2\n")).unwrap(), "redis://localhost:6379/2");
        let password = section("  addrs: [r:1]\n  password: 'p@ss:w'\n");
        assert_eq!(url(&password).unwrap(), "redis://:p%40ss%3Aw@r:1/0");
        let user = section("  addr: r:1\n  username: berth\n  password: pw\n");
        assert_eq!(url(&user).unwrap(), "redis://berth:pw@r:1/0");
    }

    #[test]
    fn refuses_what_it_would_half_honour() {
        for (yaml, says) in [("  addrs: [a:1, b:1]\n", "clusters"), ("  db: 1\n", "addr is not set")] {
            let error = url(&section(yaml)).unwrap_err().to_string();
            assert!(error.contains(says), "{yaml}: {error}");
        }
    }
}
