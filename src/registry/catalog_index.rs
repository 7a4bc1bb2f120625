//! The catalog index: one small object per repository, so the catalog is a
//! single listing of one directory instead of a walk of every repository
//! directory (on S3, a walk is a listing per directory level of every
//! repository: distribution's `_catalog` takes minutes on a large bucket).
//!
//! It is on where walks are costly (`berth.catalog.index`, by default for
//! object storage). It lives outside distribution's tree (`berth/catalog/`),
//! which distribution never reads. Entries are added before a repository's first
//! manifest is stored and removed after a repository delete, so the index
//! may briefly name a repository whose push failed, never miss one berth
//! created. Other writers of the same storage (distribution, `rm -R`) are
//! caught up by `reconcile_catalog_index`: the first catalog request starts
//! a build in the background (it is served by a walk meanwhile), and the
//! server reconciles every `berth.catalog.reconcile`. Garbage collection and retention never read the index:
//! they walk the tree, which is the truth.

use std::{
    collections::{BTreeSet, HashSet},
    sync::{Mutex, MutexGuard},
    time::SystemTime,
};

use super::{RegistryError, RepoName, layout};
use crate::storage::Forget;

/// The repositories this process has seen named by the index, so a push
/// writes its entry once per process, not once per manifest. Another replica
/// deleting a repository removes its entry; the announcement of that drops
/// the memo here too, so the repository's next push writes it again.
#[derive(Default)]
pub(super) struct Indexed(Mutex<HashSet<RepoName>>);

impl Indexed {
    fn set(&self) -> MutexGuard<'_, HashSet<RepoName>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Forget for Indexed {
    fn changed(&self, path: &str) {
        if path.starts_with(&layout::catalog_index()) {
            self.set().clear();
        }
    }

    fn clear(&self) {
        self.set().clear();
    }
}

impl super::Registry {
    /// Every repository the index names, unsorted; `None` when the index is
    /// off, or not built yet (a build then starts in the background).
    pub(super) async fn indexed_repositories(&self) -> Result<Option<Vec<String>>, RegistryError> {
        if !self.options.catalog_index {
            return Ok(None);
        }
        if !self.exists(&layout::catalog_index_built()).await? {
            self.start_index_build();
            return Ok(None);
        }
        let entries = self.list_or_empty(&layout::catalog_index()).await?;
        Ok(Some(entries.iter().filter_map(|e| layout::catalog_entry_name(e)).map(|n| n.to_string()).collect()))
    }

    fn start_index_build(&self) {
        if self.index_started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let registry = self.clone();
        tokio::spawn(async move {
            if let Err(e) = registry.reconcile_catalog_index().await {
                tracing::warn!(error = %e, "building the catalog index failed; the catalog walks the tree");
                registry.index_started.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }

    /// Makes sure the index names a repository; a write only the first time
    /// this process sees it.
    pub(super) async fn index_repository(&self, name: &RepoName) -> Result<(), RegistryError> {
        if !self.options.catalog_index {
            return Ok(());
        }
        if self.indexed.set().contains(name) {
            return Ok(());
        }
        self.driver.put(&layout::catalog_entry(name), bytes::Bytes::new()).await?;
        self.indexed.set().insert(name.clone());
        Ok(())
    }

    /// Drops a deleted repository from the index.
    pub(super) async fn unindex_repository(&self, name: &RepoName) -> Result<(), RegistryError> {
        if !self.options.catalog_index {
            return Ok(());
        }
        self.indexed.set().remove(name);
        Ok(self.driver.delete_all(&[layout::catalog_entry_dir(name)]).await?)
    }

    /// Brings the index in line with the tree: adds every repository the
    /// walk finds, removes entries of repositories it does not find that
    /// were written before it started (a younger one may be a push the walk
    /// raced past), then marks the index built. Returns (added, removed).
    pub async fn reconcile_catalog_index(&self) -> Result<(usize, usize), RegistryError> {
        let started = SystemTime::now();
        let view = super::Registry { driver: self.uncached.clone(), ..self.clone() };
        let found: BTreeSet<String> = view.walk_repositories().await?.into_iter().collect();
        let listed = view.list_or_empty(&layout::catalog_index()).await?;
        let indexed: BTreeSet<String> =
            listed.iter().filter_map(|e| layout::catalog_entry_name(e)).map(|n| n.to_string()).collect();
        let mut added = 0;
        for name in found.difference(&indexed).filter_map(|n| RepoName::parse(n).ok()) {
            self.driver.put(&layout::catalog_entry(&name), bytes::Bytes::new()).await?;
            added += 1;
        }
        let gone: Vec<String> = indexed
            .difference(&found)
            .filter_map(|n| RepoName::parse(n).ok())
            .map(|n| layout::catalog_entry_dir(&n))
            .collect();
        let removed = self.driver.delete_stale(&gone, layout::CATALOG_ENTRY, started).await?;
        self.driver.put(&layout::catalog_index_built(), bytes::Bytes::new()).await?;
        self.listings.forget_catalog();
        Ok((added, removed.iter().filter(|r| **r).count()))
    }
}
