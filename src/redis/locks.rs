//! Tag locks every replica sees: one Redis key per tag, taken with
//! `SET key token NX PX` and released by a compare-and-delete script, so a
//! replica only ever releases its own lock.
//!
//! A lock expires after `LEASE` in case its holder dies; tag changes are a
//! few small writes, far shorter. A replica that cannot reach Redis goes on
//! under its own locks (see `registry::tags::locks`).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use super::Redis;
use crate::registry::tags::locks::SharedLocks;

/// How long a lock lives if its holder never releases it.
const LEASE: Duration = Duration::from_secs(30);

/// How long a tag change waits for another replica's lock before it gives up
/// with 503 (the client may retry).
const PATIENCE: Duration = Duration::from_secs(10);

/// The first pause between attempts; doubled up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Deletes a lock only if it still holds the caller's token.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/// The shared tag locks.
pub struct Locks {
    redis: Redis,
}

impl Locks {
    /// Tag locks on the shared server.
    pub fn new(redis: Redis) -> Self {
        Locks { redis }
    }
}

/// Locks held in Redis, released when dropped.
struct Held {
    commands: ConnectionManager,
    token: String,
    keys: Vec<String>,
}

impl Held {
    async fn release(mut commands: ConnectionManager, token: String, keys: Vec<String>) {
        let script = redis::Script::new(RELEASE);
        for key in keys {
            if let Err(e) = script.key(&key).arg(&token).invoke_async::<i64>(&mut commands).await {
                tracing::warn!(error = %e, key, "redis: cannot release a tag lock; it expires by itself");
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let release =
            Held::release(self.commands.clone(), std::mem::take(&mut self.token), std::mem::take(&mut self.keys));
        tokio::spawn(release);
    }
}

/// What one attempt to take a lock found.
enum Attempt {
    Taken,
    Busy,
    Unreachable(redis::RedisError),
}

#[async_trait]
impl SharedLocks for Locks {
    async fn lock(&self, keys: Vec<String>) -> Result<Box<dyn Send + Sync>, String> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        if !self.redis.available().await {
            tracing::warn!("redis is down; changing the tag under this replica's lock only");
            return Ok(Box::new(Held { commands: self.redis.commands.clone(), token, keys: Vec::new() }));
        }
        let mut held = Held { commands: self.redis.commands.clone(), token, keys: Vec::with_capacity(keys.len()) };
        let deadline = Instant::now() + PATIENCE;
        for key in keys.into_iter().map(|k| format!("berth:lock:tag:{k}")) {
            let mut pause = FIRST_PAUSE;
            loop {
                match take(&mut held.commands, &key, &held.token).await {
                    Attempt::Taken => break,
                    Attempt::Unreachable(e) => {
                        tracing::warn!(error = %e, "redis: tag locks unreachable; changing the tag under this replica's lock only");
                        return Ok(Box::new(held));
                    }
                    Attempt::Busy if Instant::now() >= deadline => {
                        return Err(format!("another replica has been changing {key} for too long; try again"));
                    }
                    Attempt::Busy => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(MAX_PAUSE);
                    }
                }
            }
            held.keys.push(key);
        }
        Ok(Box::new(held))
    }
}

async fn take(commands: &mut ConnectionManager, key: &str, token: &str) -> Attempt {
    let mut set = redis::cmd("SET");
    set.arg(key).arg(token).arg("NX").arg("PX").arg(LEASE.as_millis() as u64);
    match set.query_async::<Option<String>>(commands).await {
        Ok(Some(_)) => Attempt::Taken,
        Ok(None) => Attempt::Busy,
        Err(e) => Attempt::Unreachable(e),
    }
}
