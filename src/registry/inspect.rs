//! Read-only views for people browsing the registry (the web UI): a tag's
//! target and push time, an image's size and platforms, a manifest's parts,
//! and the storage a repository links to.
//!
//! Everything here reads; nothing claims content for garbage collection,
//! because looking at an image is not a push.

use std::{collections::BTreeSet, time::SystemTime};

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Map, Value};

use super::{
    Digest, RegistryError, RepoName, Tag, layout,
    manifest::{media_type::Kind, parse},
};

/// Tags read at once for a repository page.
const IN_FLIGHT: usize = 16;

/// The largest config blob read to show its platform and contents.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// What a tag points at, and since when.
#[derive(Debug, Clone)]
pub struct TagInfo {
    /// The tag.
    pub tag: String,
    /// The manifest it names.
    pub digest: Digest,
    /// When its `current/link` was last written: the last push of the tag.
    pub pushed: SystemTime,
    /// The manifest it names, summarized; `None` when the manifest is gone
    /// or does not parse.
    pub image: Option<ImageSummary>,
}

/// Size and platforms of an image or index.
#[derive(Debug, Clone, Default)]
pub struct ImageSummary {
    /// The manifest's media type.
    pub media_type: String,
    /// Image: manifest + config + layers. Index: the sum of its children's
    /// totals (a blob shared by two children counts twice).
    pub size: u64,
    /// `os/arch[/variant]` of each platform.
    pub platforms: Vec<String>,
}

/// One manifest, taken apart.
#[derive(Debug, Clone)]
pub struct ManifestDetail {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Image or index.
    pub kind: Kind,
    /// Its own size in bytes.
    pub size: u64,
    /// The manifest's bytes, as pushed.
    pub body: bytes::Bytes,
    /// The config descriptor (images).
    pub config: Option<parse::Descriptor>,
    /// The config blob's JSON, when it is JSON of at most 1 MiB.
    pub config_json: Option<Value>,
    /// Layers of an image, or child manifests of an index.
    pub references: Vec<parse::Descriptor>,
    /// Platforms of an index's children, in the order of `references`.
    pub child_platforms: Vec<Option<String>>,
    /// `artifactType`.
    pub artifact_type: Option<String>,
    /// Annotations.
    pub annotations: Map<String, Value>,
    /// The subject, for a referrer.
    pub subject: Option<Digest>,
}

/// `os/arch[/variant]` of a JSON object with those fields (an image config
/// or an index entry's `platform`).
fn platform_of(value: &Value) -> Option<String> {
    let field = |key: &str| value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut platform = format!("{}/{}", field("os")?, field("architecture")?);
    if let Some(variant) = field("variant") {
        platform.push('/');
        platform.push_str(variant);
    }
    Some(platform)
}

/// The `platform` of each entry of an index's `manifests`.
fn index_platforms(body: &[u8]) -> Vec<Option<String>> {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let entries = value.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    entries.iter().map(|e| e.get("platform").and_then(platform_of)).collect()
}

impl super::Registry {
    /// Whether deletes are allowed (`storage.delete.enabled`).
    pub fn deletes_enabled(&self) -> bool {
        self.options.delete_enabled
    }

    /// Each tag of a page with its target, push time and summary, reading
    /// `IN_FLIGHT` tags at a time. A tag deleted since the listing is skipped.
    pub async fn tag_infos(&self, name: &RepoName, tags: &[String]) -> Result<Vec<TagInfo>, RegistryError> {
        let tags: Vec<Tag> = tags.iter().filter_map(|t| Tag::parse(t)).collect();
        let infos = stream::iter(tags).map(|tag| self.tag_info(name, tag)).buffered(IN_FLIGHT);
        let infos: Vec<Option<TagInfo>> = infos.try_collect().await?;
        Ok(infos.into_iter().flatten().collect())
    }

