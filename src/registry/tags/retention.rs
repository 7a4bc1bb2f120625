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
    collections::{BTreeSet, HashMap, HashSet},
    fmt,
    time::{Duration, SystemTime},
};

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::registry::{Digest, GcReport, RegistryError, RepoGlob, RepoName, Tag, TagRegex, claim::References, layout};

/// How many storage reads a snapshot keeps in flight.
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

/// A tag as the snapshot saw it.
#[derive(Debug, Clone)]
struct TagState {
    tag: Tag,
    digest: Digest,
    /// Its `current/link`'s modification time.
    pushed: SystemTime,
}

/// A manifest revision as the snapshot saw it.
#[derive(Debug, Clone)]
struct RevisionState {
    digest: Digest,
    /// Its revision link's modification time.
    pushed: SystemTime,
    /// The manifests it lists (an index's children).
    children: Vec<Digest>,
    /// The manifest it refers to.
    subject: Option<Digest>,
}

/// One repository as the snapshot saw it.
#[derive(Debug, Clone)]
struct RepoState {
    name: RepoName,
    tags: Vec<TagState>,
    /// Read only when a policy removes untagged manifests here.
    revisions: Vec<RevisionState>,
}

/// What a plan removes and what immutability keeps.
#[derive(Debug, Default)]
struct Plan {
    removals: Vec<Removal>,
    immutable: Vec<KeptImmutable>,
}

/// Plans over a snapshot, taken at `now`. `immutable` names the immutable
/// rule that protects a tag, if any.
fn plan(
    repos: &[RepoState],
    policies: &Policies,
    now: SystemTime,
    immutable: &dyn Fn(&RepoName, &Tag) -> Option<String>,
) -> Plan {
    let mut plan = Plan::default();
    for repo in repos {
        let before = plan.removals.len();
        plan_tags(repo, policies, now, immutable, &mut plan);
        let removed: HashSet<&Tag> = plan.removals[before..]
            .iter()
            .filter_map(|r| if let Target::Tag(tag, _) = &r.target { Some(tag) } else { None })
            .collect();
        let untagged = plan_untagged(repo, policies, &removed, now);
        plan.removals.extend(untagged);
    }
    plan.removals.sort_by(|a, b| a.order().cmp(&b.order()));
    plan
}

/// The tags of a repository its policies remove.
fn plan_tags(
    repo: &RepoState,
    policies: &Policies,
    now: SystemTime,
    immutable: &dyn Fn(&RepoName, &Tag) -> Option<String>,
    plan: &mut Plan,
) {
    let mut governed: Vec<Vec<&TagState>> = vec![Vec::new(); policies.0.len()];
    for state in &repo.tags {
        let first =
            policies.0.iter().position(|p| p.repository.matches(&repo.name) && p.tags.matches(state.tag.as_str()));
        if let Some(i) = first {
            governed[i].push(state);
        }
    }
    for (policy, mut tags) in policies.0.iter().zip(governed).filter(|(p, _)| p.removes_tags()) {
        tags.sort_by(|a, b| b.pushed.cmp(&a.pushed).then_with(|| a.tag.as_str().cmp(b.tag.as_str())));
        for state in tags.into_iter().skip(policy.keep_latest) {
            if policy.keep_tags.contains(state.tag.as_str()) || within(now, state.pushed, policy.keep_within) {
                continue;
            }
            if let Some(rule) = immutable(&repo.name, &state.tag) {
                let (repository, tag, policy) = (repo.name.clone(), state.tag.clone(), policy.name.clone());
                plan.immutable.push(KeptImmutable { repository, tag, policy, rule });
                continue;
            }
            plan.removals.push(Removal {
                repository: repo.name.clone(),
                target: Target::Tag(state.tag.clone(), state.digest.clone()),
                policy: policy.name.clone(),
                why: tag_reason(policy, state.pushed),
            });
        }
    }
}

/// `pushed …, not among the 5 latest, older than 720h`: the rules set.
fn tag_reason(policy: &Policy, pushed: SystemTime) -> String {
    let mut why = format!("pushed {}", timestamp(pushed));
    if policy.keep_latest > 0 {
        why.push_str(&format!(", not among the {} latest", policy.keep_latest));
    }
    if !policy.keep_within.is_zero() {
        why.push_str(&format!(", older than {}", short_duration(policy.keep_within)));
    }
    why
}

