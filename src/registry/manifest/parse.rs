//! Manifest parsing and validation: pure functions over the pushed bytes.
//!
//! The bytes are kept exactly as pushed; parsing only extracts what the
//! registry must check (references, subject) and what it must answer with
//! (media type, artifact type, annotations).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::media_type::{self, Kind};
use crate::registry::Digest;

/// A content descriptor, as far as the registry needs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the target is.
    pub media_type: String,
    /// The target's digest.
    #[serde(deserialize_with = "digest_field")]
    pub digest: Digest,
    /// The target's size in bytes.
    pub size: u64,
    /// Where foreign layers are fetched from.
    #[serde(default)]
    pub urls: Vec<String>,
}

fn digest_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// The fields of any manifest shape, all optional until validated.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<Map<String, Value>>,
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its media type (what it is served as).
    pub media_type: String,
    /// Image or index.
    pub kind: Kind,
    /// The config descriptor of an image manifest.
    pub config: Option<Descriptor>,
    /// Layers of an image, or child manifests of an index.
    pub references: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    pub subject: Option<Descriptor>,
    /// The `artifactType` a referrers list reports for this manifest.
    pub artifact_type: Option<String>,
    /// Annotations, reported in referrers lists.
    pub annotations: Option<Map<String, Value>>,
}

/// Content types that say nothing about the manifest: fall back to the body.
fn is_generic(content_type: &str) -> bool {
    matches!(content_type, "" | "application/json" | "application/octet-stream" | "text/plain")
}

/// Picks the media type from the Content-Type header, the body's
/// `mediaType`, or the manifest's shape, in that order; they must agree.
fn media_type_of(raw: &Raw, content_type: Option<&str>) -> Result<String, String> {
    let header = content_type.map(media_type::essence).filter(|ct| !is_generic(ct));
    let body = raw.media_type.as_deref();
    if raw.schema_version == Some(1)
        || header.is_some_and(media_type::is_schema1)
        || body.is_some_and(media_type::is_schema1)
    {
        return Err("Docker schema1 manifests are not supported; push with a schema2 or OCI client".into());
    }
    if let (Some(h), Some(b)) = (header, body)
        && h != b
    {
        return Err(format!("mediaType {b:?} in the manifest does not match Content-Type {h:?}"));
    }
    // Only OCI types may leave `mediaType` out: the type is then served
    // from the shape, which would turn a Docker manifest into an OCI one.
    if let (Some(h), None) = (header, body)
        && media_type::is_docker(h)
    {
        return Err(format!("no mediaType in manifest; Docker manifests ({h}) must have one"));
    }
    let shape = if raw.manifests.is_some() { media_type::OCI_INDEX } else { media_type::OCI_MANIFEST };
    Ok(header.or(body).unwrap_or(shape).to_owned())
}

/// Checks a descriptor of a layer or config for fields the registry relies on.
fn check_layer(d: &Descriptor) -> Result<(), String> {
    if d.media_type.is_empty() {
        return Err(format!("descriptor {} has no mediaType", d.digest));
    }
    // As distribution: foreign layers must name where they live, and no
    // other layer may point elsewhere (validation.manifests.urls is not set).
    match (media_type::is_foreign_layer(&d.media_type), d.urls.is_empty()) {
        (true, true) => Err(format!("foreign layer {} has no urls", d.digest)),
        (true, false) => Err(format!("foreign layer {}: urls are not allowed by validation.manifests.urls", d.digest)),
        (false, false) => Err(format!("layer {} has urls but is not a foreign layer", d.digest)),
        (false, true) => Ok(()),
    }
}

/// Parses and validates pushed manifest bytes.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("a manifest must be a JSON object".into());
    }
    let raw: Raw = serde_json::from_value(value).map_err(|e| format!("invalid manifest field: {e}"))?;
    let media_type = media_type_of(&raw, content_type)?;
    let kind =
        media_type::kind(&media_type).ok_or_else(|| format!("unsupported manifest media type {media_type:?}"))?;
    if raw.schema_version != Some(2) {
        return Err("schemaVersion must be 2".into());
    }
    let (config, references) = match kind {
        Kind::Image => {
            let config = raw.config.ok_or("an image manifest needs a config descriptor")?;
            let layers = raw.layers.ok_or("an image manifest needs a layers array")?;
            if raw.manifests.is_some() {
                return Err("an image manifest cannot have a manifests array".into());
            }
            check_layer(&config)?;
            layers.iter().try_for_each(check_layer)?;
            (Some(config), layers)
        }
        Kind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err("an index cannot have config or layers".into());
            }
            let manifests = raw.manifests.ok_or("an index needs a manifests array")?;
            if let Some(d) = manifests.iter().find(|d| media_type::kind(&d.media_type).is_none()) {
                return Err(format!("index entry {} has unsupported mediaType {:?}", d.digest, d.media_type));
            }
            (None, manifests)
        }
    };
    // The image spec's annotations map strings to strings; referrers lists
    // hand them to clients that decode them so (distribution refuses others).
    if let Some((key, _)) = raw.annotations.iter().flatten().find(|(_, v)| !v.is_string()) {
        return Err(format!("annotation {key:?} is not a string"));
    }
    let artifact_type = raw.artifact_type.or_else(|| config.as_ref().map(|c| c.media_type.clone()));
    Ok(Manifest {
        media_type,
        kind,
        config,
        references,
        subject: raw.subject,
        artifact_type,
        annotations: raw.annotations,
    })
}

/// The media type a stored manifest is served as: its `mediaType` field, or
/// the OCI type its shape implies (what validation chose when it was pushed).
/// A key given twice counts the last time, as validation reads it.
pub fn served_media_type(body: &[u8]) -> String {
    let head = serde_json::from_slice::<Head>(body).unwrap_or_default();
    match (head.media_type, head.manifests) {
        (Some(media_type), _) => media_type,
        (None, true) => media_type::OCI_INDEX.to_owned(),
        _ => media_type::OCI_MANIFEST.to_owned(),
    }
}

/// The two top-level fields that decide a stored manifest's served type.
/// Read on every manifest GET, so by hand: every other value is skipped
/// unparsed, where a `Value` would build the whole tree.
#[derive(Default)]
struct Head {
    /// The last `mediaType`, when it is a string.
    media_type: Option<String>,
    /// Whether the last `manifests` is present and not null.
    manifests: bool,
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeadVisitor)
    }
}

struct HeadVisitor;

impl<'de> serde::de::Visitor<'de> for HeadVisitor {
    type Value = Head;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
        let mut head = Head::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "mediaType" => head.media_type = map.next_value::<Value>()?.as_str().map(str::to_owned),
                "manifests" => head.manifests = map.next_value::<Option<serde::de::IgnoredAny>>()?.is_some(),
                _ => drop(map.next_value::<serde::de::IgnoredAny>()?),
            }
        }
        Ok(head)
    }
}

#[cfg(test)]
mod tests;
