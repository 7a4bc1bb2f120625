//! The referrers API: which manifests name a given manifest as `subject`.
//!
//! Pushing a manifest with a subject writes a link under
//! `_referrers/<subject>/<referrer>`; listing reads each referrer manifest to
//! describe it. A referrer whose revision is gone is skipped.
//!
//! The index holds nothing the manifests do not: the first listing in a
//! repository scans every manifest revision for subjects and then writes
//! `_referrers/indexed`. That picks up manifests pushed through distribution
//! (or through clients' fallback tags) before berth served the tree; deleting
//! `_referrers` makes berth rebuild it.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Digest, RegistryError, RepoName, layout, manifest::parse};

/// One entry of a referrers index.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    /// The referrer manifest's media type.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Its artifact type (or config media type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Its annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
}

impl super::Registry {
    /// The manifests of a repository whose subject is `subject`, optionally
    /// only those of one artifact type, ordered by digest.
    pub async fn referrers(
        &self,
        name: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, RegistryError> {
        self.ensure_referrers_index(name).await?;
        let mut digests = self.digests_in(&layout::referrers_dir(name, subject)).await?;
        digests.sort();
        let mut found = Vec::new();
        for digest in digests {
            let stored = match self.read_manifest(name, &digest).await {
                Ok(m) => m,
                Err(RegistryError::ManifestUnknown(_)) => continue,
                Err(e) => return Err(e),
            };
            let Ok(manifest) = parse::parse(&stored.body, Some(&stored.media_type)) else { continue };
            if artifact_type.is_some_and(|want| manifest.artifact_type.as_deref() != Some(want)) {
                continue;
            }
            found.push(Referrer {
                media_type: stored.media_type,
                digest: digest.to_string(),
                size: stored.body.len() as u64,
                artifact_type: manifest.artifact_type,
                annotations: manifest.annotations,
            });
        }
        Ok(found)
    }

    /// Drops a manifest from the referrers index of its subject (when it has
    /// one), as it leaves the repository.
    pub(super) async fn forget_referrer(&self, name: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        let body = match self.driver.get(&layout::blob_data(digest)).await {
            Ok(body) => body,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let media_type = parse::served_media_type(&body);
        if let Ok(parse::Manifest { subject: Some(subject), .. }) = parse::parse(&body, Some(&media_type)) {
            self.driver.delete(&layout::referrer_link(name, &subject.digest, digest)).await?;
        }
        Ok(())
    }

    /// Indexes the subjects of every manifest revision, once per repository.
    async fn ensure_referrers_index(&self, name: &RepoName) -> Result<(), RegistryError> {
        let marker = layout::referrers_indexed(name);
        // Nothing to index in a repository without manifests, and a GET
        // must not create one.
        if self.exists(&marker).await? || !self.exists(&layout::manifests(name)).await? {
            return Ok(());
        }
        for digest in self.digests_in(&layout::revisions(name)).await? {
            let stored = match self.read_manifest(name, &digest).await {
                Ok(m) => m,
                Err(RegistryError::ManifestUnknown(_)) => continue,
                Err(e) => return Err(e),
            };
            if let Ok(parse::Manifest { subject: Some(subject), .. }) =
                parse::parse(&stored.body, Some(&stored.media_type))
            {
                self.write_link(&layout::referrer_link(name, &subject.digest, &digest), &digest).await?;
            }
        }
        Ok(self.driver.put(&marker, Default::default()).await?)
    }
}
