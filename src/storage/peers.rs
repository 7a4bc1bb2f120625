//! The other replicas serving the same storage, as the read cache sees them.
//!
//! A replica's cache stays right only if it hears of every change the others
//! make. `Peers` carries the changes a cache makes to the others (`changed`,
//! awaited before the write is acknowledged) and says whether this replica
//! hears theirs (`in_sync`). While it does not, the cache answers nothing from
//! memory: an outage of the channel costs speed, never a stale answer.

use std::sync::Arc;

use async_trait::async_trait;

/// The channel between the replicas of one storage.
#[async_trait]
pub trait Peers: Send + Sync + 'static {
    /// Tells the other replicas that these paths changed. Returns once they
    /// were told, or once telling them failed (then they are out of sync
    /// themselves, and the failure is logged, not returned: the write stands).
    async fn changed(&self, paths: &[String]);

    /// True while every change another replica makes reaches this one.
    fn in_sync(&self) -> bool;
}

/// One replica alone: nobody to tell, nothing to miss.
pub struct Alone;

#[async_trait]
impl Peers for Alone {
    async fn changed(&self, _paths: &[String]) {}

    fn in_sync(&self) -> bool {
        true
    }
}

/// A listener for the changes other replicas announce: what a cache (or a
/// memo) must drop when one arrives, or when the channel was lost and
/// anything may have changed.
pub trait Forget: Send + Sync + 'static {
    /// Another replica changed `path`.
    fn changed(&self, path: &str);

    /// Changes may have been missed: drop everything.
    fn clear(&self);
}

/// Several listeners as one.
#[derive(Clone, Default)]
pub struct Listeners(pub Vec<Arc<dyn Forget>>);

impl Forget for Listeners {
    fn changed(&self, path: &str) {
        self.0.iter().for_each(|l| l.changed(path));
    }

    fn clear(&self) {
        self.0.iter().for_each(|l| l.clear());
    }
}
