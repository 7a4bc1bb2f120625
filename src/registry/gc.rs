//! Garbage collection, as distribution's `registry garbage-collect`: mark
//! every manifest (with `delete_untagged`, only those a tag reaches) and
//! everything it references, recursing into indexes; then sweep untagged
//! manifests, unreferenced blobs and unreferenced layer links.
//!
//! Unlike distribution's, it may run while clients push: it spares what was
//! modified within the grace period before it started, and sweeps through
//! `Driver::delete_stale`, which spares what pushes claim meanwhile
//! (`claim.rs`). ARCHITECTURE.md, "Garbage collection", has the argument.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    time::{Duration, SystemTime},
};

use futures_util::{StreamExt, TryStreamExt, stream};

use super::{Digest, RegistryError, RepoName, Tag, claim::References, layout};

/// How a collection runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcOptions {
    /// Report what would go, delete nothing.
    pub dry_run: bool,
    /// Also delete manifests no tag reaches (children of tagged indexes stay).
    pub delete_untagged: bool,
    /// Spare everything written or claimed this long before the collection
    /// started: pushes in flight rely on such content (`claim.rs`).
    pub grace: Duration,
}

/// What a collection marked and removed.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Blobs and manifests that stay.
    pub marked: usize,
    /// Manifests removed (or that would be, in a dry run).
    pub manifests: Vec<(String, Digest)>,
    /// Blobs removed (or that would be).
    pub blobs: Vec<Digest>,
    /// Bytes of the blobs removed (or that would be).
    pub bytes: u64,
    /// Layer links removed (or that would be).
    pub layer_links: usize,
    /// Unreferenced blobs, manifests and layer links spared because they
    /// are younger than the grace period, or were claimed during the run.
    pub young: usize,
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
    ///
    /// It reads the storage uncached, so it sees every write that happened
    /// before it looked, and deletes through `delete_stale`, which spares
    /// whatever was modified after `cutoff`: the start minus the grace.
    pub async fn garbage_collect(
        &self,
        options: GcOptions,
        mut say: impl FnMut(String),
    ) -> Result<GcReport, RegistryError> {
        let cutoff = SystemTime::now() - options.grace;
        let view = super::Registry { driver: self.uncached.clone(), ..self.clone() };
        let mut report = GcReport::default();
        let mut marked: HashSet<Digest> = HashSet::new();
        let mut candidates = Vec::new();
        let repositories = view.walk_repositories().await?;
        for repo in repositories.iter() {
            let Ok(name) = RepoName::parse(repo) else { continue };
            let tagged = if options.delete_untagged { Some(view.tagged(&name).await?) } else { None };
            let revisions = view.digests_in(&layout::revisions(&name)).await?;
            let eligible = |d: &Digest| tagged.as_ref().is_some_and(|tagged| !tagged.contains(d));
            let mark = Mark { name: &name, cutoff, marked: &mut marked, candidates: &mut candidates };
            view.mark(mark, revisions, eligible, &mut say).await?;
        }
        // An untagged child of a tagged index was marked through its parent.
        candidates.retain(|(_, d)| !marked.contains(d));
        for (name, digest) in &candidates {
            say(format!("manifest eligible for deletion: {name}@{digest}"));
        }
        let (blobs, young_blobs) = view.unmarked_blobs(&marked, cutoff).await?;
        report.young += young_blobs;
        say(format!(
            "\n{} blobs marked, {} blobs and {} manifests eligible for deletion",
            marked.len(),
            blobs.len(),
            candidates.len()
        ));
        for (digest, _) in &blobs {
            say(format!("blob eligible for deletion: {digest}"));
        }
        let links = view.unmarked_layer_links(&repositories, &marked).await?;
        if options.dry_run {
            report.layer_links = links.len();
            report.bytes = blobs.iter().map(|(_, size)| size).sum();
            report.blobs = blobs.into_iter().map(|(d, _)| d).collect();
        } else {
            candidates = self.sweep_revisions(candidates, cutoff, &mut report).await?;
            self.sweep_unmarked(blobs, &links, cutoff, &mut report).await?;
        }
        if report.young > 0 {
            say(format!("{} unreferenced items are younger than the grace period and stay", report.young));
        }
        report.marked = marked.len();
        report.manifests = candidates.into_iter().map(|(n, d)| (n.to_string(), d)).collect();
        Ok(report)
    }

    /// Digests that some tag of the repository points at.
    async fn tagged(&self, name: &RepoName) -> Result<HashSet<Digest>, RegistryError> {
        let tags: Vec<Tag> =
            self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)).collect();
        // Owned items: a stream over borrowed ones is not `Send` for every
        // lifetime, which a spawned collection needs.
        let links = stream::iter(tags).map(|tag| async move { self.read_link(&layout::tag_current(name, &tag)).await });
        let tagged: Vec<Option<Digest>> = links.buffer_unordered(IN_FLIGHT).try_collect().await?;
        Ok(tagged.into_iter().flatten().collect())
    }

    /// Reads a manifest's references; a missing manifest references nothing.
    async fn references(&self, manifest: &Digest) -> Result<References, RegistryError> {
        match self.driver.get(&layout::blob_data(manifest)).await {
            Ok(body) => Ok(References::of(&body)),
            Err(e) if e.is_not_found() => Ok(References::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a repository's manifests (all but the `eligible` ones, which
    /// become candidates unless they are young), their blobs, and the
    /// children of indexes. The manifests are read ahead, in order, so the
    /// lines come out as distribution prints them.
    async fn mark(
        &self,
        mark: Mark<'_>,
        revisions: Vec<Digest>,
        eligible: impl Fn(&Digest) -> bool,
        say: &mut impl FnMut(String),
    ) -> Result<(), RegistryError> {
        let Mark { name, cutoff, marked, candidates } = mark;
        let read = stream::iter(revisions).map(|d| {
            let skip = eligible(&d);
            async move {
                // distribution's manifest delete leaves the revision's
                // directory without its link: that is no revision.
                let link = match self.driver.stat(&layout::revision_link(name, &d)).await {
                    Ok(link) => link,
                    Err(e) if e.is_not_found() => return Ok((Revision::Gone, d)),
                    Err(e) => return Err(RegistryError::from(e)),
                };
                // A young untagged manifest may be a push in flight (its tag
                // comes next, or the index that will name it): it is a root.
                if skip && link.modified < cutoff {
                    return Ok((Revision::Candidate, d));
                }
                Ok((Revision::Root(self.references(&d).await?), d))
            }
        });
        let mut read = read.buffered(IN_FLIGHT);
        while let Some((revision, digest)) = read.try_next().await? {
            let refs = match revision {
                Revision::Gone => continue,
                Revision::Candidate => {
                    candidates.push((name.clone(), digest));
                    continue;
                }
                Revision::Root(refs) => refs,
            };
            if !marked.insert(digest.clone()) {
                continue;
            }
            say(format!("{name}: marking manifest {digest}"));
            let mut pending = mark_references(name, &refs, marked, say);
            while let Some(child) = pending.pop() {
                if marked.insert(child.clone()) {
                    say(format!("{name}: marking manifest {child}"));
                    let refs = self.references(&child).await?;
                    pending.extend(mark_references(name, &refs, marked, say));
                }
            }
        }
        Ok(())
    }

    /// Removes the candidates' revisions that are still old, then every
    /// trace of those in tag histories and the referrers index. Returns the
    /// candidates removed.
    pub(super) async fn sweep_revisions(
        &self,
        candidates: Vec<(RepoName, Digest)>,
        cutoff: SystemTime,
        report: &mut GcReport,
    ) -> Result<Vec<(RepoName, Digest)>, RegistryError> {
        let dirs: Vec<String> = candidates.iter().map(|(name, d)| layout::revision_dir(name, d)).collect();
        let removed = self.driver.delete_stale(&dirs, "link", cutoff).await?;
        let (removed, kept): (Vec<_>, Vec<_>) = candidates.into_iter().zip(removed).partition(|(_, r)| *r);
        report.young += kept.len();
        let removed: Vec<(RepoName, Digest)> = removed.into_iter().map(|(c, _)| c).collect();
        concurrently(removed.clone(), |(name, digest)| async move { self.forget_referrer(&name, &digest).await })
            .await?;
        let mut doomed = Vec::new();
        let mut by_repo: HashMap<&RepoName, HashSet<&Digest>> = HashMap::new();
        for (name, digest) in &removed {
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
        self.driver.delete_all(&doomed).await?;
        Ok(removed)
    }

    /// Removes the blobs and layer links that are still older than
    /// `cutoff`, counting what went and what a push claimed meanwhile.
    async fn sweep_unmarked(
        &self,
        blobs: Vec<(Digest, u64)>,
        links: &[String],
        cutoff: SystemTime,
        report: &mut GcReport,
    ) -> Result<(), RegistryError> {
        // Links before the bytes they name, the reverse of how pushes write
        // them: a collection cut short (the server stopping, a crash) leaves
        // unlinked bytes, which nothing serves, never a link to nothing.
        let removed = self.driver.delete_stale(links, "link", cutoff).await?;
        report.layer_links = removed.iter().filter(|r| **r).count();
        report.young += removed.len() - report.layer_links;
        let dirs: Vec<String> = blobs.iter().map(|(d, _)| layout::blob_dir(d)).collect();
        let removed = self.driver.delete_stale(&dirs, "data", cutoff).await?;
        for ((digest, size), removed) in blobs.into_iter().zip(removed) {
            if removed {
                report.bytes += size;
                report.blobs.push(digest);
            } else {
                report.young += 1;
            }
        }
        Ok(())
    }

    /// Stored blobs that were not marked and are older than `cutoff`, with
    /// their sizes; and how many unmarked ones are younger.
    async fn unmarked_blobs(
        &self,
        marked: &HashSet<Digest>,
        cutoff: SystemTime,
    ) -> Result<(Vec<(Digest, u64)>, usize), RegistryError> {
        let unmarked = self.stored_blobs().await?.into_iter().filter(|d| !marked.contains(d));
        let stats = stream::iter(unmarked).map(|d| async move {
            match self.driver.stat(&layout::blob_data(&d)).await {
                Ok(stat) => Ok((d, stat.size, stat.modified)),
                // A blob directory without its bytes: nothing young in it.
                Err(e) if e.is_not_found() => Ok((d, 0, SystemTime::UNIX_EPOCH)),
                Err(e) => Err(RegistryError::from(e)),
            }
        });
        let stats: Vec<_> = stats.buffered(IN_FLIGHT).try_collect().await?;
        let (old, young): (Vec<_>, Vec<_>) = stats.into_iter().partition(|(_, _, modified)| *modified < cutoff);
        Ok((old.into_iter().map(|(d, size, _)| (d, size)).collect(), young.len()))
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

    /// The layer-link directories of blobs that were not marked.
    async fn unmarked_layer_links(
        &self,
        repositories: &[String],
        marked: &HashSet<Digest>,
    ) -> Result<Vec<String>, RegistryError> {
        let mut links = Vec::new();
        for name in repositories.iter().filter_map(|repo| RepoName::parse(repo).ok()) {
            let unmarked = self.digests_in(&layout::layers(&name)).await?.into_iter().filter(|d| !marked.contains(d));
            links.extend(unmarked.map(|d| layout::layer_dir(&name, &d)));
        }
        Ok(links)
    }
}

/// What the mark phase found at a revision.
enum Revision {
    /// The directory has no link (distribution deleted the manifest).
    Gone,
    /// Old and untagged, under `delete_untagged`: to be swept unless a
    /// tagged index reaches it.
    Candidate,
    /// To be marked, with what it references.
    Root(References),
}

/// One repository's part of the mark phase.
struct Mark<'a> {
    name: &'a RepoName,
    cutoff: SystemTime,
    marked: &'a mut HashSet<Digest>,
    candidates: &'a mut Vec<(RepoName, Digest)>,
}

/// Marks the blobs a manifest references; returns its child manifests.
fn mark_references(
    name: &RepoName,
    refs: &References,
    marked: &mut HashSet<Digest>,
    say: &mut impl FnMut(String),
) -> Vec<Digest> {
    for blob in refs.blobs() {
        say(format!("{name}: marking blob {blob}"));
        marked.insert(blob);
    }
    refs.manifests().collect()
}
