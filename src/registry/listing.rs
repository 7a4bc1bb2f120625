//! Memos of the listings that cost too much to rebuild per request: the
//! catalog (a walk of every repository directory) and each repository's
//! sorted tags.
//!
//! A memo is dropped by every write of this registry that can change it
//! (`forget`, called before the write is acknowledged), and trusted for
//! `TTL` otherwise, which bounds how long a change made by another process
//! on the same storage stays unseen. A listing built while a write happened
//! is served but not kept (the `generation` check), so a memo never holds
//! what a build raced past. One build runs at a time.
//!
//! Replicas sharing a channel (`storage::Peers`) drop the memos the other
//! replicas' writes change as they are announced (`Forget`), and keep none
//! while the channel is down.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use super::{RegistryError, RepoName, layout};
use crate::storage::{Alone, Forget, Peers};

/// How long a memo is trusted when this registry wrote nothing to it.
const TTL: Duration = Duration::from_secs(1);

/// Bound on the repositories whose tags are kept.
const MAX_TAG_MEMOS: usize = 1024;

/// Sorted names, shared by the requests that page through them.
pub type Names = Arc<[String]>;

/// The memos of one registry.
pub struct Listings {
    state: Mutex<State>,
    peers: Arc<dyn Peers>,
    /// Held while a listing is built from storage: when a memo expires under
    /// load, one request rebuilds it and the others wait for that instead of
    /// each walking the storage and holding its own copy.
    building: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// Bumped by every `forget`.
    generation: u64,
    catalog: Option<Memo>,
    tags: HashMap<RepoName, Memo>,
}

struct Memo {
    at: Instant,
    names: Names,
}

impl Memo {
    fn fresh(&self) -> Option<Names> {
        (self.at.elapsed() < TTL).then(|| self.names.clone())
    }
}

/// Which listing a memo holds.
pub enum Listing<'a> {
    /// Every repository.
    Catalog,
    /// One repository's tags.
    Tags(&'a RepoName),
}

impl Default for Listings {
    fn default() -> Self {
        Listings::new(Arc::new(Alone))
    }
}

impl Listings {
    /// Memos that are only trusted while `peers` is in sync.
    pub fn new(peers: Arc<dyn Peers>) -> Self {
        Listings { state: Mutex::default(), peers, building: tokio::sync::Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The listing from its memo while fresh; otherwise from `build` (one
    /// build at a time), kept unless a write happened while it ran.
    pub async fn get_or_build(
        &self,
        which: Listing<'_>,
        build: impl Future<Output = Result<Vec<String>, RegistryError>>,
    ) -> Result<Names, RegistryError> {
        if let Some(names) = self.fresh(&which) {
            return Ok(names);
        }
        let _building = self.building.lock().await;
        if let Some(names) = self.fresh(&which) {
            return Ok(names);
        }
        let generation = self.lock().generation;
        let names: Names = build.await?.into();
        self.keep(generation, &which, names.clone());
        Ok(names)
    }

    fn fresh(&self, which: &Listing<'_>) -> Option<Names> {
        if !self.peers.in_sync() {
            return None;
        }
        let state = self.lock();
        let memo = match which {
            Listing::Catalog => state.catalog.as_ref(),
            Listing::Tags(name) => state.tags.get(*name),
        };
        memo.and_then(Memo::fresh)
    }

    fn keep(&self, generation: u64, which: &Listing<'_>, names: Names) {
        let mut state = self.lock();
        if state.generation != generation || !self.peers.in_sync() {
            return;
        }
        let memo = Memo { at: Instant::now(), names };
        match which {
            Listing::Catalog => state.catalog = Some(memo),
            Listing::Tags(name) => {
                if state.tags.len() >= MAX_TAG_MEMOS {
                    state.tags.clear();
                }
                state.tags.insert((*name).clone(), memo);
            }
        }
    }

    /// Drops the catalog's memo.
    pub fn forget_catalog(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.catalog = None;
    }

    /// Drops what a write to a repository can change: its tags and the
    /// catalog (the write may create or remove the repository).
    pub fn forget(&self, name: &RepoName) {
        let mut state = self.lock();
        state.generation += 1;
        state.catalog = None;
        state.tags.remove(name);
    }
}

impl Forget for Listings {
    /// A change under a repository's `_manifests` (tags, revisions) changes
    /// its tags and maybe the catalog; a change above the repositories' own
    /// directories (a repository deleted whole) may change anything; blobs,
    /// layer links and uploads change no listing.
    fn changed(&self, path: &str) {
        let Some(rest) = path.strip_prefix(&layout::repositories()) else {
            if layout::repositories().starts_with(path) {
                self.clear();
            }
            return;
        };
        let rest = rest.trim_start_matches('/');
        let repo = match rest.find("/_") {
            Some(end) if rest[end..].starts_with("/_manifests") => &rest[..end],
            Some(_) => return,
            None => return self.clear(),
        };
        match RepoName::parse(repo) {
            Ok(name) => self.forget(&name),
            Err(_) => self.clear(),
        }
    }

    fn clear(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.catalog = None;
        state.tags.clear();
    }
}
