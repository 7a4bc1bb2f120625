//! The plan of a retention run: over a snapshot of the repositories
//! (`snapshot.rs`), which tags and untagged manifests the policies remove.
//! It reads no storage, so it is tested on made-up snapshots.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, SystemTime},
};

use super::{KeptImmutable, Policies, Policy, Removal, Target};
use crate::registry::{Digest, RepoName, Tag};

/// A tag as the snapshot saw it.
#[derive(Debug, Clone)]
pub(super) struct TagState {
    pub(super) tag: Tag,
    pub(super) digest: Digest,
    /// Its `current/link`'s modification time.
    pub(super) pushed: SystemTime,
}

/// A manifest revision as the snapshot saw it.
#[derive(Debug, Clone)]
pub(super) struct RevisionState {
    pub(super) digest: Digest,
    /// Its revision link's modification time.
    pub(super) pushed: SystemTime,
    /// The manifests it lists (an index's children).
    pub(super) children: Vec<Digest>,
    /// The manifest it refers to.
    pub(super) subject: Option<Digest>,
}

/// One repository as the snapshot saw it.
#[derive(Debug, Clone)]
pub(super) struct RepoState {
    pub(super) name: RepoName,
    pub(super) tags: Vec<TagState>,
    /// Read only when a policy removes untagged manifests here.
    pub(super) revisions: Vec<RevisionState>,
}

/// What a plan removes and what immutability keeps.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) removals: Vec<Removal>,
    pub(super) immutable: Vec<KeptImmutable>,
}

/// Plans over a snapshot, taken at `now`. `immutable` names the immutable
/// rule that protects a tag, if any.
pub(super) fn plan(
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
pub(super) fn reach(roots: impl IntoIterator<Item = Digest>, revisions: &[RevisionState]) -> HashSet<Digest> {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::registry::{Algorithm, RepoGlob, TagRegex};

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

    #[test]
    fn durations_read_as_configured() {
        assert_eq!(short_duration(DAY * 30), "720h");
        assert_eq!(short_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(short_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(short_duration(Duration::from_millis(250)), "250ms");
    }
}
