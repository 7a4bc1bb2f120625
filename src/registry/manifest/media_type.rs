//! Manifest media types berth accepts, and the ones it knows to refuse.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1, refused (distribution 3 dropped it).
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
/// Layers that clients fetch from the URLs in their descriptor, not from us.
const FOREIGN_LAYERS: [&str; 4] = [
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
];

/// The two shapes a manifest can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Config plus layers (OCI manifest, Docker schema 2).
    Image,
    /// A list of other manifests (OCI index, Docker manifest list).
    Index,
}

/// The kind of an accepted manifest media type.
pub fn kind(media_type: &str) -> Option<Kind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Image),
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        _ => None,
    }
}

/// True for Docker schema 2 manifests and manifest lists.
pub fn is_docker(media_type: &str) -> bool {
    matches!(media_type, DOCKER_MANIFEST | DOCKER_LIST)
}

/// True for Docker schema 1 media types.
pub fn is_schema1(media_type: &str) -> bool {
    DOCKER_SCHEMA1.contains(&media_type)
}

/// True for layers whose bytes live elsewhere.
pub fn is_foreign_layer(media_type: &str) -> bool {
    FOREIGN_LAYERS.contains(&media_type)
}

/// The media type part of a `Content-Type` value, without parameters.
pub fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}
