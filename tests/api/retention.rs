//! Retention policies (`berth.retention`) over a real storage root: what a
//! dry run prints is exactly what a real run removes, kept images still
//! pull byte for byte, immutable tags stay, and the server's scheduled runs
//! send delete events and count in the metrics.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use berth::{
    config::Config,
    registry::{GcOptions, RetentionReport},
    server::{open_registry, retention_policies},
};
use serde_json::Value;

use crate::{common::*, notifications::Hook};

/// 2024-08-01T10:00:00Z.
const AUG_1: u64 = 1_722_506_400;
const DAY: u64 = 86_400;

/// The policies of the tests: one for `app`, tags kept by count, age and
/// name, untagged manifests after a week; `v1.0`-style tags immutable.
const BERTH: &str = r#"berth:
  tags:
    immutable:
      - {name: releases, repository: "**", tags: 'v\d+\.\d+'}
  retention:
    policies:
      - name: nightly
        repository: app
        keeplatest: 2
        keepwithin: 720h
        keeptags: [latest, multi]
        untaggedgrace: 168h
"#;

/// Sets a file's modification time to `secs` after the epoch.
fn set_mtime(path: &Path, secs: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
}

fn tag_link(v2: &Path, repo: &str, tag: &str) -> PathBuf {
    v2.join(format!("repositories/{repo}/_manifests/tags/{tag}/current/link"))
}

fn revision_link(v2: &Path, repo: &str, digest: &str) -> PathBuf {
    v2.join(format!("repositories/{repo}/_manifests/revisions/sha256/{}/link", hex_of(digest)))
}

/// Every path below `top`, relative to it (directories end in `/`).
fn walk_dir(top: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut pending = vec![top.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(top).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(format!("{rel}/"));
                pending.push(path);
            } else {
                out.insert(rel);
            }
        }
    }
    out
}

/// Runs the policies over a root, uncached, as `berth retention` does.
async fn retention(root: &Path, berth: &str, dry_run: bool) -> (RetentionReport, Vec<String>) {
    let yaml = format!("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n{berth}", root.display());
    let config = Config::parse(&yaml).unwrap();
    let (registry, _) = open_registry(&config).await.unwrap();
    let mut lines = Vec::new();
    let report = registry.retention(&retention_policies(&config).unwrap(), dry_run, |l| lines.push(l)).await;
    (report.unwrap(), lines)
}

/// What the scenario pushed.
struct Pushed {
    n1: String,
    n2: String,
    n3: String,
    release: String,
    orphan: String,
    young: String,
    signature_n1: String,
    signature_n3: String,
    child: String,
    index: String,
    bodies: Vec<(String, Vec<u8>)>,
}

/// An artifact manifest whose subject is `subject`, pushed by digest.
async fn push_signature(reg: &Registry, subject: &str, subject_body: &[u8], seed: &str) -> String {
    reg.push_blob("app", b"{}").await;
    let subject = Desc { media_type: OCI_MANIFEST.into(), digest: subject.into(), size: subject_body.len() };
    let extra = format!(
        r#", "artifactType": "application/x-signature", "subject": {}, "annotations": {{"seed": "{seed}"}}"#,
        subject.json()
    );
    let body = image_manifest(Some(OCI_MANIFEST), &Desc::empty(), &[], &extra);
    reg.push_manifest("app", &sha256(&body), OCI_MANIFEST, &body).await
}

/// nightly-1 and nightly-2 (old), nightly-3 and latest (new, the same
/// image), v1.0 (old, immutable), multi (old, kept by name: an index over
/// an untagged child), untagged manifests old and young, signatures of n1
/// and n3, and `other:nightly-1`, which no policy matches. Every old thing
/// is backdated; the tags' times are 2024-09-01 and 2024-09-02.
async fn scenario(reg: &Registry, v2: &Path) -> Pushed {
    let mut bodies = Vec::new();
    let mut image = async |tag: &str, seed: &str| {
        let (digest, body) = reg.push_image("app", tag, seed).await;
        bodies.push((digest.clone(), body));
        digest
    };
    let n1 = image("nightly-1", "n1").await;
    let n2 = image("nightly-2", "n2").await;
    let n3 = image("nightly-3", "n3").await;
    let release = image("v1.0", "release").await;
    let child = image("child-tmp", "child").await;
    let orphan = image("orphan-tmp", "orphan").await;
    let young = image("young-tmp", "young").await;
    let body = |d: &str| bodies.iter().find(|(b, _)| b == d).unwrap().1.clone();
    let (n1_body, n3_body, child_body) = (body(&n1), body(&n3), body(&child));
    for tag in ["child-tmp", "orphan-tmp", "young-tmp"] {
        assert_eq!(reg.delete(&format!("/v2/app/manifests/{tag}")).await.status(), 202);
    }
    reg.push_manifest("app", "latest", OCI_MANIFEST, &n3_body).await;
    let index_body = index_manifest(Some(OCI_INDEX), &[Desc::of(OCI_MANIFEST, &child_body)], "");
    let index = reg.push_manifest("app", "multi", OCI_INDEX, &index_body).await;
    bodies.push((index.clone(), index_body));
    let signature_n1 = push_signature(reg, &n1, &n1_body, "n1").await;
    let signature_n3 = push_signature(reg, &n3, &n3_body, "n3").await;
    reg.push_image("other", "nightly-1", "other").await;

    for (tag, secs) in
        [("nightly-1", AUG_1 + 31 * DAY), ("nightly-2", AUG_1 + 32 * DAY), ("v1.0", AUG_1), ("multi", AUG_1)]
    {
        set_mtime(&tag_link(v2, "app", tag), secs);
    }
    set_mtime(&tag_link(v2, "other", "nightly-1"), AUG_1);
    for digest in [&n1, &n2, &n3, &release, &orphan, &signature_n1, &signature_n3, &child, &index] {
        set_mtime(&revision_link(v2, "app", digest), AUG_1);
    }
    Pushed { n1, n2, n3, release, orphan, young, signature_n1, signature_n3, child, index, bodies }
}

