//! Garbage collection, as distribution's `registry garbage-collect`: mark
//! every manifest (with `delete_untagged`, only those a tag reaches) and
//! everything it references, recursing into indexes; then sweep untagged
//! manifests, unreferenced blobs and unreferenced layer links.
//!
//! This is the offline collector: like distribution's, it must not run while
//! clients push to the same storage (read-only mode or a stopped server).

use std::collections::{BTreeSet, HashSet};

use serde::Deserialize;

use super::{Digest, RegistryError, RepoName, Tag, layout};

/// How a collection runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcOptions {
    /// Report what would go, delete nothing.
    pub dry_run: bool,
    /// Also delete manifests no tag reaches (children of tagged indexes stay).
    pub delete_untagged: bool,
}

/// What a collection marked and removed.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Blobs and manifests that stay.
    pub marked: usize,
    /// Manifests removed (or that would be, in a dry run).
    pub manifests: Vec<(String, Digest)>,
    /// Blobs removed.
    pub blobs: Vec<Digest>,
}

/// The digests a manifest points at, read leniently: any manifest that
/// distribution may have stored (schema1 included) must keep its blobs.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct References {
    config: Option<Target>,
    #[serde(default)]
    layers: Vec<Target>,
    #[serde(default)]
    manifests: Vec<Target>,
    #[serde(default)]
    fs_layers: Vec<BlobSum>,
}

#[derive(Deserialize)]
struct Target {
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlobSum {
    blob_sum: String,
}

fn digests<'a>(items: impl Iterator<Item = &'a str>) -> impl Iterator<Item = Digest> {
    items.filter_map(|d| d.parse().ok())
}

impl super::Registry {
    /// Runs a collection; `say` receives distribution's progress lines.
    pub async fn garbage_collect(
        &self,
        options: GcOptions,
        mut say: impl FnMut(String),
    ) -> Result<GcReport, RegistryError> {
        let mut marked: HashSet<Digest> = HashSet::new();
        let mut candidates = Vec::new();
        let repositories = self.repositories().await?;
        for repo in repositories.iter() {
            let Ok(name) = RepoName::parse(repo) else { continue };
            let tagged = self.tagged(&name).await?;
            for digest in self.digests_in(&layout::revisions(&name)).await? {
                if options.delete_untagged && !tagged.contains(&digest) {
                    say(format!("manifest eligible for deletion: {repo}@{digest}"));
                    candidates.push((name.clone(), digest));
                    continue;
                }
                self.mark(&name, &digest, &mut marked, &mut say).await?;
            }
        }
        // An untagged child of a tagged index was marked through its parent.
        candidates.retain(|(_, d)| !marked.contains(d));
        let blobs: Vec<Digest> = self.stored_blobs().await?.into_iter().filter(|d| !marked.contains(d)).collect();
        say(format!(
            "\n{} blobs marked, {} blobs and {} manifests eligible for deletion",
            marked.len(),
            blobs.len(),
            candidates.len()
        ));
        if !options.dry_run {
            for (name, digest) in &candidates {
                self.remove_revision(name, digest).await?;
            }
            for digest in &blobs {
                say(format!("blob eligible for deletion: {digest}"));
                self.driver.delete(&layout::blob_dir(digest)).await?;
            }
            for repo in repositories.iter() {
                let Ok(name) = RepoName::parse(repo) else { continue };
                self.sweep_layer_links(&name, &marked).await?;
            }
        }
        let manifests = candidates.into_iter().map(|(n, d)| (n.to_string(), d)).collect();
        Ok(GcReport { marked: marked.len(), manifests, blobs })
    }

    /// Digests that some tag of the repository points at.
    async fn tagged(&self, name: &RepoName) -> Result<HashSet<Digest>, RegistryError> {
        let mut tagged = HashSet::new();
        for tag in self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)) {
            if let Some(d) = self.read_link(&layout::tag_current(name, &tag)).await? {
                tagged.insert(d);
            }
        }
        Ok(tagged)
    }

    /// Marks a manifest, its blobs, and (for an index) its children.
    async fn mark(
        &self,
        name: &RepoName,
        digest: &Digest,
        marked: &mut HashSet<Digest>,
        say: &mut impl FnMut(String),
    ) -> Result<(), RegistryError> {
        let mut pending = vec![digest.clone()];
        while let Some(manifest) = pending.pop() {
            if !marked.insert(manifest.clone()) {
                continue;
            }
            say(format!("{name}: marking manifest {manifest}"));
            let body = match self.driver.get(&layout::blob_data(&manifest)).await {
                Ok(body) => body,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let refs: References = serde_json::from_slice(&body).unwrap_or_default();
            let blobs = refs.config.iter().chain(&refs.layers).map(|t| t.digest.as_str());
            for blob in digests(blobs.chain(refs.fs_layers.iter().map(|b| b.blob_sum.as_str()))) {
                say(format!("{name}: marking blob {blob}"));
                marked.insert(blob);
            }
            pending.extend(digests(refs.manifests.iter().map(|t| t.digest.as_str())));
        }
        Ok(())
    }

    /// Removes a manifest revision and every trace of it in tag histories
    /// and the referrers index.
    async fn remove_revision(&self, name: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        for tag in self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)) {
            self.driver.delete(&layout::tag_index_dir(name, &tag, digest)).await?;
        }
        self.driver.delete(&layout::revision_dir(name, digest)).await?;
        self.forget_referrer(name, digest).await
    }

    /// Every blob whose bytes are stored, by walking `blobs/`.
    async fn stored_blobs(&self) -> Result<BTreeSet<Digest>, RegistryError> {
        let root = layout::blobs();
        let mut found = BTreeSet::new();
        for alg in self.list_or_empty(&root).await? {
            for prefix in self.list_or_empty(&format!("{root}/{alg}")).await? {
                for hex in self.list_or_empty(&format!("{root}/{alg}/{prefix}")).await? {
                    if let Ok(d) = format!("{alg}:{hex}").parse() {
                        found.insert(d);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn sweep_layer_links(&self, name: &RepoName, marked: &HashSet<Digest>) -> Result<(), RegistryError> {
        for digest in self.digests_in(&layout::layers(name)).await? {
            if !marked.contains(&digest) {
                self.driver.delete(&layout::layer_dir(name, &digest)).await?;
            }
        }
        Ok(())
    }
}
