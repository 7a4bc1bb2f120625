//! Tag locks: every change of a tag takes its lock first, so a
//! compare-and-swap and its writes are one step for every other change.
//!
//! In one process the locks are 64 striped mutexes. Replicas of one storage
//! also take a lock all of them see (`SharedLocks`, Redis), named by
//! repository and tag, after the local ones; a replica that cannot reach the
//! shared locks goes on with the local ones alone, so an outage costs the
//! cross-replica exclusion, never the write.

use std::{
    collections::BTreeSet,
    hash::{BuildHasher, RandomState},
    sync::Arc,
};

use async_trait::async_trait;
use tokio::sync::{Mutex, MutexGuard};

use crate::registry::{RegistryError, RepoName, Tag};

/// How many locks tags share in a process. A collision only makes two
/// unrelated tag changes wait for each other.
const STRIPES: usize = 64;

/// Locks that every replica of a storage sees.
#[async_trait]
pub trait SharedLocks: Send + Sync + 'static {
    /// Takes the locks named by `keys` (sorted, distinct, so two callers never
    /// deadlock) and returns a guard that releases them when dropped. Fails
    /// only when another replica holds one for too long; when the locks
    /// cannot be reached it returns a guard that holds nothing.
    async fn lock(&self, keys: Vec<String>) -> Result<Box<dyn Send + Sync>, String>;
}

/// The tag locks, by a hash of repository and tag.
pub(crate) struct TagLocks {
    stripes: Vec<Mutex<()>>,
    hasher: RandomState,
    shared: Option<Arc<dyn SharedLocks>>,
}

impl Default for TagLocks {
    fn default() -> Self {
        TagLocks { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(), hasher: RandomState::new(), shared: None }
    }
}

/// Held tag locks; dropping it releases them.
pub(crate) struct TagGuard<'a> {
    _local: Vec<MutexGuard<'a, ()>>,
    _shared: Option<Box<dyn Send + Sync>>,
}

impl TagLocks {
    /// Tag locks that replicas share through `shared`.
    pub(crate) fn shared(shared: Arc<dyn SharedLocks>) -> Self {
        TagLocks { shared: Some(shared), ..TagLocks::default() }
    }

    /// Locks every tag: the local stripes in stripe order, then the shared
    /// locks in name order.
    pub(crate) async fn lock<'a>(
        &self,
        name: &RepoName,
        tags: impl IntoIterator<Item = &'a Tag>,
    ) -> Result<TagGuard<'_>, RegistryError> {
        let tags: BTreeSet<&Tag> = tags.into_iter().collect();
        let stripes: BTreeSet<usize> =
            tags.iter().map(|tag| self.hasher.hash_one((name, tag)) as usize % STRIPES).collect();
        let mut local = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            local.push(self.stripes[stripe].lock().await);
        }
        let shared = match &self.shared {
            Some(shared) => {
                let keys = tags.iter().map(|tag| format!("{name}:{tag}")).collect();
                Some(shared.lock(keys).await.map_err(RegistryError::Unavailable)?)
            }
            None => None,
        };
        Ok(TagGuard { _local: local, _shared: shared })
    }
}