fn expected_lines(p: &Pushed) -> Vec<String> {
    let tag = |name: &str, digest: &str, day: u32| {
        format!(
            "delete tag app:{name} {digest} (policy nightly: pushed 2024-09-0{day}T10:00:00Z, not among the 2 latest, \
             older than 720h)"
        )
    };
    let mut manifests = vec![&p.n1, &p.n2, &p.orphan, &p.signature_n1];
    manifests.sort();
    let mut lines = vec![tag("nightly-1", &p.n1, 1), tag("nightly-2", &p.n2, 2)];
    lines.extend(manifests.into_iter().map(|d| {
        format!("delete manifest app@{d} (policy nightly: untagged, pushed 2024-08-01T10:00:00Z, older than 168h)")
    }));
    lines
}

/// What the real run removes: the tags' directories, the manifests'
/// revision directories and the signature's referrers link.
fn removed_paths(p: &Pushed) -> BTreeSet<String> {
    let app = "root/docker/registry/v2/repositories/app";
    let mut dirs: BTreeSet<String> =
        ["nightly-1", "nightly-2"].iter().map(|t| format!("{app}/_manifests/tags/{t}/")).collect();
    for d in [&p.n1, &p.n2, &p.orphan, &p.signature_n1] {
        dirs.insert(format!("{app}/_manifests/revisions/sha256/{}/", hex_of(d)));
    }
    // The signature's entry in its subject's referrers index.
    dirs.insert(format!("{app}/_referrers/sha256/{}/sha256/{}/link", hex_of(&p.n1), hex_of(&p.signature_n1)));
    dirs
}

/// The seed's workflow: a dry run prints the removals and changes nothing;
/// the real run prints the same lines and removes exactly those tags and
/// manifests (and their index and referrers entries); everything kept
/// still pulls byte for byte; garbage collection then reclaims the bytes.
#[tokio::test]
async fn a_real_run_removes_exactly_what_the_dry_run_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, v2) = start_on(&dir).await;
    let pushed = scenario(&reg, &v2).await;
    let root = dir.path().join("root");
    let before = walk_dir(dir.path());

    let (report, dry) = retention(&root, BERTH, true).await;
    let mut want = expected_lines(&pushed);
    assert_eq!(dry[..dry.len() - 1], want[..]);
    assert_eq!(dry.last().unwrap(), "retention: 2 tags and 4 manifests would be removed (dry run)");
    assert_eq!(walk_dir(dir.path()), before, "a dry run changes nothing");
    let kept: Vec<_> = report.immutable.iter().map(|k| (k.tag.as_str(), k.rule.as_str())).collect();
    assert_eq!(kept, [("v1.0", "releases")]);

    reg.stop().await;
    let (report, real) = retention(&root, BERTH, false).await;
    want.push("retention: 2 tags and 4 manifests removed".into());
    assert_eq!(real, want);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let after = walk_dir(dir.path());
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    let expected = removed_paths(&pushed);
    for path in &gone {
        assert!(expected.iter().any(|dir| path.starts_with(dir.as_str())), "{path} should not be removed");
    }
    for dir in &expected {
        assert!(gone.contains(dir), "{dir} should be removed: {gone:#?}");
    }
    assert!(after.is_subset(&before), "nothing written");

    let (reg, _) = start_on(&dir).await;
    assert_kept_and_gone(&reg, &pushed).await;
    reg.stop().await;

    let (gc, _) = collect_garbage(&root, GcOptions { grace: Duration::ZERO, ..GcOptions::default() }).await;
    let layer = |seed: &str| sha256(format!("layer bytes of {seed}").as_bytes());
    for seed in ["n1", "n2", "orphan"] {
        assert!(gc.blobs.contains(&layer(seed).parse().unwrap()), "{seed}'s layer collected: {gc:?}");
    }
    for seed in ["n3", "release", "child", "young", "other"] {
        assert!(!gc.blobs.contains(&layer(seed).parse().unwrap()), "{seed}'s layer kept");
    }
}

