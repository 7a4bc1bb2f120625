//! Claims: how a push tells garbage collection that content is in use.
//!
//! Collection spares everything modified within its grace period of the
//! moment it started (see `gc.rs` and ARCHITECTURE.md, "Garbage
//! collection"). So before a push relies on stored content — a blob it was
//! told exists, a blob or child manifest its manifest references, bytes it
//! found already stored — it makes sure that content was modified within
//! half the grace period, touching it when it was not. A touch doubles as
//! the existence check: it fails when a sweep has taken the content.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::{Digest, RegistryError, RepoName, layout};
use crate::storage::Stat;

/// How deep a claim follows indexes of indexes.
const MAX_DEPTH: usize = 8;

/// The digests a stored manifest points at, read leniently: any manifest
/// distribution may have stored (schema1 included) names its blobs here.
#[derive(Default)]
pub(super) struct References {
    blobs: Vec<Digest>,
    manifests: Vec<Digest>,
    subject: Option<Digest>,
}

impl References {
    /// Parses a manifest; anything unreadable references nothing. It is
    /// read through a `Value`, as validation reads it: a key given twice
    /// counts the last time (a struct would refuse the whole body, and the
    /// blobs it names would go), and an entry of an odd shape drops only
    /// itself.
    pub(super) fn of(body: &[u8]) -> Self {
        let manifest: Value = serde_json::from_slice(body).unwrap_or_default();
        let digests = |key: &str, field: &str| -> Vec<Digest> {
            let entries = match manifest.get(key) {
                Some(Value::Array(entries)) => entries.as_slice(),
                Some(one) => std::slice::from_ref(one),
                None => &[],
            };
            entries.iter().filter_map(|e| e.get(field)?.as_str()?.parse().ok()).collect()
        };
        let mut blobs = digests("config", "digest");
        blobs.extend(digests("layers", "digest"));
        blobs.extend(digests("fsLayers", "blobSum"));
        let subject = digests("subject", "digest").pop();
        References { blobs, manifests: digests("manifests", "digest"), subject }
    }

    /// The blobs: config and layers (or schema1's `fsLayers`).
    pub(super) fn blobs(&self) -> impl Iterator<Item = Digest> + '_ {
        self.blobs.iter().cloned()
    }

    /// The child manifests of an index.
    pub(super) fn manifests(&self) -> impl Iterator<Item = Digest> + '_ {
        self.manifests.iter().cloned()
    }

    /// The manifest this one refers to (`subject`), if any.
    pub(super) fn subject(&self) -> Option<&Digest> {
        self.subject.as_ref()
    }
}

impl super::Registry {
    /// Half the grace period: content modified more recently than this is
    /// claimed already. `None` when claims are off (no grace period, or a
    /// read-only registry, which has no pushes to protect).
    pub(super) fn claim_window(&self) -> Option<Duration> {
        Some(self.options.grace / 2).filter(|w| !w.is_zero())
    }

    /// Claims an object whose modification time is `modified`: touches it
    /// unless that is within the claim window. False when it is gone.
    pub(super) async fn claim(&self, path: &str, modified: SystemTime) -> Result<bool, RegistryError> {
        match self.claim_window() {
            Some(window) if modified.elapsed().unwrap_or_default() >= window => self.claim_now(path).await,
            _ => Ok(true),
        }
    }

    /// Touches an object, which also says whether it exists. A failure other
    /// than "missing" (a file berth may not write, left by another
    /// registry) must not fail the request: the object exists, and only the
    /// protection is lost, which the log says.
    pub(super) async fn claim_now(&self, path: &str) -> Result<bool, RegistryError> {
        match self.driver.touch(path).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => {
                tracing::warn!(path, error = %e, "cannot mark content as in use; garbage collection may not spare it");
                self.exists(path).await
            }
        }
    }

    /// Claims a manifest revision of a repository and everything it
    /// references, through indexes; false when any of it is gone.
    pub(super) async fn claim_manifest(&self, name: &RepoName, digest: &Digest) -> Result<bool, RegistryError> {
        let mut pending = vec![(digest.clone(), 0)];
        let mut seen = std::collections::HashSet::new();
        while let Some((digest, depth)) = pending.pop() {
            if !seen.insert(digest.clone()) || depth > MAX_DEPTH {
                continue;
            }
            if self.linked(&layout::revision_link(name, &digest), &digest).await?.is_none() {
                return Ok(false);
            }
            let body = match self.driver.get(&layout::blob_data(&digest)).await {
                Ok(body) => body,
                Err(e) if e.is_not_found() => return Ok(false),
                Err(e) => return Err(e.into()),
            };
            let refs = References::of(&body);
            for blob in refs.blobs() {
                if self.linked(&layout::layer_link(name, &blob), &blob).await?.is_none() {
                    return Ok(false);
                }
            }
            pending.extend(refs.manifests().map(|child| (child, depth + 1)));
        }
        Ok(true)
    }

    /// Size of the bytes of `digest` when the link at `link` names it and
    /// both exist, after claiming both; `None` when either is missing.
    pub(super) async fn linked(&self, link: &str, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let Some((link_stat, data_stat)) = self.link_stats(link, digest).await? else {
            return Ok(None);
        };
        // The bytes first: when a sweep took them after the stats, the link
        // is left as old as it was, for the same collection to remove,
        // instead of being renewed into a link to nothing.
        let data = layout::blob_data(digest);
        let claimed = self.claim(&data, data_stat.modified).await? && self.claim(link, link_stat.modified).await?;
        Ok(claimed.then_some(data_stat.size))
    }

    /// Size of the bytes of `digest` when the link at `link` names it and
    /// both exist, claiming nothing: for reads that make no reference (a
    /// pull), which must not pay for a touch (on S3, a copy and a second).
    pub(super) async fn linked_unclaimed(&self, link: &str, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        Ok(self.link_stats(link, digest).await?.map(|(_, data)| data.size))
    }

    /// The stats of a link that names `digest` and of the bytes it names;
    /// `None` when the link names something else or either is missing.
    async fn link_stats(&self, link: &str, digest: &Digest) -> Result<Option<(Stat, Stat)>, RegistryError> {
        if self.read_link(link).await?.as_ref() != Some(digest) {
            return Ok(None);
        }
        let data = layout::blob_data(digest);
        match (self.driver.stat(link).await, self.driver.stat(&data).await) {
            (Ok(l), Ok(d)) => Ok(Some((l, d))),
            (Err(e), _) | (_, Err(e)) if e.is_not_found() => Ok(None),
            (Err(e), _) | (_, Err(e)) => Err(e.into()),
        }
    }
}
