//! Retention: which tags and untagged manifests the policies of
//! `berth.retention` remove, and removing them.
//!
//! A run reads a snapshot of every repository a policy matches (tags with
//! their push times, manifest revisions with what they reference), plans
//! over it without touching storage (`plan`), then, unless it is a dry run,
//! removes tags through `delete_tag_if` (a tag that moved meanwhile stays)
//! and untagged manifests through garbage collection's sweep of untagged
//! revisions. Blobs are left for garbage collection.

use std::{
    collections::{BTreeSet, HashSet},
    fmt,
    time::{Duration, SystemTime},
};

mod plan;
mod snapshot;

use futures_util::{StreamExt, TryStreamExt, stream};
use plan::{Plan, RepoState, plan, reach};

use crate::registry::{Digest, GcReport, RegistryError, RepoGlob, RepoName, Tag, TagRegex, layout};

/// How many storage operations a run keeps in flight.
const IN_FLIGHT: usize = 32;

/// One retention policy, compiled from `berth.retention.policies[]`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Its name, in output lines and events.
    pub name: String,
    /// The repositories it applies to.
    pub repository: RepoGlob,
    /// The tags it governs (when no earlier policy governs them).
    pub tags: TagRegex,
    /// Keep this many most recently pushed governed tags (0: no such rule).
    pub keep_latest: usize,
    /// Keep governed tags pushed within this (zero: no such rule).
    pub keep_within: Duration,
    /// Tags never removed.
    pub keep_tags: BTreeSet<String>,
    /// Remove untagged manifests older than this (zero: never).
    pub untagged_grace: Duration,
}

impl Policy {
    /// Whether the policy removes tags at all: only a keep rule makes
    /// the tags it does not keep go.
    fn removes_tags(&self) -> bool {
        self.keep_latest > 0 || !self.keep_within.is_zero()
    }
}

/// The policies, in order: the first matching one governs a tag.
#[derive(Debug, Clone, Default)]
pub struct Policies(pub Vec<Policy>);

/// What a removal removes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A tag, and the manifest it pointed at when planned.
    Tag(Tag, Digest),
    /// An untagged manifest.
    Manifest(Digest),
}

/// One planned removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The repository.
    pub repository: RepoName,
    /// What goes.
    pub target: Target,
    /// The policy that removes it.
    pub policy: String,
    /// Why, after the policy's name (`pushed …, not among the 5 latest`).
    why: String,
}

impl fmt::Display for Removal {
    /// The output line: the same in a dry run and a real run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "delete {} (policy {}: {})", self.what(), self.policy, self.why)
    }
}

impl Removal {
    /// `tag app:nightly sha256:…` or `manifest app@sha256:…`.
    fn what(&self) -> String {
        match &self.target {
            Target::Tag(tag, digest) => format!("tag {}:{tag} {digest}", self.repository),
            Target::Manifest(digest) => format!("manifest {}@{digest}", self.repository),
        }
    }

    /// The order of the output: repository, then tags before manifests,
    /// then name.
    fn order(&self) -> (&str, &Target) {
        (self.repository.as_str(), &self.target)
    }

    /// The repository and digest of a manifest removal.
    fn manifest(&self) -> Option<(RepoName, Digest)> {
        match &self.target {
            Target::Manifest(digest) => Some((self.repository.clone(), digest.clone())),
            Target::Tag(..) => None,
        }
    }
}

/// A planned removal a real run did not do, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The removal.
    pub removal: Removal,
    /// `moved`, `tagged meanwhile` or `in use`.
    pub reason: &'static str,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skip {}: {}", self.removal.what(), self.reason)
    }
}

/// A tag a policy would remove but an immutable rule keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptImmutable {
    /// The repository.
    pub repository: RepoName,
    /// The tag.
    pub tag: Tag,
    /// The policy that would remove it.
    pub policy: String,
    /// The immutable rule that keeps it.
    pub rule: String,
}

/// What a retention run removed (or would, in a dry run).
#[derive(Debug, Clone, Default)]
pub struct RetentionReport {
    /// Removed, in output order.
    pub removed: Vec<Removal>,
    /// Planned but not removed (a real run only).
    pub skipped: Vec<Skip>,
    /// Kept by immutable rules.
    pub immutable: Vec<KeptImmutable>,
    /// Whether it was a dry run.
    pub dry_run: bool,
}

impl RetentionReport {
    /// Tags removed.
    pub fn tags(&self) -> usize {
        self.removed.iter().filter(|r| matches!(r.target, Target::Tag(..))).count()
    }

