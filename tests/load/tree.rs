//! What a storage root holds on disk after a crash or a full disk: every
//! blob file hashes to its name, every link names a digest whose bytes exist,
//! every tag names a revision of its repository.

use std::path::{Path, PathBuf};

use sha2::Digest as _;

/// What a walk of `<root>/docker/registry/v2` found.
#[derive(Debug, Default)]
pub struct Tree {
    /// Everything that breaks an invariant, one line each.
    pub problems: Vec<String>,
    /// Blob files checked.
    pub blobs: usize,
    /// `(repository, digest)` of every layer link.
    pub layer_links: Vec<(String, String)>,
    /// `(repository, tag)` of every tag.
    pub tags: Vec<(String, String)>,
}

/// Walks the tree below a storage root and checks it.
pub fn check(root: &Path) -> Tree {
    let v2 = root.join("docker/registry/v2");
    let mut tree = Tree::default();
    for file in files(&v2.join("blobs")) {
        tree.blobs += 1;
        check_blob(&v2, &file, &mut tree.problems);
    }
    for file in files(&v2.join("repositories")) {
        let rel = file.strip_prefix(v2.join("repositories")).expect("below").display().to_string();
        check_repository_file(&v2, &rel, &mut tree);
    }
    tree
}

/// Every regular file below a directory (none if it is missing).
fn files(top: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![top.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() { pending.push(path) } else { out.push(path) }
        }
    }
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// `blobs/sha256/<2>/<hex>/data` must hash to `<hex>`.
fn check_blob(v2: &Path, file: &Path, problems: &mut Vec<String>) {
    let rel = file.strip_prefix(v2).expect("below").display().to_string();
    let parts: Vec<&str> = rel.split('/').collect();
    match parts[..] {
        ["blobs", "sha256", two, hex, "data"] if hex.starts_with(two) => {
            let data = std::fs::read(file).expect("read blob");
            if sha256_hex(&data) != hex {
                problems.push(format!("{rel}: {} bytes that hash to sha256:{}", data.len(), sha256_hex(&data)));
            }
        }
        _ => problems.push(format!("{rel}: unexpected file under blobs/")),
    }
}

/// Whether the bytes of a digest are stored.
fn blob_exists(v2: &Path, digest: &str) -> bool {
    match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 2 => v2.join(format!("blobs/{alg}/{}/{hex}/data", &hex[..2])).is_file(),
        _ => false,
    }
}

/// Reads a link file: it must hold a whole digest, never a torn write.
fn read_link(v2: &Path, rel: &str, problems: &mut Vec<String>) -> Option<String> {
    let text = std::fs::read_to_string(v2.join("repositories").join(rel)).unwrap_or_default();
    let valid = text.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        problems.push(format!("{rel}: link holds {text:?}"));
    }
    valid.then_some(text)
}

/// A tag-history file (berth only): written after the index link beside
/// it, each line a set of the tag with its time and how.
fn check_history(v2: &Path, rel: &str, problems: &mut Vec<String>) {
    let path = v2.join("repositories").join(rel);
    if !path.with_file_name("link").is_file() {
        problems.push(format!("{rel}: history without its index link"));
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    for line in text.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        if !(entry["at"].is_string() && entry["via"].is_string()) {
            problems.push(format!("{rel}: history line {line:?}"));
        }
    }
    if text.is_empty() {
        problems.push(format!("{rel}: empty history"));
    }
}

/// One file below `repositories/`, by the part of the layout it belongs to.
fn check_repository_file(v2: &Path, rel: &str, tree: &mut Tree) {
    let parts: Vec<&str> = rel.split('/').collect();
    let Some(at) = parts.iter().position(|p| p.starts_with('_')) else {
        tree.problems.push(format!("{rel}: file outside a repository's directories"));
        return;
    };
    let repo = parts[..at].join("/");
    let linked = |tree: &mut Tree, named: &str| {
        let digest = read_link(v2, rel, &mut tree.problems)?;
        if digest != format!("sha256:{named}") {
            tree.problems.push(format!("{rel}: names {digest}"));
        }
        if !blob_exists(v2, &digest) {
            tree.problems.push(format!("{rel}: {digest} has no bytes"));
        }
        Some(digest)
    };
    match parts[at..] {
        ["_layers", "sha256", hex, "link"] => {
            if let Some(digest) = linked(tree, hex) {
                tree.layer_links.push((repo, digest));
            }
        }
        ["_manifests", "revisions", "sha256", hex, "link"]
        | ["_manifests", "tags", _, "index", "sha256", hex, "link"] => {
            linked(tree, hex);
        }
        ["_manifests", "tags", tag, "current", "link"] => {
            let Some(digest) = read_link(v2, rel, &mut tree.problems) else { return };
            let revision = format!("{repo}/_manifests/revisions/sha256/{}/link", &digest[7..]);
            if !v2.join("repositories").join(revision).is_file() || !blob_exists(v2, &digest) {
                tree.problems.push(format!("{rel}: tag names {digest}, which is not a stored revision"));
            }
            tree.tags.push((repo, tag.to_owned()));
        }
        ["_manifests", "tags", _, "index", "sha256", _, "history"] => check_history(v2, rel, &mut tree.problems),
        ["_uploads", _, "startedat" | "data"] | ["_referrers", ..] => {}
        _ => tree.problems.push(format!("{rel}: unexpected file")),
    }
}
