//! The cache's `ttl`: tags, manifests and layer links stored longer ago
//! than the ttl are removed, and then garbage collection takes the bytes no
//! link names any more. What is pulled again is fetched again.
//!
//! A link's age is its file's modification time: when it was cached, or
//! last claimed (`claim.rs` renews content that pulls rely on).

use std::time::SystemTime;

use crate::registry::{GcOptions, Registry, RegistryError, RepoName, Tag, layout};

/// What one expiry pass removed.
#[derive(Debug, Clone, Default)]
pub struct Expired {
    /// Tags removed.
    pub tags: usize,
    /// Manifest revisions removed.
    pub manifests: usize,
    /// Layer links removed.
    pub layers: usize,
    /// Blobs garbage collection removed afterwards.
    pub blobs: usize,
}

impl Registry {
    /// Removes cached content older than `cutoff`, then collects the bytes
    /// nothing links any more.
    pub async fn expire_cached(&self, cutoff: SystemTime) -> Result<Expired, RegistryError> {
        let mut expired = Expired::default();
        for name in self.repositories().await?.iter() {
            let Ok(name) = RepoName::parse(name) else { continue };
            self.expire_repository(&name, cutoff, &mut expired).await?;
            self.listings.forget(&name);
        }
        let gc = GcOptions { dry_run: false, delete_untagged: false, grace: self.options.grace };
        expired.blobs = self.garbage_collect(gc, drop).await?.blobs.len();
        Ok(expired)
    }

    async fn expire_repository(
        &self,
        name: &RepoName,
        cutoff: SystemTime,
        expired: &mut Expired,
    ) -> Result<(), RegistryError> {
        for tag in self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)) {
            if self.older(&layout::tag_current(name, &tag), cutoff).await? {
                self.driver.delete(&layout::tag_dir(name, &tag)).await?;
                expired.tags += 1;
            }
        }
        for digest in self.digests_in(&layout::revisions(name)).await? {
            if self.older(&layout::revision_link(name, &digest), cutoff).await? {
                self.driver.delete(&layout::revision_dir(name, &digest)).await?;
                expired.manifests += 1;
            }
        }
        for digest in self.digests_in(&layout::layers(name)).await? {
            if self.older(&layout::layer_link(name, &digest), cutoff).await? {
                self.driver.delete(&layout::layer_dir(name, &digest)).await?;
                expired.layers += 1;
            }
        }
        Ok(())
    }

    /// Whether a link was last written before `cutoff` (a missing one is
    /// not), read uncached: the age must be the file's own.
    async fn older(&self, path: &str, cutoff: SystemTime) -> Result<bool, RegistryError> {
        match self.uncached.stat(path).await {
            Ok(stat) => Ok(stat.modified < cutoff),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