/// True when `within` is set and `at` lies within it of `now` (a time in
/// the future counts as within).
fn within(now: SystemTime, at: SystemTime, within: Duration) -> bool {
    !within.is_zero() && now.duration_since(at).map_or(true, |age| age < within)
}

/// The untagged manifests of a repository the first policy with an
/// `untaggedgrace` removes. A manifest stays when a remaining tag reaches
/// it, when it is younger than the grace, or when something that stays
/// reaches it: an index its child, a manifest its referrers (`subject`).
/// Young manifests count as roots because they may be a push in flight
/// whose tag or index comes next.
fn plan_untagged(repo: &RepoState, policies: &Policies, removed: &HashSet<&Tag>, now: SystemTime) -> Vec<Removal> {
    let Some(policy) = policies.0.iter().find(|p| p.repository.matches(&repo.name) && !p.untagged_grace.is_zero())
    else {
        return Vec::new();
    };
    let old = |r: &RevisionState| !within(now, r.pushed, policy.untagged_grace);
    let tagged = repo.tags.iter().filter(|t| !removed.contains(&t.tag)).map(|t| t.digest.clone());
    let young = repo.revisions.iter().filter(|r| !old(r)).map(|r| r.digest.clone());
    let kept = reach(tagged.chain(young), &repo.revisions);
    let doomed = repo.revisions.iter().filter(|r| !kept.contains(&r.digest));
    doomed
        .map(|r| Removal {
            repository: repo.name.clone(),
            target: Target::Manifest(r.digest.clone()),
            policy: policy.name.clone(),
            why: format!(
                "untagged, pushed {}, older than {}",
                timestamp(r.pushed),
                short_duration(policy.untagged_grace)
            ),
        })
        .collect()
}

/// Every manifest reachable from `roots`: an index reaches its children,
/// a manifest reaches the manifests whose subject it is.
fn reach(roots: impl IntoIterator<Item = Digest>, revisions: &[RevisionState]) -> HashSet<Digest> {
    let mut next: HashMap<&Digest, Vec<&Digest>> = HashMap::new();
    for r in revisions {
        next.entry(&r.digest).or_default().extend(&r.children);
        if let Some(subject) = &r.subject {
            next.entry(subject).or_default().push(&r.digest);
        }
    }
    let mut reached = HashSet::new();
    let mut pending: Vec<Digest> = roots.into_iter().collect();
    while let Some(digest) = pending.pop() {
        if let Some(more) = next.get(&digest) {
            pending.extend(more.iter().filter(|d| !reached.contains(**d)).map(|d| (*d).clone()));
        }
        reached.insert(digest);
    }
    reached
}

