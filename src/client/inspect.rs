//! `berth image inspect`: a manifest fetched with every manifest type
//! accepted, its bytes checked against their digest, and what it names: an
//! image's config and layers, an index's platforms, and the referrers.

use bytes::Bytes;
use http::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::{Client, ClientError, MANIFEST_TYPES, error::from_answer, progress::Progress, transport::Answer};
use crate::registry::{Algorithm, Digest, Reference, RepoName, manifest::media_type::OCI_INDEX};

/// Config media types whose blob is an image configuration (os,
/// architecture, created); other configs belong to artifacts.
const IMAGE_CONFIGS: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// Redirects followed for a blob (a registry on S3 sends one).
const MAX_REDIRECTS: usize = 5;

/// A content descriptor, as manifests, indexes and referrer lists hold them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type.
    #[serde(default)]
    pub media_type: String,
    /// The digest.
    pub digest: String,
    /// The size in bytes.
    #[serde(default)]
    pub size: u64,
    /// An artifact's type (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The platform (an index's entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An operating system and CPU architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`...
    #[serde(default)]
    pub architecture: String,
    /// `linux`, `windows`...
    #[serde(default)]
    pub os: String,
    /// `v7`, `v8`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        self.variant.iter().try_for_each(|v| write!(f, "/{v}"))
    }
}

/// What `image inspect` found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// The repository.
    pub name: String,
    /// The tag or digest asked for.
    pub reference: String,
    /// The manifest's digest, checked against its bytes.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's size in bytes.
    pub size: u64,
    /// An artifact manifest's `artifactType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// An image's config descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Descriptor>,
    /// An image's platform, from its config blob.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// When the image was built, from its config blob.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// An image's layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<Descriptor>>,
    /// What pulling the image transfers: manifest, config and layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_size: Option<u64>,
    /// An index's manifests, each with its platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<Descriptor>>,
    /// The manifests whose subject this is; `null` when the registry has no
    /// referrers API (anything but 200).
    pub referrers: Option<Vec<Descriptor>>,
}

/// The fields of a manifest or index that inspect shows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
}

/// The fields of an image configuration that inspect shows.
#[derive(Deserialize)]
struct ImageConfig {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    variant: Option<String>,
    created: Option<String>,
}

/// A manifest's checked bytes.
struct Fetched {
    digest: Digest,
    media_type: String,
    bytes: Bytes,
}

impl Client {
    /// Inspects `name` at `reference`.
    pub async fn inspect(
        &mut self,
        name: &RepoName,
        reference: &Reference,
        progress: &mut Progress,
    ) -> Result<Inspection, ClientError> {
        progress.show(&format!("fetching the manifest {}", shown(name, reference)));
        let fetched = self.manifest(name, reference).await?;
        let document: Document = parse(&fetched.bytes, &format!("the manifest {name}@{}", fetched.digest))?;
        let media_type = fetched.media_type.clone();
        let mut inspection = Inspection {
            name: name.to_string(),
            reference: reference.to_string(),
            digest: fetched.digest.to_string(),
            media_type: if media_type.is_empty() { document.media_type.unwrap_or_default() } else { media_type },
            size: fetched.bytes.len() as u64,
            artifact_type: document.artifact_type,
            config: None,
            platform: None,
            created: None,
            layers: None,
            total_size: None,
            manifests: document.manifests,
            referrers: None,
        };
        if let (Some(config), Some(layers)) = (document.config, document.layers) {
            self.add_image(name, &mut inspection, config, layers, progress).await?;
        }
        progress.show(&format!("fetching the referrers of {name}@{}", fetched.digest));
        inspection.referrers = self.referrers(name, &fetched.digest).await?;
        Ok(inspection)
    }

    /// An image's config, platform, creation time, layers and total size.
    async fn add_image(
        &mut self,
        name: &RepoName,
        inspection: &mut Inspection,
        config: Descriptor,
        layers: Vec<Descriptor>,
        progress: &mut Progress,
    ) -> Result<(), ClientError> {
        if IMAGE_CONFIGS.contains(&config.media_type.as_str()) {
            progress.show(&format!("fetching the config {}", config.digest));
            let digest = config.digest.parse().map_err(|e| ClientError::Invalid {
                context: format!("the manifest {name}@{}", inspection.digest),
                reason: format!("config digest {:?}: {e}", config.digest),
            })?;
            let blob = self.blob(name, &digest).await?;
            let image: ImageConfig = parse(&blob, &format!("the config {name}@{digest}"))?;
            inspection.platform =
                Some(Platform { architecture: image.architecture, os: image.os, variant: image.variant });
            inspection.created = image.created;
        }
        let total = layers.iter().fold(inspection.size + config.size, |sum, layer| sum.saturating_add(layer.size));
        inspection.total_size = Some(total);
        inspection.config = Some(config);
        inspection.layers = Some(layers);
        Ok(())
    }