    /// Manifests removed.
    pub fn manifests(&self) -> usize {
        self.removed.len() - self.tags()
    }

    /// The last output line.
    pub fn summary(&self) -> String {
        let (tags, manifests) = (self.tags(), self.manifests());
        if self.dry_run {
            format!("retention: {tags} tags and {manifests} manifests would be removed (dry run)")
        } else {
            format!("retention: {tags} tags and {manifests} manifests removed")
        }
    }
}

impl crate::registry::Registry {
    /// Applies the retention policies (or, with `dry_run`, only plans):
    /// `say` receives the output lines, removals in order, then the
    /// summary. Reads through the uncached storage, as collection does.
    pub async fn retention(
        &self,
        policies: &Policies,
        dry_run: bool,
        mut say: impl FnMut(String),
    ) -> Result<RetentionReport, RegistryError> {
        let started = SystemTime::now();
        let view = crate::registry::Registry { driver: self.uncached.clone(), ..self.clone() };
        let repos = view.snapshot(policies).await?;
        let immutable = |name: &RepoName, tag: &Tag| self.immutable_rule(name, tag).map(|r| r.name.clone());
        let Plan { removals, immutable } = plan(&repos, policies, started, &immutable);
        let mut report = RetentionReport { immutable, dry_run, ..RetentionReport::default() };
        if dry_run {
            report.removed = removals;
        } else {
            let cutoff = started - self.sweep_margin(policies);
            (report.removed, report.skipped) = self.apply(removals, &repos, cutoff).await?;
            report.removed.sort_by(|a, b| a.order().cmp(&b.order()));
            report.skipped.sort_by(|a, b| a.removal.order().cmp(&b.removal.order()));
        }
        for line in lines(&report) {
            say(line);
        }
        say(report.summary());
        Ok(report)
    }

    /// How much older than the run's start a revision must still be for
    /// the sweep to take it: the claim grace, so a push that claims it
    /// meanwhile keeps it (`claim.rs`), but no more than the smallest
    /// `untaggedgrace`, so every planned revision qualifies.
    fn sweep_margin(&self, policies: &Policies) -> Duration {
        let graces = policies.0.iter().map(|p| p.untagged_grace).filter(|g| !g.is_zero());
        graces.fold(self.options.grace, Duration::min)
    }

    /// Removes the planned tags, then the planned manifests that are still
    /// untagged and older than `cutoff`. Returns what went and what stayed.
    async fn apply(
        &self,
        removals: Vec<Removal>,
        repos: &[RepoState],
        cutoff: SystemTime,
    ) -> Result<(Vec<Removal>, Vec<Skip>), RegistryError> {
        let (tags, manifests): (Vec<_>, Vec<_>) =
            removals.into_iter().partition(|r| matches!(r.target, Target::Tag(..)));
        let (mut removed, mut skipped) = (Vec::new(), Vec::new());
        let mut protected: HashSet<(RepoName, Digest)> = HashSet::new();
        for (removal, deleted) in self.delete_tags_if(tags).await? {
            if deleted {
                removed.push(removal);
            } else if let Target::Tag(tag, _) = &removal.target {
                protected.extend(self.still_tagged(&removal.repository, tag, repos).await?);
                skipped.push(Skip { removal, reason: "moved" });
            }
        }
        let (tagged, manifests): (Vec<_>, Vec<_>) =
            manifests.into_iter().partition(|r| r.manifest().is_some_and(|key| protected.contains(&key)));
        skipped.extend(tagged.into_iter().map(|removal| Skip { removal, reason: "tagged meanwhile" }));
        let (gone, stayed) = self.sweep_manifests(manifests, cutoff).await?;
        removed.extend(gone);
        skipped.extend(stayed.into_iter().map(|removal| Skip { removal, reason: "in use" }));
        Ok((removed, skipped))
    }

    /// Deletes each tag that still points where the plan saw it, several
    /// at once: each delete waits on a directory sync. Says which went.
    async fn delete_tags_if(&self, tags: Vec<Removal>) -> Result<Vec<(Removal, bool)>, RegistryError> {
        let deletes = stream::iter(tags).map(|removal| async move {
            let deleted = match &removal.target {
                Target::Tag(tag, digest) => self.delete_tag_if(&removal.repository, tag, digest).await?,
                Target::Manifest(_) => false,
            };
            Ok::<_, RegistryError>((removal, deleted))
        });
        deletes.buffer_unordered(IN_FLIGHT).try_collect().await
    }