/// Kept tags and manifests pull with their bytes; removed ones are gone.
async fn assert_kept_and_gone(reg: &Registry, p: &Pushed) {
    let tags = json(reg.get("/v2/app/tags/list").await).await;
    assert_eq!(tags["tags"], serde_json::json!(["latest", "multi", "nightly-3", "v1.0"]));
    let body = |d: &str| p.bodies.iter().find(|(b, _)| b == d).map(|(_, b)| b.clone()).unwrap();
    for (reference, digest) in [
        ("latest", &p.n3),
        ("nightly-3", &p.n3),
        ("v1.0", &p.release),
        ("multi", &p.index),
        (p.child.as_str(), &p.child),
        (p.young.as_str(), &p.young),
    ] {
        let r = reg.get(&format!("/v2/app/manifests/{reference}")).await;
        assert_eq!(r.status(), 200, "{reference}");
        assert_eq!(hdr(&r, "docker-content-digest").as_deref(), Some(digest.as_str()));
        assert_eq!(r.bytes().await.unwrap().to_vec(), body(digest), "{reference}");
    }
    assert_eq!(reg.get(&format!("/v2/app/manifests/{}", p.signature_n3)).await.status(), 200);
    let referrers = json(reg.get(&format!("/v2/app/referrers/{}", p.n3)).await).await;
    assert_eq!(referrers["manifests"][0]["digest"], Value::from(p.signature_n3.clone()));
    for reference in ["nightly-1", "nightly-2", &p.n1, &p.n2, &p.orphan, &p.signature_n1] {
        expect_error(reg.get(&format!("/v2/app/manifests/{reference}")).await, 404, "MANIFEST_UNKNOWN").await;
    }
    assert_eq!(reg.get("/v2/other/manifests/nightly-1").await.status(), 200, "no policy matches other");
}

/// The server applies the policies every `interval` while it serves:
/// the same removals, a delete event for each (with `berth.operation`
/// retention and the policy), the metrics, and what is kept still pulls
/// through the server's caches.
#[tokio::test]
async fn the_server_applies_the_policies_on_schedule() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let reg = start_config(&scheduled(&root, &hook, "")).await;
    let pushed = scenario(&reg, &root.join("docker/registry/v2")).await;
    let events = retention_events(&hook, 6).await;

    let mut tags: Vec<&str> = events.iter().filter_map(|e| e["target"]["tag"].as_str()).collect();
    tags.sort();
    assert_eq!(tags, ["nightly-1", "nightly-2"]);
    let mut digests: Vec<&str> = events.iter().filter_map(|e| e["target"]["digest"].as_str()).collect();
    digests.sort();
    let mut want = [&pushed.n1, &pushed.n2, &pushed.orphan, &pushed.signature_n1].map(String::as_str);
    want.sort();
    assert_eq!(digests, want);
    for e in &events {
        assert_eq!((e["action"].as_str(), e["target"]["repository"].as_str()), (Some("delete"), Some("app")));
        assert_eq!(e["berth"], serde_json::json!({"operation": "retention", "policy": "nightly"}));
    }
    assert_kept_and_gone(&reg, &pushed).await;

    let metrics = reqwest::get(format!("http://{}/metrics", reg.debug_addr().unwrap())).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    for line in
        [r#"registry_retention_deleted_total{kind="tag"} 2"#, r#"registry_retention_deleted_total{kind="manifest"} 4"#]
    {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(metrics.contains(r#"registry_retention_runs_total{outcome="ok"}"#), "{metrics}");
    assert!(metrics.contains("registry_retention_last_duration_seconds"), "{metrics}");
    reg.stop().await;
    hook.stop();
}

/// A server over `root` that applies `BERTH` every second, with `extra`
/// under `berth.retention`, notifying `hook`.
fn scheduled(root: &Path, hook: &Hook, extra: &str) -> String {
    let berth = BERTH.replace("  retention:\n", &format!("  retention:\n    interval: 1s\n{extra}"));
    format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n    \
         prometheus:\n      enabled: true\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  delete:\n    enabled: true\n\
         notifications:\n  endpoints:\n    - {{name: hook, url: {}, timeout: 1s, backoff: 100ms}}\n{berth}",
        root.display(),
        hook.url("/hook")
    )
}

/// A scheduled dry run logs what it would remove and removes nothing:
/// after several runs every file is still there and no event was sent.
#[tokio::test]
async fn a_scheduled_dry_run_removes_nothing() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let reg = start_config(&scheduled(&root, &hook, "    dryrun: true\n")).await;
    let pushed = scenario(&reg, &root.join("docker/registry/v2")).await;
    let before = walk_dir(dir.path());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(walk_dir(dir.path()), before);
    assert!(hook.accepted("/hook").iter().all(|e| e["berth"].is_null()), "no retention events");
    assert_eq!(reg.get(&format!("/v2/app/manifests/{}", pushed.n1)).await.status(), 200);
    reg.stop().await;
    hook.stop();
}

/// Waits until the endpoint has accepted `n` retention events.
async fn retention_events(hook: &Hook, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events: Vec<Value> =
            hook.accepted("/hook").into_iter().filter(|e| e["berth"]["operation"] == "retention").collect();
        if events.len() >= n {
            return events;
        }
        assert!(std::time::Instant::now() < deadline, "waited for {n} retention events, got {events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