    /// A manifest's bytes, refused unless they hash to the digest asked for
    /// and to the `Docker-Content-Digest` the registry announced.
    async fn manifest(&mut self, name: &RepoName, reference: &Reference) -> Result<Fetched, ClientError> {
        let path = format!("/v2/{name}/manifests/{reference}");
        let answer = self.send(Method::GET, &path, &[(header::ACCEPT.as_str(), MANIFEST_TYPES)]).await?;
        if answer.status != StatusCode::OK {
            return Err(from_answer(&format!("GET {path}"), answer.status, &answer.body));
        }
        let what = format!("the manifest {}", shown(name, reference));
        let announced = match answer.header(header::HeaderName::from_static("docker-content-digest")) {
            Some(text) => Some(text.parse::<Digest>().map_err(|e| ClientError::Invalid {
                context: what.clone(),
                reason: format!("Docker-Content-Digest {text:?}: {e}"),
            })?),
            None => None,
        };
        let asked = match reference {
            Reference::Digest(digest) => Some(digest),
            Reference::Tag(_) => None,
        };
        for expected in asked.iter().copied().chain(&announced) {
            verify(&what, &answer.body, expected)?;
        }
        let digest = asked.cloned().or(announced).unwrap_or_else(|| Digest::of(Algorithm::Sha256, &answer.body));
        Ok(Fetched { digest, media_type: content_type(&answer), bytes: answer.body })
    }

    /// A blob's bytes, checked against its digest. Redirects (to a CDN or
    /// S3) are followed without the registry's credentials.
    async fn blob(&mut self, name: &RepoName, digest: &Digest) -> Result<Bytes, ClientError> {
        let mut url = self.base.join(&format!("/v2/{name}/blobs/{digest}"));
        let mut answer = self.send_to(Method::GET, &url, &[]).await?;
        for _ in 0..MAX_REDIRECTS {
            let Some(location) = answer.status.is_redirection().then(|| answer.header(header::LOCATION)).flatten()
            else {
                break;
            };
            url = url.resolve(location)?;
            answer = self.transport.send(&Method::GET, &url, &[]).await?;
        }
        if answer.status != StatusCode::OK {
            return Err(from_answer(&format!("GET {url}"), answer.status, &answer.body));
        }
        verify(&format!("the blob {name}@{digest}"), &answer.body, digest)?;
        Ok(answer.body)
    }

    /// The referrers of a manifest, every page of them; `None` when the
    /// registry does not answer 200.
    async fn referrers(&mut self, name: &RepoName, digest: &Digest) -> Result<Option<Vec<Descriptor>>, ClientError> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let url = self.base.join(&format!("/v2/{name}/referrers/{digest}"));
        let answer = self.send_to(Method::GET, &url, &[(header::ACCEPT.as_str(), OCI_INDEX)]).await?;
        if answer.status != StatusCode::OK {
            return Ok(None);
        }
        let mut found = Vec::new();
        self.follow_pages(url, answer, OCI_INDEX, |page: Index| found.extend(page.manifests)).await?;
        Ok(Some(found))
    }
}

/// `NAME:TAG` or `NAME@DIGEST`, as the user wrote it.
fn shown(name: &RepoName, reference: &Reference) -> String {
    match reference {
        Reference::Tag(tag) => format!("{name}:{tag}"),
        Reference::Digest(digest) => format!("{name}@{digest}"),
    }
}

/// Refuses bytes that do not hash to `expected`.
fn verify(what: &str, bytes: &[u8], expected: &Digest) -> Result<(), ClientError> {
    let actual = Digest::of(expected.algorithm(), bytes);
    if actual == *expected {
        Ok(())
    } else {
        Err(ClientError::Integrity {
            what: what.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| ClientError::Invalid { context: what.to_owned(), reason: e.to_string() })
}

/// The answer's media type, without parameters.
fn content_type(answer: &Answer) -> String {
    let value = answer.header(header::CONTENT_TYPE).unwrap_or_default();
    value.split(';').next().unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification() {
        let digest = Digest::of(Algorithm::Sha256, b"manifest");
        assert!(verify("m", b"manifest", &digest).is_ok());
        let e = verify("the manifest a:v1", b"other", &digest).unwrap_err().to_string();
        assert!(
            e.starts_with("the manifest a:v1: the bytes hash to sha256:") && e.contains(&digest.to_string()),
            "{e}"
        );
        let sha512 = Digest::of(Algorithm::Sha512, b"manifest");
        assert!(verify("m", b"manifest", &sha512).is_ok());
    }

    #[test]
    fn platforms() {
        let p: Platform = serde_json::from_str(r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#).unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        let p: Platform = serde_json::from_str(r#"{"architecture":"amd64","os":"linux"}"#).unwrap();
        assert_eq!(p.to_string(), "linux/amd64");
    }
}
