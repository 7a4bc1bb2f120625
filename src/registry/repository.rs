//! Deleting a whole repository: what `rm -R repositories/<name>` did in the
//! seeds' cleanup workflow, done through the driver so caches and memos
//! stay true, and without touching nested repositories.
//!
//! Repositories nest on disk: `repositories/a/` holds `a`'s `_manifests`,
//! `_layers`, `_uploads` and `_referrers`, and also the directory of `a/b`.
//! So only those `_`-prefixed directories are removed, never the repository
//! directory itself. Blob bytes stay, as other repositories may share them;
//! garbage collection reclaims the ones nothing references any more.

use super::{RegistryError, RepoName, Tag, layout};

/// The directories a repository owns, the ones berth and distribution write.
fn owned_dirs(name: &RepoName) -> [String; 4] {
    [layout::manifests(name), layout::layers(name), layout::uploads(name), layout::referrers(name)]
}

impl super::Registry {
    /// Removes a repository's tags, manifest revision links, layer links,
    /// referrers index and upload sessions. Nested repositories (`a/b` under
    /// `a`) and blob bytes stay. `NameUnknown` when the repository holds none
    /// of those, so a half-pushed repository (layers, no manifest) can still
    /// be cleaned up although the catalog does not list it. A repository
    /// holding an immutable tag stays whole.
    pub async fn delete_repository(&self, name: &RepoName) -> Result<(), RegistryError> {
        self.require_delete()?;
        let mut present = Vec::new();
        for dir in owned_dirs(name) {
            if self.exists(&dir).await? {
                present.push(dir);
            }
        }
        if present.is_empty() {
            return Err(RegistryError::NameUnknown(name.clone()));
        }
        let tags: Vec<Tag> =
            self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)).collect();
        let _locks = self.tag_locks.lock(name, &tags).await?;
        for tag in &tags {
            let current = self.read_link(&layout::tag_current(name, tag)).await?;
            self.check_mutable(name, tag, (current.as_ref(), None), "delete")?;
        }
        // Listed before the delete: once the directory is gone, nothing says
        // which in-memory hash states belonged to this repository.
        let sessions = self.list_or_empty(&layout::uploads(name)).await?;
        let deleted = match self.driver.delete_all(&present).await {
            Ok(()) => self.unindex_repository(name).await,
            Err(e) => Err(e.into()),
        };
        for id in &sessions {
            self.uploads.forget(id);
        }
        // After the writes, failed ones too: part of the repository may be gone.
        self.listings.forget(name);
        deleted
    }
}