    /// The manifests a tag that was not removed reaches now.
    async fn still_tagged(
        &self,
        name: &RepoName,
        tag: &Tag,
        repos: &[RepoState],
    ) -> Result<Vec<(RepoName, Digest)>, RegistryError> {
        let Some(current) = self.read_link(&layout::tag_current(name, tag)).await? else { return Ok(Vec::new()) };
        let revisions = repos.iter().find(|r| &r.name == name).map_or(&[][..], |r| &r.revisions);
        Ok(reach([current], revisions).into_iter().map(|d| (name.clone(), d)).collect())
    }

    /// Sweeps the manifests as collection sweeps untagged revisions; those
    /// modified after `cutoff` (claimed by a push meanwhile) stay.
    async fn sweep_manifests(
        &self,
        manifests: Vec<Removal>,
        cutoff: SystemTime,
    ) -> Result<(Vec<Removal>, Vec<Removal>), RegistryError> {
        let candidates = manifests.iter().filter_map(Removal::manifest).collect();
        let swept = self.sweep_revisions(candidates, cutoff, &mut GcReport::default()).await?;
        let swept: HashSet<(RepoName, Digest)> = swept.into_iter().collect();
        Ok(manifests.into_iter().partition(|r| r.manifest().is_some_and(|key| swept.contains(&key))))
    }
}

/// The output lines of a report, before the summary: removals and skips
/// in plan order.
fn lines(report: &RetentionReport) -> Vec<String> {
    let mut all: Vec<(&Removal, String)> = report.removed.iter().map(|r| (r, r.to_string())).collect();
    all.extend(report.skipped.iter().map(|s| (&s.removal, s.to_string())));
    all.sort_by(|(a, _), (b, _)| a.order().cmp(&b.order()));
    all.into_iter().map(|(_, line)| line).collect()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::{plan::RevisionState, *};
    use crate::{
        registry::{Algorithm, Registry},
        storage::{Driver, InMemory},
    };

    const DAY: Duration = Duration::from_secs(86_400);

    fn digest(name: &str) -> Digest {
        Digest::of(Algorithm::Sha256, name.as_bytes())
    }

    /// Between the plan and the removal a tag moved onto a manifest the
    /// plan took for untagged: the tag stays, and so does that manifest.
    #[tokio::test]
    async fn a_tag_that_moved_is_skipped_and_keeps_what_it_points_at() {
        let driver = std::sync::Arc::new(InMemory::new());
        let registry = Registry::new(driver.clone(), crate::registry::Options::default());
        let name = RepoName::parse("app").unwrap();
        let revision =
            |m: &str| RevisionState { digest: digest(m), pushed: UNIX_EPOCH, children: vec![], subject: None };
        let app = RepoState { name: name.clone(), tags: vec![], revisions: vec![revision("b"), revision("c")] };
        let tag = Tag::parse("nightly").unwrap();
        for m in ["a", "b", "c"] {
            driver.put(&layout::revision_link(&name, &digest(m)), digest(m).to_string().into()).await.unwrap();
        }
        // The plan saw nightly at a; it points at b now.
        driver.put(&layout::tag_current(&name, &tag), digest("b").to_string().into()).await.unwrap();
        let removal = |target| Removal { repository: name.clone(), target, policy: "p".into(), why: String::new() };
        let removals = vec![
            removal(Target::Tag(tag.clone(), digest("a"))),
            removal(Target::Manifest(digest("b"))),
            removal(Target::Manifest(digest("c"))),
        ];
        let cutoff = SystemTime::now() + DAY;
        let (removed, skipped) = registry.apply(removals, &[app], cutoff).await.unwrap();
        assert_eq!(removed.iter().map(|r| &r.target).collect::<Vec<_>>(), [&Target::Manifest(digest("c"))]);
        let skips: Vec<String> = skipped.iter().map(ToString::to_string).collect();
        assert_eq!(
            skips,
            [
                format!("skip tag app:nightly {}: moved", digest("a")),
                format!("skip manifest app@{}: tagged meanwhile", digest("b"))
            ]
        );
        assert!(registry.exists(&layout::tag_current(&name, &tag)).await.unwrap());
        assert!(registry.exists(&layout::revision_link(&name, &digest("b"))).await.unwrap());
        assert!(!registry.exists(&layout::revision_link(&name, &digest("c"))).await.unwrap());
    }
}
