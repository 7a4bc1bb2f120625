//! Garbage collection, as distribution's `registry garbage-collect`: mark
//! every manifest (with `delete_untagged`, only those a tag reaches) and
//! everything it references, recursing into indexes; then sweep untagged
//! manifests, unreferenced blobs and unreferenced layer links.
//!
//! This is the offline collector: like distribution's, it must not run while
//! clients push to the same storage (read-only mode or a stopped server).

use std::collections::{BTreeSet, HashMap, HashSet};

use futures_util::{StreamExt, TryStreamExt, stream};
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

/// How many storage reads a collection keeps in flight, so their trips to
/// the storage overlap. (Deletes go in batches, through `delete_all`.)
const IN_FLIGHT: usize = 32;

/// Runs `f` on every item, `IN_FLIGHT` at a time, stopping at the first error.
async fn concurrently<T, F, Fut>(items: impl IntoIterator<Item = T>, f: F) -> Result<(), RegistryError>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<(), RegistryError>>,
{
    stream::iter(items).map(f).buffer_unordered(IN_FLIGHT).try_collect().await
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
            let tagged = if options.delete_untagged { Some(self.tagged(&name).await?) } else { None };
            let revisions = self.digests_in(&layout::revisions(&name)).await?;
            let eligible = |d: &Digest| tagged.as_ref().is_some_and(|tagged| !tagged.contains(d));
            self.mark(&name, revisions, eligible, &mut marked, &mut candidates, &mut say).await?;
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
            self.sweep_revisions(&candidates).await?;
            for digest in &blobs {
                say(format!("blob eligible for deletion: {digest}"));
            }
            self.driver.delete_all(&blobs.iter().map(layout::blob_dir).collect::<Vec<_>>()).await?;
            self.sweep_layer_links(&repositories, &marked).await?;
        }
        let manifests = candidates.into_iter().map(|(n, d)| (n.to_string(), d)).collect();
        Ok(GcReport { marked: marked.len(), manifests, blobs })
    }

    /// Digests that some tag of the repository points at.
    async fn tagged(&self, name: &RepoName) -> Result<HashSet<Digest>, RegistryError> {
        let tags: Vec<Tag> =
            self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)).collect();
        let links = stream::iter(&tags).map(|tag| async move { self.read_link(&layout::tag_current(name, tag)).await });
        let tagged: Vec<Option<Digest>> = links.buffer_unordered(IN_FLIGHT).try_collect().await?;
        Ok(tagged.into_iter().flatten().collect())
    }

    /// Reads a manifest's references; a missing manifest references nothing.
    async fn references(&self, manifest: &Digest) -> Result<References, RegistryError> {
        match self.driver.get(&layout::blob_data(manifest)).await {
            Ok(body) => Ok(serde_json::from_slice(&body).unwrap_or_default()),
            Err(e) if e.is_not_found() => Ok(References::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a repository's manifests (all but the `eligible` ones, which
    /// become candidates), their blobs, and the children of indexes. The
    /// manifests are read ahead, in order, so the lines come out as
    /// distribution prints them.
    async fn mark(
        &self,
        name: &RepoName,
        revisions: Vec<Digest>,
        eligible: impl Fn(&Digest) -> bool,
        marked: &mut HashSet<Digest>,
        candidates: &mut Vec<(RepoName, Digest)>,
        say: &mut impl FnMut(String),
    ) -> Result<(), RegistryError> {
        let read = stream::iter(revisions).map(|d| {
            let skip = eligible(&d);
            async move {
                let refs = if skip { None } else { Some(self.references(&d).await?) };
                Ok::<_, RegistryError>((refs, d))
            }
        });
        let mut read = read.buffered(IN_FLIGHT);
        while let Some((refs, digest)) = read.try_next().await? {
            let Some(refs) = refs else {
                say(format!("manifest eligible for deletion: {name}@{digest}"));
                candidates.push((name.clone(), digest));
                continue;
            };
            if !marked.insert(digest.clone()) {
                continue;
            }
            say(format!("{name}: marking manifest {digest}"));
            let mut pending = self.mark_references(name, refs, marked, say);
            while let Some(child) = pending.pop() {
                if marked.insert(child.clone()) {
                    say(format!("{name}: marking manifest {child}"));
                    let refs = self.references(&child).await?;
                    pending.extend(self.mark_references(name, refs, marked, say));
                }
            }
        }
        Ok(())
    }

    /// Marks the blobs a manifest references; returns its child manifests.
    fn mark_references(
        &self,
        name: &RepoName,
        refs: References,
        marked: &mut HashSet<Digest>,
        say: &mut impl FnMut(String),
    ) -> Vec<Digest> {
        let blobs = refs.config.iter().chain(&refs.layers).map(|t| t.digest.as_str());
        for blob in digests(blobs.chain(refs.fs_layers.iter().map(|b| b.blob_sum.as_str()))) {
            say(format!("{name}: marking blob {blob}"));
            marked.insert(blob);
        }
        digests(refs.manifests.iter().map(|t| t.digest.as_str())).collect()
    }

    /// Removes manifest revisions and every trace of them in tag histories
    /// and the referrers index.
    async fn sweep_revisions(&self, candidates: &[(RepoName, Digest)]) -> Result<(), RegistryError> {
        concurrently(candidates, |(name, digest)| self.forget_referrer(name, digest)).await?;
        let mut doomed: Vec<String> = candidates.iter().map(|(name, d)| layout::revision_dir(name, d)).collect();
        let mut by_repo: HashMap<&RepoName, HashSet<&Digest>> = HashMap::new();
        for (name, digest) in candidates {
            by_repo.entry(name).or_default().insert(digest);
        }
        for (name, digests) in by_repo {
            for tag in self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)) {
                for old in self.digests_in(&layout::tag_index(name, &tag)).await? {
                    if digests.contains(&old) {
                        doomed.push(layout::tag_index_dir(name, &tag, &old));
                    }
                }
            }
        }
        Ok(self.driver.delete_all(&doomed).await?)
    }

    /// Every blob whose bytes are stored, by walking `blobs/`.
    async fn stored_blobs(&self) -> Result<BTreeSet<Digest>, RegistryError> {
        let root = layout::blobs();
        let mut found = BTreeSet::new();
        for alg in self.list_or_empty(&root).await? {
            let prefixes = self.list_or_empty(&format!("{root}/{alg}")).await?;
            let lists = stream::iter(prefixes).map(|prefix| {
                let dir = format!("{root}/{alg}/{prefix}");
                async move { self.list_or_empty(&dir).await }
            });
            let hexes: Vec<Vec<String>> = lists.buffer_unordered(IN_FLIGHT).try_collect().await?;
            found.extend(hexes.into_iter().flatten().filter_map(|hex| format!("{alg}:{hex}").parse().ok()));
        }
        Ok(found)
    }

    /// Removes the layer links of blobs that were not marked.
    async fn sweep_layer_links(&self, repositories: &[String], marked: &HashSet<Digest>) -> Result<(), RegistryError> {
        let mut doomed = Vec::new();
        for name in repositories.iter().filter_map(|repo| RepoName::parse(repo).ok()) {
            let unmarked = self.digests_in(&layout::layers(&name)).await?.into_iter().filter(|d| !marked.contains(d));
            doomed.extend(unmarked.map(|d| layout::layer_dir(&name, &d)));
        }
        Ok(self.driver.delete_all(&doomed).await?)
    }
}
