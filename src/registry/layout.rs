//! distribution's storage layout: where every object lives.
//!
//! This is the on-disk contract with distribution (`registry/storage/paths.go`):
//! a root written by one must be served by the other. The only addition is
//! `_referrers`, which distribution skips (it ignores `_`-prefixed directories
//! it does not know) and berth can rebuild from the manifests.

use super::{digest::Digest, name::RepoName, reference::Tag};

const ROOT: &str = "docker/registry/v2";

/// The directory of every blob's bytes.
pub fn blobs() -> String {
    format!("{ROOT}/blobs")
}

/// `blobs/<alg>/<2 hex>/<hex>`: the directory of one blob.
pub fn blob_dir(d: &Digest) -> String {
    format!("{ROOT}/blobs/{}/{}/{}", d.algorithm().as_str(), &d.hex()[..2], d.hex())
}

/// `blobs/<alg>/<2 hex>/<hex>/data`: the bytes of a blob or manifest.
pub fn blob_data(d: &Digest) -> String {
    format!("{}/data", blob_dir(d))
}

/// The directory holding every repository.
pub fn repositories() -> String {
    format!("{ROOT}/repositories")
}

/// A repository's directory.
pub fn repository(name: &RepoName) -> String {
    format!("{ROOT}/repositories/{name}")
}

/// The `_manifests` directory whose presence makes a repository exist.
pub fn manifests(name: &RepoName) -> String {
    format!("{}/_manifests", repository(name))
}

fn digest_dir(base: String, d: &Digest) -> String {
    format!("{base}/{}/{}", d.algorithm().as_str(), d.hex())
}

/// The directory of every blob link of a repository.
pub fn layers(name: &RepoName) -> String {
    format!("{}/_layers", repository(name))
}

/// The directory of a blob's link in a repository.
pub fn layer_dir(name: &RepoName, d: &Digest) -> String {
    digest_dir(layers(name), d)
}

/// The link that makes a blob part of a repository.
pub fn layer_link(name: &RepoName, d: &Digest) -> String {
    format!("{}/link", layer_dir(name, d))
}

/// The directory of every manifest revision's link.
pub fn revisions(name: &RepoName) -> String {
    format!("{}/revisions", manifests(name))
}

/// The directory of a manifest revision's link.
pub fn revision_dir(name: &RepoName, d: &Digest) -> String {
    digest_dir(revisions(name), d)
}

/// The link that makes a manifest part of a repository.
pub fn revision_link(name: &RepoName, d: &Digest) -> String {
    format!("{}/link", revision_dir(name, d))
}

/// The directory holding one directory per tag.
pub fn tags(name: &RepoName) -> String {
    format!("{}/tags", manifests(name))
}

/// One tag's directory.
pub fn tag_dir(name: &RepoName, tag: &Tag) -> String {
    format!("{}/{tag}", tags(name))
}

/// The link naming the manifest a tag points at now.
pub fn tag_current(name: &RepoName, tag: &Tag) -> String {
    format!("{}/current/link", tag_dir(name, tag))
}

/// A tag's history of targets: `<alg>/<hex>` directories.
pub fn tag_index(name: &RepoName, tag: &Tag) -> String {
    format!("{}/index", tag_dir(name, tag))
}

/// The directory of one entry of a tag's history of targets.
pub fn tag_index_dir(name: &RepoName, tag: &Tag, d: &Digest) -> String {
    digest_dir(tag_index(name, tag), d)
}

/// One entry of a tag's history of targets.
pub fn tag_index_link(name: &RepoName, tag: &Tag, d: &Digest) -> String {
    format!("{}/link", tag_index_dir(name, tag, d))
}

/// The directory of every upload session of a repository.
pub fn uploads(name: &RepoName) -> String {
    format!("{}/_uploads", repository(name))
}

/// The directory of one upload session.
pub fn upload_dir(name: &RepoName, id: &str) -> String {
    format!("{}/{id}", uploads(name))
}

/// The bytes received so far by an upload.
pub fn upload_data(name: &RepoName, id: &str) -> String {
    format!("{}/data", upload_dir(name, id))
}

/// When an upload started (RFC 3339), as distribution writes it.
pub fn upload_started_at(name: &RepoName, id: &str) -> String {
    format!("{}/startedat", upload_dir(name, id))
}

/// The referrers index of a repository (berth only).
pub fn referrers(name: &RepoName) -> String {
    format!("{}/_referrers", repository(name))
}

/// The directory of the referrers of one subject.
pub fn referrers_dir(name: &RepoName, subject: &Digest) -> String {
    digest_dir(referrers(name), subject)
}

/// Present once every manifest revision's subject has been indexed.
pub fn referrers_indexed(name: &RepoName) -> String {
    format!("{}/indexed", referrers(name))
}

/// The link recording that `referrer` has `subject` as its subject.
pub fn referrer_link(name: &RepoName, subject: &Digest, referrer: &Digest) -> String {
    format!("{}/link", digest_dir(referrers_dir(name, subject), referrer))
}

/// Where berth's own objects live: beside distribution's tree, never in it.
const BERTH: &str = "berth";

/// The file each catalog-index entry directory holds.
pub const CATALOG_ENTRY: &str = "entry";

/// The catalog index: one directory per repository (berth only).
pub fn catalog_index() -> String {
    format!("{BERTH}/catalog")
}

/// Present once the catalog index has been built from the tree.
pub fn catalog_index_built() -> String {
    format!("{BERTH}/catalog-built")
}

/// A repository's catalog-index directory: its name with `/` written as
/// `+`, which names never contain, so every repository has one flat entry.
pub fn catalog_entry_dir(name: &RepoName) -> String {
    format!("{}/{}", catalog_index(), name.as_str().replace('/', "+"))
}

/// A repository's catalog-index entry.
pub fn catalog_entry(name: &RepoName) -> String {
    format!("{}/{CATALOG_ENTRY}", catalog_entry_dir(name))
}

/// The repository a catalog-index directory names, if it is a valid name.
pub fn catalog_entry_name(entry: &str) -> Option<RepoName> {
    RepoName::parse(&entry.replace('+', "/")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::digest::Algorithm;

    #[test]
    fn matches_distribution_paths() {
        let name = RepoName::parse("library/ubuntu").unwrap();
        let d = Digest::of(Algorithm::Sha256, b"");
        let h = d.hex();
        assert_eq!(blob_data(&d), format!("docker/registry/v2/blobs/sha256/e3/{h}/data"));
        assert_eq!(
            layer_link(&name, &d),
            format!("docker/registry/v2/repositories/library/ubuntu/_layers/sha256/{h}/link")
        );
        assert_eq!(
            revision_link(&name, &d),
            format!("docker/registry/v2/repositories/library/ubuntu/_manifests/revisions/sha256/{h}/link")
        );
        let tag = Tag::parse("latest").unwrap();
        assert_eq!(
            tag_current(&name, &tag),
            "docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/current/link"
        );
        assert_eq!(
            tag_index_link(&name, &tag, &d),
            format!("docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/index/sha256/{h}/link")
        );
        assert_eq!(upload_data(&name, "u"), "docker/registry/v2/repositories/library/ubuntu/_uploads/u/data");
    }

    #[test]
    fn catalog_entries_are_flat_and_round_trip() {
        let name = RepoName::parse("a/b.c/d-e").unwrap();
        assert_eq!(catalog_entry(&name), "berth/catalog/a+b.c+d-e/entry");
        assert_eq!(catalog_entry_name("a+b.c+d-e"), Some(name));
        assert_eq!(catalog_entry_name("A+b"), None);
        assert_eq!(catalog_entry_name("a++b"), None);
    }
}
