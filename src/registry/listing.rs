//! Memos of the listings that cost too much to rebuild per request: the
//! catalog (a walk of every repository directory) and each repository's
//! sorted tags.
//!
//! A memo is dropped by every write of this registry that can change it
//! (`forget`, called before the write is acknowledged), and trusted for
//! `TTL` otherwise, which bounds how long a change made by another process
//! on the same storage stays unseen. A listing built while a write happened
//! is served but not kept (the `generation` check), so a memo never holds
//! what a build raced past. One build runs at a time (`build`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use super::RepoName;

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

impl Listings {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for any build in progress; hold the guard while building.
    pub async fn build(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.building.lock().await
    }

    /// The generation to hand back to `keep_*` after building a listing.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The memoized catalog, if fresh.
    pub fn catalog(&self) -> Option<Names> {
        self.lock().catalog.as_ref().and_then(Memo::fresh)
    }

    /// The memoized tags of a repository, if fresh.
    pub fn tags(&self, name: &RepoName) -> Option<Names> {
        self.lock().tags.get(name).and_then(Memo::fresh)
    }

    /// Keeps a catalog built from storage read at `generation`.
    pub fn keep_catalog(&self, generation: u64, names: Names) {
        let mut state = self.lock();
        if state.generation == generation {
            state.catalog = Some(Memo { at: Instant::now(), names });
        }
    }

    /// Keeps a repository's tags read at `generation`.
    pub fn keep_tags(&self, generation: u64, name: &RepoName, names: Names) {
        let mut state = self.lock();
        if state.generation == generation {
            if state.tags.len() >= MAX_TAG_MEMOS {
                state.tags.clear();
            }
            state.tags.insert(name.clone(), Memo { at: Instant::now(), names });
        }
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
