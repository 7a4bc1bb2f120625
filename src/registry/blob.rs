//! Blobs: content-addressed bytes, shared by every repository and made part
//! of one by a link under `_layers`.

use super::{ByteStream, Digest, RegistryError, RepoName, layout};

/// What a client needs to serve a blob.
#[derive(Debug, Clone)]
pub struct BlobInfo {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

impl super::Registry {
    /// Size of a blob if the repository has it. A client that is told a
    /// blob exists may skip uploading it, so this claims it (`claim.rs`).
    pub async fn stat_blob(&self, name: &RepoName, digest: &Digest) -> Result<BlobInfo, RegistryError> {
        self.find_blob(name, digest, true).await
    }

    /// Size of a blob being pulled. A pull makes no reference to it, so
    /// nothing is claimed: pulls of old content cost no touch.
    pub async fn stat_blob_for_pull(&self, name: &RepoName, digest: &Digest) -> Result<BlobInfo, RegistryError> {
        self.find_blob(name, digest, false).await
    }

    async fn find_blob(&self, name: &RepoName, digest: &Digest, claim: bool) -> Result<BlobInfo, RegistryError> {
        let link = layout::layer_link(name, digest);
        let size = if claim { self.linked(&link, digest).await? } else { self.linked_unclaimed(&link, digest).await? };
        match (size, &self.proxy) {
            (Some(size), _) => Ok(BlobInfo { digest: digest.clone(), size }),
            (None, Some(proxy)) => self.proxied_stat(proxy, name, digest).await,
            (None, None) => Err(RegistryError::BlobUnknown(digest.clone())),
        }
    }

    /// Streams `len` bytes from `start` of a blob of a repository (`info`
    /// from `stat_blob`). In proxy mode a blob the cache lacks is fetched
    /// from the upstream, once however many pulls ask for it.
    pub async fn pull_blob(
        &self,
        name: &RepoName,
        info: &BlobInfo,
        start: u64,
        len: u64,
    ) -> Result<ByteStream, RegistryError> {
        if let Some(proxy) = &self.proxy
            && self.linked_unclaimed(&layout::layer_link(name, &info.digest), &info.digest).await?.is_none()
        {
            return self.proxied_read(proxy, name, info, (start, len)).await;
        }
        self.read_blob(&info.digest, start, len).await
    }

    /// Streams `len` bytes of a blob from `offset`.
    pub async fn read_blob(&self, digest: &Digest, offset: u64, len: u64) -> Result<ByteStream, RegistryError> {
        self.driver
            .reader(&layout::blob_data(digest), offset, Some(len))
            .await
            .map_err(|e| if e.is_not_found() { RegistryError::BlobUnknown(digest.clone()) } else { e.into() })
    }

    /// Where a client may fetch a blob's bytes from the storage itself
    /// (`storage.redirect`), or `None` when redirects are off or the driver
    /// has no such URLs.
    pub async fn blob_redirect(&self, digest: &Digest, method: &http::Method) -> Result<Option<String>, RegistryError> {
        if !self.options.redirect {
            return Ok(None);
        }
        Ok(self.driver.redirect_url(&layout::blob_data(digest), method).await?)
    }

    /// Removes a blob from a repository (its bytes stay until garbage
    /// collection, as other repositories may share them).
    pub async fn delete_blob(&self, name: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        self.require_delete()?;
        self.stat_blob(name, digest).await?;
        Ok(self.driver.delete(&layout::layer_dir(name, digest)).await?)
    }

    /// Cross-repository mount: links a blob of `from` into `name`. `None`
    /// when `from` does not have it, so the client uploads it instead.
    pub async fn mount_blob(
        &self,
        name: &RepoName,
        from: &RepoName,
        digest: &Digest,
    ) -> Result<Option<BlobInfo>, RegistryError> {
        match self.stat_blob(from, digest).await {
            Ok(info) => {
                self.write_link(&layout::layer_link(name, digest), digest).await?;
                Ok(Some(info))
            }
            Err(RegistryError::BlobUnknown(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
