//! Manifests through the cache: a tag is re-checked with the upstream on
//! each pull (a HEAD), a digest is fetched once; the cached copy answers
//! whenever the upstream cannot.

use bytes::Bytes;

use super::Proxy;
use crate::registry::{
    Digest, Reference, Registry, RegistryError, RepoName, StoredManifest, Tag, claim::References, layout,
    manifest::parse,
};

impl Registry {
    /// Reads a manifest in proxy mode.
    pub(in crate::registry) async fn proxied_manifest(
        &self,
        proxy: &Proxy,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest, RegistryError> {
        let digest = match reference {
            Reference::Digest(digest) => digest.clone(),
            Reference::Tag(tag) => match proxy.remote.resolve(name, tag).await {
                Ok(Some(digest)) => digest,
                // As distribution: a tag the upstream lost, or an upstream
                // that cannot answer, leaves the cached tag in service.
                Ok(None) => return self.cached_manifest(name, reference).await,
                Err(e) => {
                    tracing::warn!(repository = %name, %tag, error = %e, "upstream unreachable; serving the cached tag");
                    return self.cached_manifest(name, reference).await;
                }
            },
        };
        let manifest = match self.read_manifest(name, &digest).await {
            Err(RegistryError::ManifestUnknown(_)) => match self.fetch_manifest(proxy, name, &digest).await {
                Ok(manifest) => manifest,
                // The tag moved upstream, and its new manifest cannot be had:
                // the cached one is better than nothing.
                Err(e @ RegistryError::Unavailable(_)) if matches!(reference, Reference::Tag(_)) => {
                    tracing::warn!(repository = %name, %digest, error = %e, "serving the cached tag");
                    return self.cached_manifest(name, reference).await.map_err(|_| e);
                }
                Err(e) => return Err(e),
            },
            other => other?,
        };
        if let Reference::Tag(tag) = reference {
            self.cache_tag(name, tag, &digest).await?;
        }
        Ok(manifest)
    }

    async fn cached_manifest(&self, name: &RepoName, reference: &Reference) -> Result<StoredManifest, RegistryError> {
        let digest = self.resolve(name, reference).await?;
        self.read_manifest(name, &digest).await
    }

    /// Points the cached tag where the upstream's points, when it differs.
    async fn cache_tag(&self, name: &RepoName, tag: &Tag, digest: &Digest) -> Result<(), RegistryError> {
        if self.read_link(&layout::tag_current(name, tag)).await?.as_ref() != Some(digest) {
            self.push_tag(name, tag, digest, "").await?;
            self.listings.forget(name);
        }
        Ok(())
    }

    /// Fetches a manifest by digest, checks the bytes against it, and stores
    /// them as a push would (bytes, then revision link, then referrer link).
    /// Its blobs are fetched when they are pulled.
    async fn fetch_manifest(
        &self,
        proxy: &Proxy,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<StoredManifest, RegistryError> {
        let body = proxy.remote.manifest(name, digest).await?;
        let body = body.ok_or_else(|| RegistryError::ManifestUnknown(digest.to_string()))?;
        check_fetched(&body, digest, self.options.max_manifest_size)?;
        // As a push: the catalog index names the repository before it exists.
        self.index_repository(name).await?;
        if !self.claim_now(&layout::blob_data(digest)).await? {
            self.driver.put(&layout::blob_data(digest), body.clone()).await?;
        }
        self.write_link(&layout::revision_link(name, digest), digest).await?;
        if let Some(subject) = References::of(&body).subject() {
            self.write_link(&layout::referrer_link(name, subject, digest), digest).await?;
        }
        self.listings.forget(name);
        Ok(StoredManifest { digest: digest.clone(), media_type: parse::served_media_type(&body), body })
    }
}

/// An upstream's manifest is stored only when it is what was asked for.
fn check_fetched(body: &Bytes, digest: &Digest, limit: usize) -> Result<(), RegistryError> {
    if body.len() > limit {
        return Err(RegistryError::Unavailable(format!("upstream manifest {digest} is larger than {limit} bytes")));
    }
    let actual = Digest::of(digest.algorithm(), body);
    if &actual != digest {
        return Err(RegistryError::Unavailable(format!("upstream sent {actual} for manifest {digest}")));
    }
    Ok(())
}
