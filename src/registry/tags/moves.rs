//! Moving tags: pointing tags at manifests the repository already has
//! (`berth tag copy|promote|rollback`), pushes by tag, and tag deletes.
//!
//! Every change of a tag takes that tag's lock, so a move that checks where
//! its tags point (compare-and-swap) and then writes cannot interleave with
//! another change of the same tags, in this process and, when replicas share
//! locks (`locks.rs`), in every replica. A move of several tags
//! takes all their locks, checks everything, and only then writes: all or
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::history::Via;
use crate::registry::{Digest, RegistryError, RepoName, Tag, layout};

/// Tags to point at manifests of one repository, at once.
#[derive(Debug, Clone)]
pub struct TagMoves {
    /// Where each tag is to point.
    pub set: BTreeMap<Tag, Digest>,
    /// Where tags must point now for the move to happen (`None`: nowhere).
    /// It may name tags not in `set`, such as a promotion's sources.
    pub expect: BTreeMap<Tag, Option<Digest>>,
    /// How, for the history.
    pub via: Via,
    /// Who, for the history.
    pub by: String,
}

/// A tag that was moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The tag.
    pub tag: Tag,
    /// Where it points now.
    pub digest: Digest,
    /// Where it pointed before, if it existed.
    pub previous: Option<Digest>,
}

impl crate::registry::Registry {
    /// Moves tags atomically with respect to every other tag change in
    /// this process: when a tag of `expect` points elsewhere, a tag of `set`
    /// is immutable, or a digest is not a manifest of the repository,
    /// nothing changes.
    pub async fn move_tags(&self, name: &RepoName, moves: TagMoves) -> Result<Vec<Moved>, RegistryError> {
        if !self.exists(&layout::manifests(name)).await? {
            return Err(RegistryError::NameUnknown(name.clone()));
        }
        let _locks = self.tag_locks.lock(name, moves.set.keys().chain(moves.expect.keys())).await?;
        for (tag, expected) in &moves.expect {
            let actual = self.read_link(&layout::tag_current(name, tag)).await?;
            if &actual != expected {
                return Err(RegistryError::TagMoved { tag: tag.clone(), expected: expected.clone(), actual });
            }
        }
        let mut planned = Vec::with_capacity(moves.set.len());
        for (tag, digest) in &moves.set {
            let previous = self.read_link(&layout::tag_current(name, tag)).await?;
            self.check_mutable(name, tag, (previous.as_ref(), Some(digest)), moves.via.as_str())?;
            planned.push(Moved { tag: tag.clone(), digest: digest.clone(), previous });
        }
        for digest in moves.set.values().collect::<BTreeSet<_>>() {
            self.claim_target(name, digest).await?;
        }
        let written = self.write_moves(name, &planned, &moves).await;
        self.listings.forget(name);
        written.map(|()| planned)
    }

    async fn write_moves(&self, name: &RepoName, planned: &[Moved], moves: &TagMoves) -> Result<(), RegistryError> {
        for moved in planned {
            self.write_tag(name, &moved.tag, &moved.digest, moves.via, &moves.by).await?;
        }
        Ok(())
    }

    /// Makes sure a manifest is in the repository and, while garbage
    /// collection may run, claims it and all it references.
    async fn claim_target(&self, name: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        let unknown = || RegistryError::ManifestUnknown(digest.to_string());
        if self.read_link(&layout::revision_link(name, digest)).await?.as_ref() != Some(digest) {
            return Err(unknown());
        }
        if self.claim_window().is_some() && !self.claim_manifest(name, digest).await? {
            return Err(unknown());
        }
        Ok(())
    }

    /// Points a tag at a stored manifest: the index entry and its history
    /// first, the current link last, so the tag is seen only once all is in
    /// place. The caller holds the tag's lock.
    pub(crate) async fn write_tag(
        &self,
        name: &RepoName,
        tag: &Tag,
        digest: &Digest,
        via: Via,
        by: &str,
    ) -> Result<(), RegistryError> {
        self.write_link(&layout::tag_index_link(name, tag, digest), digest).await?;
        self.record_set(name, tag, digest, via, by).await?;
        self.write_link(&layout::tag_current(name, tag), digest).await
    }

    /// Points a tag at a manifest as a push does, refusing when the tag is
    /// immutable and points elsewhere.
    pub(crate) async fn push_tag(
        &self,
        name: &RepoName,
        tag: &Tag,
        digest: &Digest,
        by: &str,
    ) -> Result<(), RegistryError> {
        let _lock = self.tag_locks.lock(name, [tag]).await?;
        let current = self.read_link(&layout::tag_current(name, tag)).await?;
        self.check_mutable(name, tag, (current.as_ref(), Some(digest)), "push")?;
        self.write_tag(name, tag, digest, Via::Push, by).await
    }

    /// Deletes a tag if it still points at `expected` and no rule makes it
    /// immutable; false (and nothing changed) otherwise.
    pub async fn delete_tag_if(&self, name: &RepoName, tag: &Tag, expected: &Digest) -> Result<bool, RegistryError> {
        let _lock = self.tag_locks.lock(name, [tag]).await?;
        let current = self.read_link(&layout::tag_current(name, tag)).await?;
        if current.as_ref() != Some(expected) || self.immutable_rule(name, tag).is_some() {
            return Ok(false);
        }
        self.driver.delete(&layout::tag_dir(name, tag)).await?;
        self.listings.forget(name);
        Ok(true)
    }

    /// Deletes tags (a tag DELETE, or those a manifest DELETE takes along),
    /// refusing all of them when one is immutable.
    pub(crate) async fn delete_tags(&self, name: &RepoName, tags: &[Tag]) -> Result<(), RegistryError> {
        let _locks = self.tag_locks.lock(name, tags).await?;
        for tag in tags {
            let current = self.read_link(&layout::tag_current(name, tag)).await?;
            self.check_mutable(name, tag, (current.as_ref(), None), "delete")?;
        }
        for tag in tags {
            self.driver.delete(&layout::tag_dir(name, tag)).await?;
        }
        Ok(())
    }
}
