//! Crash safety and a full disk, against the real binary.
//!
//! berth is killed with SIGKILL at random moments while clients push, and
//! restarted on the same root; and a small tmpfs fills up under pushes.
//!
//! What a SIGKILL can show: the process dies between any two instructions,
//! but the page cache survives it, so these tests prove the order of writes
//! (bytes before renames, links after bytes, sessions holding only what
//! arrived) and that nothing acknowledged was still in berth's memory. They
//! cannot show that an fsync reached the disk: that takes a power cut, which
//! cannot be tested here.

#[path = "load/mod.rs"]
mod load;

use std::{path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use load::{
    client::{BlobRef, Client, Fail, Ledger, Pending, Pushed, Res, body, expect_code, header, sha256},
    process::{Berth, write_config},
    rng::{Rng, seed},
    tree,
};
use reqwest::Method;

/// Clients pushing at once in each round.
const CLIENTS: usize = 8;
/// Repositories they share.
const REPOS: u64 = 3;

/// Rounds of push, kill, restart, check: `BERTH_CRASH_ROUNDS`, default 4 so
/// CI stays under a minute (the soak script runs 50).
fn rounds() -> usize {
    std::env::var("BERTH_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4)
}

/// Everything the clients were told succeeded, over all rounds.
#[derive(Default)]
struct Acked {
    blobs: Vec<BlobRef>,
    manifests: Vec<Pushed>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_pushes_survive_sigkill_and_cut_uploads_resume() {
    let mut rng = Rng::new(seed());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let config = write_config(dir.path(), &root, "");
    let shared = Bytes::from(rng.bytes(200 << 10));
    let mut acked = Acked::default();
    let mut berth = Berth::start(&config);
    for round in 0..rounds() {
        let started = std::time::Instant::now();
        let ledgers = push_until_killed(berth, round, &shared, &mut rng).await;
        berth = Berth::start(&config);
        let client = Client::new(&berth.base);
        let (resumed, blobs) = check_after_crash(&client, &root, &ledgers, &mut acked).await;
        println!(
            "round {round}: {} blobs and {} manifests acknowledged so far, {resumed} cut uploads resumed, \
             {blobs} blob files hashed, {:.1}s",
            acked.blobs.len(),
            acked.manifests.len(),
            started.elapsed().as_secs_f64()
        );
    }
    berth.stop();
    let mut beside: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    beside.sort();
    assert_eq!(beside, ["berth.log", "config.yml", "root"], "nothing written outside the root");
}

/// Runs the clients, SIGKILLs berth after 20–800 ms, and returns what each
/// client was told and had in flight. A wrong answer before the kill fails.
async fn push_until_killed(berth: Berth, round: usize, shared: &Bytes, rng: &mut Rng) -> Vec<Arc<Ledger>> {
    let client = Client::new(&berth.base);
    let ledgers: Vec<Arc<Ledger>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let tasks: Vec<_> = ledgers
        .iter()
        .enumerate()
        .map(|(id, ledger)| {
            let (client, ledger, shared, rng) = (client.clone(), ledger.clone(), shared.clone(), rng.fork());
            tokio::spawn(async move { push_forever(client, format!("r{round}-c{id}"), rng, &ledger, &shared).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(rng.between(20, 800))).await;
    berth.kill();
    for task in tasks {
        let outcome = tokio::time::timeout(Duration::from_secs(60), task).await;
        match outcome.expect("a client hung after the kill").expect("client task") {
            Fail::Cut(_) => {}
            Fail::Bad(e) => panic!("round {round}: wrong answer before the kill: {e}"),
        }
    }
    ledgers
}

/// Pushes images (a few as indexes, some by digest, some sharing a layer)
/// until a request fails; returns how.
async fn push_forever(client: Client, name: String, mut rng: Rng, ledger: &Ledger, shared: &Bytes) -> Fail {
    for n in 0.. {
        let repo = format!("crash/r{}", rng.below(REPOS));
        let tag = rng.chance(75).then(|| format!("{name}-{n}"));
        let pushed = if rng.chance(15) {
            client.push_index(&repo, tag, &mut rng, ledger).await
        } else {
            let shared = rng.chance(30).then_some(shared);
            client.push_image(&repo, tag, shared, &mut rng, ledger).await
        };
        if let Err(fail) = pushed {
            return fail;
        }
    }
    unreachable!("pushes until the server dies")
}

/// After a restart: the tree on disk is sound, every cut upload resumes or
/// is gone, everything ever acknowledged pulls byte-identical, and every
/// blob and tag the server holds serves bytes that match their digest.
/// Returns how many uploads resumed and how many blob files were hashed.
async fn check_after_crash(client: &Client, root: &Path, ledgers: &[Arc<Ledger>], acked: &mut Acked) -> (usize, usize) {
    let found = tree::check(root);
    assert!(found.problems.is_empty(), "after a SIGKILL:\n{}", found.problems.join("\n"));
    let mut resumed = 0;
    for ledger in ledgers {
        if let Some(pending) = ledger.pending.lock().unwrap().take() {
            resumed += usize::from(resume(client, &pending).await.unwrap_or_else(|e| panic!("{e:?}")));
        }
        acked.blobs.append(&mut ledger.blobs.lock().unwrap());
        acked.manifests.append(&mut ledger.manifests.lock().unwrap());
    }
    for blob in &acked.blobs {
        client.verify_blob(blob).await.unwrap_or_else(|e| panic!("acknowledged blob lost: {e:?}"));
    }
    for pushed in &acked.manifests {
        client.verify(pushed).await.unwrap_or_else(|e| panic!("acknowledged manifest lost: {e:?}"));
    }
    for (repo, digest) in &found.layer_links {
        served_as_named(client, &format!("/v2/{repo}/blobs/{digest}"), digest).await;
    }
    for (repo, tag) in &found.tags {
        served_as_named(client, &format!("/v2/{repo}/manifests/{tag}"), "").await;
    }
    (resumed, found.blobs)
}

/// GETs a blob or manifest the tree holds: 200, and bytes that hash to the
/// Docker-Content-Digest (and to `digest`, when given).
async fn served_as_named(client: &Client, path: &str, digest: &str) {
    let req = client.req(Method::GET, path).header("Accept", load::client::OCI_MANIFEST);
    let r = client.send(req.header("Accept", load::client::OCI_INDEX)).await.expect("GET");
    assert_eq!(r.status(), 200, "GET {path}");
    let named = header(&r, "docker-content-digest");
    let got = body(r).await.expect("body");
    assert_eq!(sha256(&got), named, "GET {path}: bytes do not match their Docker-Content-Digest");
    assert!(digest.is_empty() || named == digest, "GET {path}: served as {named}");
}

/// An upload that was in flight at the kill: its status GET answers 204
/// with a Range between what was acknowledged and what was sent, and it
/// completes from there to the right digest; or it answers 404
/// BLOB_UPLOAD_UNKNOWN because its completing PUT got through, and the blob
/// is there. Returns whether it resumed.
async fn resume(client: &Client, p: &Pending) -> Res<bool> {
    let what = format!("cut upload of {} to {} ({p:?})", p.digest, p.repo);
    let r = client.send(client.req(Method::GET, &p.location)).await?;
    let blob = BlobRef { repo: p.repo.clone(), digest: p.digest.clone(), size: p.data.len() as u64 };
    if r.status() == 404 && p.finishing {
        expect_code(r, 404, "BLOB_UPLOAD_UNKNOWN", &what).await?;
        client.verify_blob(&blob).await?;
        return Ok(false);
    }
    if r.status() != 204 {
        return Err(Fail::Bad(format!("{what}: status GET answered {}", r.status())));
    }
    let (size, now) = held(client, &r, p).await?;
    // A completing PUT may have moved the bytes to the blob store already.
    let plausible = (p.acked..=p.sent).contains(&size) || (p.finishing && size == 0);
    if !plausible {
        return Err(Fail::Bad(format!("{what}: the session holds {size} bytes")));
    }
    let mut location = header(&r, "location");
    if now < p.data.len() {
        location = client.patch(&location, &p.data, now, p.data.len(), &what).await?;
    }
    let put = client.req(Method::PUT, &format!("{location}&digest={}", p.digest));
    let r = client.expect(put, 201, &what).await?;
    if header(&r, "docker-content-digest") != p.digest {
        return Err(Fail::Bad(format!("{what}: completed as {}", header(&r, "docker-content-digest"))));
    }
    client.verify_blob(&blob).await?;
    Ok(true)
}

/// How many bytes a session held, from its status Range, and holds now.
/// distribution's `0-0` means 0 or 1 byte: a PATCH of the first byte tells
/// which (202: there were none, and now there is one).
async fn held(client: &Client, status: &reqwest::Response, p: &Pending) -> Res<(usize, usize)> {
    let range = header(status, "range");
    let last: usize = range
        .strip_prefix("0-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Fail::Bad(format!("status Range {range:?}")))?;
    if p.data.is_empty() {
        return Ok((0, 0));
    }
    if last > 0 {
        return Ok((last + 1, last + 1));
    }
    let probe = client
        .req(Method::PATCH, &header(status, "location"))
        .header("Content-Range", "0-0")
        .header("Content-Type", "application/octet-stream")
        .body(p.data.slice(..1));
    let r = client.send(probe).await?;
    match r.status().as_u16() {
        202 => Ok((0, 1)),
        416 => Ok((1, 1)),
        other => Err(Fail::Bad(format!("probe PATCH answered {other}"))),
    }
}
