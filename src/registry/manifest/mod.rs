//! Manifests: validated on push, stored byte-exact as blobs, made part of a
//! repository by a revision link and named by tags.

pub mod media_type;
pub mod parse;

use bytes::Bytes;
use futures_util::future::try_join_all;

use self::media_type::Kind;
use super::{Algorithm, Digest, Reference, RegistryError, RepoName, Tag, layout};

/// A manifest as served.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// The media type to serve it as.
    pub media_type: String,
    /// The bytes, exactly as pushed.
    pub body: Bytes,
}

/// A manifest whose bytes are to be stored, and what its links need.
struct Stored<'a> {
    digest: &'a Digest,
    subject: Option<&'a Digest>,
    /// When its references were claimed.
    claimed: std::time::Instant,
    /// The user, for the tag's history.
    by: &'a str,
}

/// The outcome of a push.
#[derive(Debug, Clone)]
pub struct PutManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its subject, when it has one (answered as `OCI-Subject`).
    pub subject: Option<Digest>,
}

impl super::Registry {
    /// Validates and stores a manifest, then points the tag at it; `by`
    /// (the user, or empty) goes into the tag's history.
    pub async fn put_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
        by: &str,
    ) -> Result<PutManifest, RegistryError> {
        let limit = self.options.max_manifest_size;
        if body.len() > limit {
            return Err(RegistryError::ManifestInvalid(format!("manifest larger than {limit} bytes")));
        }
        let manifest = parse::parse(&body, content_type).map_err(RegistryError::ManifestInvalid)?;
        let digest = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &body);
                if &actual != expected {
                    return Err(RegistryError::DigestInvalid(format!(
                        "manifest digest {actual} does not match {expected} in the URL"
                    )));
                }
                actual
            }
            Reference::Tag(_) => Digest::of(Algorithm::Sha256, &body),
        };
        if let Reference::Tag(tag) = reference {
            // Before anything is stored: a refused push leaves nothing
            // behind. `push_tag` checks again under the tag's lock.
            let current = self.read_link(&layout::tag_current(name, tag)).await?;
            self.check_mutable(name, tag, (current.as_ref(), Some(&digest)), "push")?;
        }
        let started = std::time::Instant::now();
        self.check_references(name, &manifest).await?;
        // Before the repository can exist: the index may name a repository
        // whose push then fails, never miss one that exists.
        self.index_repository(name).await?;
        let subject = manifest.subject.map(|s| s.digest);
        let stored = Stored { digest: &digest, subject: subject.as_ref(), claimed: started, by };
        let stored = self.store_manifest(name, reference, stored, body).await;
        // After the writes, failed ones too: they may have created the
        // repository or moved a tag.
        self.listings.forget(name);
        stored.map(|()| PutManifest { digest, subject })
    }

    async fn store_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        stored: Stored<'_>,
        body: Bytes,
    ) -> Result<(), RegistryError> {
        let Stored { digest, subject, claimed, by } = stored;
        // Bytes first, links after: a crash in between leaves an unreferenced
        // blob for garbage collection, never a link to nothing. Bytes already
        // stored are claimed, as the references were.
        if !self.claim_now(&layout::blob_data(digest)).await? {
            self.driver.put(&layout::blob_data(digest), body).await?;
        }
        // The claims protect the references for half the grace period from
        // when they were made; past that a collection may have started that
        // neither sees this manifest nor spares its references.
        if self.claim_window().is_some_and(|window| claimed.elapsed() >= window) {
            return Err(RegistryError::Unavailable("manifest push took too long; retry it".into()));
        }
        self.write_link(&layout::revision_link(name, digest), digest).await?;
        if let Some(subject) = subject {
            self.write_link(&layout::referrer_link(name, subject, digest), digest).await?;
        }
        if let Reference::Tag(tag) = reference {
            self.push_tag(name, tag, digest, by).await?;
        }
        Ok(())
    }

    /// Every blob and child manifest must already be in the repository, with
    /// the size the manifest claims.
    async fn check_references(&self, name: &RepoName, manifest: &parse::Manifest) -> Result<(), RegistryError> {
        let checks = manifest.config.iter().chain(&manifest.references).map(|d| async move {
            let size = match manifest.kind {
                Kind::Image => self.stat_blob(name, &d.digest).await.map(|b| b.size),
                Kind::Index => self.stat_child(name, &d.digest).await,
            };
            match size {
                Ok(size) if size == d.size => Ok(()),
                Ok(size) => Err(RegistryError::ManifestInvalid(format!(
                    "descriptor {} says {} bytes, the stored content has {size}",
                    d.digest, d.size
                ))),
                Err(RegistryError::BlobUnknown(_) | RegistryError::ManifestUnknown(_)) => {
                    Err(RegistryError::ManifestBlobUnknown(d.digest.clone()))
                }
                Err(e) => Err(e),
            }
        });
        try_join_all(checks).await.map(drop)
    }

    /// Size of a child manifest of an index, after claiming it and all it
    /// references.
    async fn stat_child(&self, name: &RepoName, digest: &Digest) -> Result<u64, RegistryError> {
        let unknown = || RegistryError::ManifestUnknown(digest.to_string());
        let size = self.linked(&layout::revision_link(name, digest), digest).await?.ok_or_else(unknown)?;
        if self.claim_window().is_some() && !self.claim_manifest(name, digest).await? {
            return Err(unknown());
        }
        Ok(size)
    }

    /// The digest a reference names in a repository.
    pub async fn resolve(&self, name: &RepoName, reference: &Reference) -> Result<Digest, RegistryError> {
        match reference {
            Reference::Tag(tag) => self
                .read_link(&layout::tag_current(name, tag))
                .await?
                .ok_or_else(|| RegistryError::ManifestUnknown(tag.to_string())),
            Reference::Digest(d) => Ok(d.clone()),
        }
    }

    /// Reads a manifest by tag or digest.
    pub async fn get_manifest(&self, name: &RepoName, reference: &Reference) -> Result<StoredManifest, RegistryError> {
        if let Some(proxy) = &self.proxy {
            return self.proxied_manifest(proxy, name, reference).await;
        }
        let digest = self.resolve(name, reference).await?;
        self.read_manifest(name, &digest).await
    }

    pub(super) async fn read_manifest(
        &self,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<StoredManifest, RegistryError> {
        let unknown = || RegistryError::ManifestUnknown(digest.to_string());
        if self.read_link(&layout::revision_link(name, digest)).await?.as_ref() != Some(digest) {
            return Err(unknown());
        }
        let body = match self.driver.get(&layout::blob_data(digest)).await {
            Ok(body) => body,
            Err(e) if e.is_not_found() => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        Ok(StoredManifest { digest: digest.clone(), media_type: parse::served_media_type(&body), body })
    }

    /// Deletes a tag (by tag), or a manifest and every tag pointing at it
    /// (by digest). Returns the tags deleted.
    pub async fn delete_manifest(&self, name: &RepoName, reference: &Reference) -> Result<Vec<Tag>, RegistryError> {
        self.require_delete()?;
        let deleted = self.remove_manifest(name, reference).await;
        self.listings.forget(name);
        deleted
    }

    async fn remove_manifest(&self, name: &RepoName, reference: &Reference) -> Result<Vec<Tag>, RegistryError> {
        match reference {
            Reference::Tag(tag) => {
                self.resolve(name, reference).await?;
                self.delete_tags(name, std::slice::from_ref(tag)).await?;
                Ok(vec![tag.clone()])
            }
            Reference::Digest(digest) => {
                self.read_manifest(name, digest).await?;
                let tags = self.tags_pointing_at(name, digest).await?;
                self.delete_tags(name, &tags).await?;
                self.driver.delete(&layout::revision_dir(name, digest)).await?;
                self.forget_referrer(name, digest).await?;
                Ok(tags)
            }
        }
    }

    async fn tags_pointing_at(&self, name: &RepoName, digest: &Digest) -> Result<Vec<Tag>, RegistryError> {
        let mut tags = Vec::new();
        for tag in self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)) {
            if self.read_link(&layout::tag_current(name, &tag)).await?.as_ref() == Some(digest) {
                tags.push(tag);
            }
        }
        Ok(tags)
    }
}
