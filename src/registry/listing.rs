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

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use super::{RegistryError, RepoName};

/// How long a memo is trusted when this registry wrote nothing to it.
const TTL: Duration = Duration::from_secs(1);

/// Bound on the repositories whose tags are kept.
const MAX_TAG_MEMOS: usize = 1024;

/// Sorted names, shared by the requests that page through them.
pub type Names = Arc<[String]>;

/// The memos of one registry.
#[derive(Default)]
pub struct Listings {
    state: Mutex<State>,
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

impl Listings {
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
        let state = self.lock();
        let memo = match which {
            Listing::Catalog => state.catalog.as_ref(),
            Listing::Tags(name) => state.tags.get(*name),
        };
        memo.and_then(Memo::fresh)
    }

    fn keep(&self, generation: u64, which: &Listing<'_>, names: Names) {
        let mut state = self.lock();
        if state.generation != generation {
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