/// `2024-09-01T10:00:00Z`: UTC, whole seconds.
fn timestamp(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// `720h`, `1h30m`, `90s` → `1m30s`: a Go duration without its zero parts.
fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let parts = [(secs / 3600, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    parts.iter().filter(|(n, _)| *n > 0).map(|(n, unit)| format!("{n}{unit}")).collect()
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

    /// Every repository some policy matches, as it is now.
    async fn snapshot(&self, policies: &Policies) -> Result<Vec<RepoState>, RegistryError> {
        let mut repos = Vec::new();
        for repo in self.repositories().await?.iter() {
            let Ok(name) = RepoName::parse(repo) else { continue };
            let matching = policies.0.iter().filter(|p| p.repository.matches(&name));
            let (any, untagged) = matching.fold((false, false), |(_, u), p| (true, u || !p.untagged_grace.is_zero()));
            if !any {
                continue;
            }
            let tags = self.tag_states(&name).await?;
            let revisions = if untagged { self.revision_states(&name).await? } else { Vec::new() };
            repos.push(RepoState { name, tags, revisions });
        }
        Ok(repos)
    }

    /// The repository's tags with their digests and push times.
    async fn tag_states(&self, name: &RepoName) -> Result<Vec<TagState>, RegistryError> {
        let tags: Vec<Tag> =
            self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)).collect();
        let states = stream::iter(tags).map(|tag| async move {
            let path = layout::tag_current(name, &tag);
            let pushed = match self.driver.stat(&path).await {
                Ok(stat) => stat.modified,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(RegistryError::from(e)),
            };
            Ok(self.read_link(&path).await?.map(|digest| TagState { tag, digest, pushed }))
        });
        let states: Vec<Option<TagState>> = states.buffered(IN_FLIGHT).try_collect().await?;
        Ok(states.into_iter().flatten().collect())
    }

    /// The repository's manifest revisions with what they reference.
    async fn revision_states(&self, name: &RepoName) -> Result<Vec<RevisionState>, RegistryError> {
        let digests = self.digests_in(&layout::revisions(name)).await?;
        let states = stream::iter(digests).map(|digest| async move {
            // A revision directory without its link is no revision.
            let pushed = match self.driver.stat(&layout::revision_link(name, &digest)).await {
                Ok(stat) => stat.modified,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(RegistryError::from(e)),
            };
            let refs = match self.driver.get(&layout::blob_data(&digest)).await {
                Ok(body) => References::of(&body),
                Err(e) if e.is_not_found() => References::default(),
                Err(e) => return Err(RegistryError::from(e)),
            };
            let (children, subject) = (refs.manifests().collect(), refs.subject().cloned());
            Ok(Some(RevisionState { digest, pushed, children, subject }))
        });
        let states: Vec<Option<RevisionState>> = states.buffered(IN_FLIGHT).try_collect().await?;
        Ok(states.into_iter().flatten().collect())
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
        for removal in tags {
            let Target::Tag(tag, digest) = &removal.target else { continue };
            if self.delete_tag_if(&removal.repository, tag, digest).await? {
                removed.push(removal);
                continue;
            }
            protected.extend(self.still_tagged(&removal.repository, tag, repos).await?);
            skipped.push(Skip { removal, reason: "moved" });
        }
        let (manifests, tagged): (Vec<_>, Vec<_>) = manifests.into_iter().partition(
            |r| !matches!(&r.target, Target::Manifest(d) if protected.contains(&(r.repository.clone(), d.clone()))),
        );
        skipped.extend(tagged.into_iter().map(|removal| Skip { removal, reason: "tagged meanwhile" }));
        let (gone, stayed) = self.sweep_manifests(manifests, cutoff).await?;
        removed.extend(gone);
        skipped.extend(stayed.into_iter().map(|removal| Skip { removal, reason: "in use" }));
        Ok((removed, skipped))
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
        let candidates = manifests
            .iter()
            .filter_map(|r| {
                if let Target::Manifest(d) = &r.target { Some((r.repository.clone(), d.clone())) } else { None }
            })
            .collect();
        let swept = self.sweep_revisions(candidates, cutoff, &mut GcReport::default()).await?;
        let swept: HashSet<(RepoName, Digest)> = swept.into_iter().collect();
        Ok(manifests.into_iter().partition(|r| match &r.target {
            Target::Manifest(d) => swept.contains(&(r.repository.clone(), d.clone())),
            Target::Tag(..) => false,
        }))
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
    use super::*;
    use crate::registry::Algorithm;

    const DAY: Duration = Duration::from_secs(86_400);

    /// 2024-09-30T10:00:00Z.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_727_690_400)
    }

    fn digest(name: &str) -> Digest {
        Digest::of(Algorithm::Sha256, name.as_bytes())
    }

    fn policy(name: &str, repository: &str, tags: &str) -> Policy {
        Policy {
            name: name.to_owned(),
            repository: RepoGlob::parse(repository).unwrap(),
            tags: TagRegex::parse(tags).unwrap(),
            keep_latest: 0,
            keep_within: Duration::ZERO,
            keep_tags: BTreeSet::new(),
            untagged_grace: Duration::ZERO,
        }
    }

    /// A repository whose tags `(tag, manifest, days ago)` point at
    /// manifests named by text; `revisions` are `(manifest, days ago,
    /// children, subject)`.
    fn repo(name: &str, tags: &[(&str, &str, u32)], revisions: &[(&str, u32, &[&str], Option<&str>)]) -> RepoState {
        RepoState {
            name: RepoName::parse(name).unwrap(),
            tags: tags
                .iter()
                .map(|(tag, m, days)| TagState {
                    tag: Tag::parse(tag).unwrap(),
                    digest: digest(m),
                    pushed: now() - DAY * *days,
                })
                .collect(),
            revisions: revisions
                .iter()
                .map(|(m, days, children, subject)| RevisionState {
                    digest: digest(m),
                    pushed: now() - DAY * *days,
                    children: children.iter().map(|c| digest(c)).collect(),
                    subject: subject.map(digest),
                })
                .collect(),
        }
    }

    fn run(repos: &[RepoState], policies: Vec<Policy>) -> Plan {
        plan(repos, &Policies(policies), now(), &|_, tag| (tag.as_str() == "v1").then(|| "releases".to_owned()))
    }

    /// The removals as `repo:tag` and `repo@manifest-name` (by the text
    /// hashed into the digest).
    fn removed(plan: &Plan, names: &[&str]) -> Vec<String> {
        let name_of = |d: &Digest| names.iter().find(|n| digest(n) == *d).map_or(d.to_string(), |n| n.to_string());
        plan.removals
            .iter()
            .map(|r| match &r.target {
                Target::Tag(tag, _) => format!("{}:{tag}", r.repository),
                Target::Manifest(d) => format!("{}@{}", r.repository, name_of(d)),
            })
            .collect()
    }

    #[test]
    fn keeps_the_latest_and_the_recent_and_names_why() {
        let app = repo("app", &[("n1", "a", 1), ("n2", "b", 2), ("n3", "c", 3), ("n4", "d", 40), ("n5", "e", 50)], &[]);
        let mut nightly = policy("nightly", "app", "n.*");
        nightly.keep_latest = 1;
        nightly.keep_within = DAY * 30;
        let plan = run(&[app], vec![nightly]);
        assert_eq!(removed(&plan, &[]), ["app:n4", "app:n5"]);
        assert_eq!(
            plan.removals[0].to_string(),
            format!(
                "delete tag app:n4 {} (policy nightly: pushed 2024-08-21T10:00:00Z, not among the 1 latest, \
                 older than 720h)",
                digest("d")
            )
        );
    }

    #[test]
    fn keep_latest_alone_counts_every_governed_tag_and_breaks_ties_by_name() {
        let app = repo("app", &[("b", "m", 5), ("a", "m", 5), ("c", "m", 5), ("z", "m", 1)], &[]);
        let mut p = policy("p", "*", ".*");
        p.keep_latest = 2;
        let plan = run(&[app], vec![p]);
        // z is newest; of the ties a comes first, so b and c go.
        assert_eq!(removed(&plan, &[]), ["app:b", "app:c"]);
        assert!(
            plan.removals[0].to_string().ends_with("(policy p: pushed 2024-09-25T10:00:00Z, not among the 2 latest)")
        );
    }

    #[test]
    fn the_first_matching_policy_governs_and_ungoverned_tags_stay() {
        let app = repo("team/app", &[("latest", "m", 90), ("keep", "m", 90), ("old", "m", 90)], &[]);
        let other = repo("other", &[("old", "m", 90)], &[]);
        // The first policy governs `latest` without any keep rule: it stays.
        let shield = policy("shield", "team/*", "latest");
        let mut all = policy("all", "team/*", "keep|old");
        all.keep_within = DAY;
        all.keep_tags.insert("keep".to_owned());
        let plan = run(&[app, other], vec![shield, all]);
        assert_eq!(removed(&plan, &[]), ["team/app:old"]);
    }

    #[test]
    fn globs_stay_within_a_path_segment_unless_doubled() {
        let nested = repo("team/sub/app", &[("old", "m", 90)], &[]);
        let mut single = policy("single", "team/*", ".*");
        single.keep_within = DAY;
        assert!(run(std::slice::from_ref(&nested), vec![single]).removals.is_empty());
        let mut double = policy("double", "team/**", ".*");
        double.keep_within = DAY;
        assert_eq!(removed(&run(&[nested], vec![double]), &[]), ["team/sub/app:old"]);
    }

    #[test]
    fn immutable_tags_are_kept_and_reported() {
        let app = repo("app", &[("v1", "m", 90), ("v0", "m", 90)], &[]);
        let mut p = policy("p", "app", ".*");
        p.keep_within = DAY;
        let plan = run(&[app], vec![p]);
        assert_eq!(removed(&plan, &[]), ["app:v0"]);
        assert_eq!(plan.immutable.len(), 1);
        assert_eq!((plan.immutable[0].tag.as_str(), plan.immutable[0].rule.as_str()), ("v1", "releases"));
    }

    #[test]
    fn untagged_manifests_go_after_the_grace_unless_something_kept_reaches_them() {
        let revisions: &[(&str, u32, &[&str], Option<&str>)] = &[
            ("tagged-index", 90, &["child"], None),
            ("child", 90, &[], None),
            ("signature", 90, &[], Some("child")),
            ("old", 90, &[], None),
            ("old-signature", 90, &[], Some("old")),
            ("young", 1, &["young-child"], None),
            ("young-child", 90, &[], None),
            ("was-tagged", 90, &[], None),
        ];
        let app = repo("app", &[("latest", "tagged-index", 90), ("nightly", "was-tagged", 90)], revisions);
        let mut nightly = policy("nightly", "app", "nightly");
        nightly.keep_latest = 1;
        let shield = policy("shield", "app", "latest");
        let mut untagged = policy("untagged", "app", "none");
        untagged.untagged_grace = DAY * 7;
        let names = ["old", "old-signature", "was-tagged"];
        let plan = run(std::slice::from_ref(&app), vec![shield.clone(), nightly.clone(), untagged.clone()]);
        // nightly is the only nightly tag: kept, so was-tagged stays too.
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(sorted(removed(&plan, &names)), ["app@old", "app@old-signature"]);
        assert!(
            plan.removals[0]
                .to_string()
                .ends_with("(policy untagged: untagged, pushed 2024-07-02T10:00:00Z, older than 168h)")
        );
        // With nightly removed, was-tagged is untagged as well.
        nightly.keep_latest = 0;
        nightly.keep_within = DAY;
        let plan = run(&[app], vec![shield, nightly, untagged]);
        assert_eq!(sorted(removed(&plan, &names)), ["app:nightly", "app@old", "app@old-signature", "app@was-tagged"]);
    }

    #[test]
    fn without_an_untagged_grace_untagged_manifests_stay() {
        let app = repo("app", &[], &[("old", 900, &[], None)]);
        let mut p = policy("p", "app", ".*");
        p.keep_latest = 1;
        assert!(run(&[app], vec![p]).removals.is_empty());
    }

    #[test]
    fn lines_sort_by_repository_then_tags_then_name() {
        let b = repo("b", &[("t", "x", 90)], &[("x", 90, &[], None), ("y", 90, &[], None)]);
        let a = repo("a", &[("t2", "x", 90), ("t1", "x", 90)], &[]);
        let mut p = policy("p", "*", ".*");
        p.keep_within = DAY;
        p.untagged_grace = DAY;
        let plan = run(&[b, a], vec![p]);
        let mut manifests = ["b@x", "b@y"];
        manifests.sort_by_key(|m| digest(&m[2..]));
        let expected = ["a:t1", "a:t2", "b:t", manifests[0], manifests[1]];
        assert_eq!(removed(&plan, &["x", "y"]), expected);
    }

    /// Between the plan and the removal a tag moved onto a manifest the
    /// plan took for untagged: the tag stays, and so does that manifest.
    #[tokio::test]
    async fn a_tag_that_moved_is_skipped_and_keeps_what_it_points_at() {
        use crate::{
            registry::Registry,
            storage::{Driver, InMemory},
        };
        let driver = std::sync::Arc::new(InMemory::new());
        let registry = Registry::new(driver.clone(), crate::registry::Options::default());
        let app = repo("app", &[("nightly", "a", 90)], &[("b", 90, &[], None), ("c", 90, &[], None)]);
        let name = app.name.clone();
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

    #[test]
    fn durations_read_as_configured() {
        assert_eq!(short_duration(DAY * 30), "720h");
        assert_eq!(short_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(short_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(short_duration(Duration::from_millis(250)), "250ms");
    }
}