    async fn tag_info(&self, name: &RepoName, tag: Tag) -> Result<Option<TagInfo>, RegistryError> {
        let link = layout::tag_current(name, &tag);
        let Some(digest) = self.read_link(&link).await? else { return Ok(None) };
        let pushed = match self.driver.stat(&link).await {
            Ok(stat) => stat.modified,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let image = self.summary(name, &digest).await?;
        Ok(Some(TagInfo { tag: tag.to_string(), digest, pushed, image }))
    }

    /// Size and platforms of a manifest; an index is summed over its
    /// children (one level: an index of indexes counts its children's own
    /// sizes only).
    async fn summary(&self, name: &RepoName, digest: &Digest) -> Result<Option<ImageSummary>, RegistryError> {
        let Some((stored, manifest)) = self.parsed(name, digest).await? else { return Ok(None) };
        let mut summary = ImageSummary { media_type: stored.media_type.clone(), ..ImageSummary::default() };
        match manifest.kind {
            Kind::Image => {
                let (size, platform) = self.image_size(name, &stored.body, &manifest).await?;
                summary.size = size;
                summary.platforms.extend(platform);
            }
            Kind::Index => {
                summary.platforms = index_platforms(&stored.body).into_iter().flatten().collect();
                summary.size = stored.body.len() as u64;
                for child in &manifest.references {
                    summary.size += match self.parsed(name, &child.digest).await? {
                        Some((body, m)) if m.kind == Kind::Image => self.image_size(name, &body.body, &m).await?.0,
                        _ => child.size,
                    };
                }
            }
        }
        Ok(Some(summary))
    }

    /// An image's total size and the platform its config names.
    async fn image_size(
        &self,
        name: &RepoName,
        body: &[u8],
        manifest: &parse::Manifest,
    ) -> Result<(u64, Option<String>), RegistryError> {
        let parts: u64 = manifest.config.iter().chain(&manifest.references).map(|d| d.size).sum();
        let platform = match &manifest.config {
            Some(config) => self.config_json(name, config).await?.as_ref().and_then(platform_of),
            None => None,
        };
        Ok((body.len() as u64 + parts, platform))
    }

    /// A stored manifest and its parse, or `None` when it is not in the
    /// repository or does not parse.
    async fn parsed(
        &self,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Option<(super::StoredManifest, parse::Manifest)>, RegistryError> {
        let stored = match self.read_manifest(name, digest).await {
            Ok(stored) => stored,
            Err(RegistryError::ManifestUnknown(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(parse::parse(&stored.body, Some(&stored.media_type)).ok().map(|m| (stored, m)))
    }

    /// A config blob as JSON, when the repository links it, it is small
    /// enough and it is JSON.
    async fn config_json(&self, name: &RepoName, config: &parse::Descriptor) -> Result<Option<Value>, RegistryError> {
        if config.size > MAX_CONFIG_BYTES || !self.exists(&layout::layer_link(name, &config.digest)).await? {
            return Ok(None);
        }
        match self.driver.get(&layout::blob_data(&config.digest)).await {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// One manifest of a repository, taken apart.
    pub async fn manifest_detail(&self, name: &RepoName, digest: &Digest) -> Result<ManifestDetail, RegistryError> {
        let (stored, manifest) =
            self.parsed(name, digest).await?.ok_or_else(|| RegistryError::ManifestUnknown(digest.to_string()))?;
        let config_json = match &manifest.config {
            Some(config) => self.config_json(name, config).await?,
            None => None,
        };
        let child_platforms = if manifest.kind == Kind::Index { index_platforms(&stored.body) } else { Vec::new() };
        Ok(ManifestDetail {
            digest: stored.digest,
            media_type: stored.media_type,
            kind: manifest.kind,
            size: stored.body.len() as u64,
            body: stored.body,
            config: manifest.config,
            config_json,
            references: manifest.references,
            child_platforms,
            artifact_type: manifest.artifact_type,
            annotations: manifest.annotations.unwrap_or_default(),
            subject: manifest.subject.map(|s| s.digest),
        })
    }

    /// Bytes of the distinct blobs a repository links in `_layers` (configs
    /// and layers; manifests are not linked there). A link whose blob is
    /// gone counts nothing.
    pub async fn repository_storage(&self, name: &RepoName) -> Result<u64, RegistryError> {
        let digests: BTreeSet<Digest> = self.digests_in(&layout::layers(name)).await?.into_iter().collect();
        let mut total = 0;
        for digest in &digests {
            match self.driver.stat(&layout::blob_data(digest)).await {
                Ok(stat) => total += stat.size,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(total)
    }
}
