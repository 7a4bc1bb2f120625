//! Garbage collection while berth serves: the grace period, the claims a
//! push makes, and a soak of pushes, deletes and pulls with collections
//! running alongside, in the server and from outside as the command does.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use berth::registry::{GcOptions, GcReport};
use reqwest::Method;

use crate::common::*;

/// A collection over the root of `reg`, uncached, as `berth garbage-collect`
/// runs it.
async fn collect(reg: &Registry, options: GcOptions) -> GcReport {
    collect_root(&reg.tmp().join("root"), options).await
}

async fn collect_root(root: &Path, options: GcOptions) -> GcReport {
    collect_garbage(root, options).await.0
}

/// Sets a file's modification time `ago` into the past.
fn age(path: &Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn hour() -> Duration {
    Duration::from_secs(3600)
}

/// Unreferenced content survives while it is younger than the grace
/// period, and goes once it is older.
#[tokio::test]
async fn the_grace_period_spares_young_content() {
    let reg = start().await;
    let (digest, _) = reg.push_image("g/young", "t", "young").await;
    assert_eq!(reg.delete(&format!("/v2/g/young/manifests/{digest}")).await.status(), 202);
    let grace = GcOptions { grace: hour(), ..GcOptions::default() };
    let before = reg.files();
    let report = collect(&reg, grace).await;
    assert!(report.blobs.is_empty() && report.layer_links == 0, "{report:?}");
    assert_eq!(report.young, 5, "manifest, config and layer bytes, two layer links: {report:?}");
    assert_eq!(reg.files(), before);

    for file in reg.files() {
        age(&reg.tmp().join(file), 2 * hour());
    }
    let report = collect(&reg, grace).await;
    assert_eq!((report.blobs.len(), report.layer_links, report.young), (3, 2, 0), "{report:?}");
    assert!(!reg.blob_data(&digest).exists());
    reg.stop().await;
}

/// Pushes an unreferenced blob and ages its bytes and its layer link by two
/// hours; returns its digest and those two paths. Waits out the read cache,
/// so the server does not answer with the times from before the aging.
async fn old_blob(reg: &Registry, name: &str, bytes: &[u8]) -> (String, PathBuf, PathBuf) {
    let digest = reg.push_blob(name, bytes).await;
    let data = reg.blob_data(&digest);
    let link = reg.repo_dir(name).join(format!("_layers/sha256/{}/link", hex_of(&digest)));
    age(&data, 2 * hour());
    age(&link, 2 * hour());
    tokio::time::sleep(berth::storage::CACHE_TTL).await;
    (digest, data, link)
}

/// A client told that an old blob exists skips uploading it: the HEAD
/// claims it, so a collection starting now spares it.
#[tokio::test]
async fn a_blob_head_claims_old_content() {
    let reg = start_with(true, "berth:\n  gc:\n    grace: 1h\n").await;
    let (digest, data, link) = old_blob(&reg, "g/claim", b"old unreferenced bytes").await;

    let r = reg.head(&format!("/v2/g/claim/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    for path in [&data, &link] {
        let since = mtime(path).elapsed().unwrap_or_default();
        assert!(since < Duration::from_secs(60), "{} was not touched: {since:?}", path.display());
    }
    let report = collect(&reg, GcOptions { grace: hour(), ..GcOptions::default() }).await;
    assert!(report.blobs.is_empty(), "{report:?}");
    assert!(data.exists());
    reg.stop().await;
}

/// A pull makes no reference, so a blob GET claims nothing: on S3 a claim
/// costs a copy and a second, which a pull of old layers must not pay.
#[tokio::test]
async fn a_blob_get_claims_nothing() {
    let reg = start_with(true, "berth:\n  gc:\n    grace: 1h\n").await;
    let (digest, data, link) = old_blob(&reg, "g/pull", b"old bytes, pulled").await;
    let before = [mtime(&data), mtime(&link)];

    let r = reg.get(&format!("/v2/g/pull/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.unwrap()[..], b"old bytes, pulled");
    assert_eq!([mtime(&data), mtime(&link)], before, "a GET touched the blob");
    reg.stop().await;
}

/// Content that is gone is never claimed: the HEAD that would claim it
/// answers 404, even while the read cache still remembers it.
#[tokio::test]
async fn a_swept_blob_is_not_claimed_from_the_cache() {
    let reg = start_with(true, "berth:\n  gc:\n    grace: 1h\n").await;
    let (digest, data, link) = old_blob(&reg, "g/swept", b"bytes to sweep").await;
    // Cache the old stats, then sweep behind the server's back.
    assert_eq!(reg.head(&format!("/v2/g/swept/blobs/{digest}")).await.status(), 200);
    age(&data, 2 * hour());
    age(&link, 2 * hour());
    let report = collect(&reg, GcOptions::default()).await;
    assert_eq!(report.blobs.len(), 1, "{report:?}");
    let r = reg.head(&format!("/v2/g/swept/blobs/{digest}")).await;
    assert_eq!(r.status(), 404, "a swept blob must not be reported as present");
    reg.stop().await;
}

/// Knobs of the soak; `BERTH_SOAK_GRACE=0` switches the protection off
/// (the soak then loses pushes, which shows it can fail).
fn soak_settings() -> (Duration, Duration) {
    let secs = |var: &str, default: f64| {
        let v = std::env::var(var).ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(default);
        Duration::from_secs_f64(v)
    };
    (secs("BERTH_SOAK_SECS", 12.0), secs("BERTH_SOAK_GRACE", 4.0))
}

/// One pushed image a client was told was stored.
struct Pushed {
    tag: String,
    digest: String,
    manifest: Vec<u8>,
    blobs: Vec<(String, Vec<u8>)>,
}

/// What a soak client saw.
#[derive(Default)]
struct Tally {
    pushed: u64,
    refused: Vec<String>,
    lost: Vec<String>,
    deleted: u64,
    kept: Vec<Pushed>,
}

fn random_bytes(len: usize) -> Vec<u8> {
    (0..len.div_ceil(16)).flat_map(|_| *uuid::Uuid::new_v4().as_bytes()).take(len).collect()
}

fn pick(n: usize) -> usize {
    (u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap()) % n as u64) as usize
}

/// Pushes a blob unless the registry says it has it, as clients do.
async fn ensure_blob(reg: &Registry, name: &str, data: &[u8]) -> Result<(), String> {
    let digest = sha256(data);
    if reg.head(&format!("/v2/{name}/blobs/{digest}")).await.status() == 200 {
        return Ok(());
    }
    let location = reg.start_upload(name).await;
    let r = reg.req(Method::PUT, &with_param(&location, "digest", &digest)).body(data.to_vec()).send().await;
    match r {
        Ok(r) if r.status() == 201 => Ok(()),
        Ok(r) => Err(format!("blob {digest}: {}", r.status())),
        Err(e) => Err(format!("blob {digest}: {e}")),
    }
}

/// One client: pushes images made of a fresh config and layers from its
/// own pool (so old, unreferenced layers get reused), pulls one of its
/// images after each push, and deletes some of them.
async fn soak_client(reg: Arc<Registry>, id: usize, until: tokio::time::Instant) -> Tally {
    let name = format!("soak/c{id}");
    let pool: Vec<Vec<u8>> = (0..6).map(|_| random_bytes(1024 + pick(16 * 1024))).collect();
    let mut tally = Tally::default();
    let mut n = 0;
    while tokio::time::Instant::now() < until {
        n += 1;
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"client\":{id},\"n\":{n}}}").into_bytes();
        let layers = [pool[pick(pool.len())].clone(), pool[pick(pool.len())].clone()];
        let mut blobs = vec![(sha256(&config), config)];
        blobs.extend(layers.iter().map(|l| (sha256(l), l.clone())));
        blobs.dedup_by(|a, b| a.0 == b.0);
        let mut failed = None;
        for (_, data) in &blobs {
            if let Err(e) = ensure_blob(&reg, &name, data).await {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            tally.refused.push(e);
            continue;
        }
        let descs: Vec<Desc> = blobs[1..].iter().map(|(_, l)| Desc::of(OCI_LAYER, l)).collect();
        let manifest = image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, &blobs[0].1), &descs, "");
        let tag = format!("v{n}");
        let r = reg.put_manifest(&name, &tag, OCI_MANIFEST, &manifest).await;
        if r.status() != 201 {
            tally.refused.push(format!("{name}:{tag}: {} {}", r.status(), text(r).await));
            continue;
        }
        tally.pushed += 1;
        tally.kept.push(Pushed { tag, digest: sha256(&manifest), manifest, blobs });
        let check = &tally.kept[pick(tally.kept.len())];
        let failed = verify(&reg, &name, std::slice::from_ref(check)).await;
        tally.lost.extend(failed);
        if pick(3) == 0 && tally.kept.len() > 1 {
            let old = tally.kept.remove(pick(tally.kept.len() - 1));
            let r = reg.delete(&format!("/v2/{name}/manifests/{}", old.digest)).await;
            match r.status().as_u16() {
                202 => tally.deleted += 1,
                status => tally.lost.push(format!("{name}@{}: DELETE answered {status}", old.digest)),
            }
        }
    }
    tally
}

/// Every image in `kept` pulls byte for byte; returns what did not.
async fn verify(reg: &Registry, name: &str, kept: &[Pushed]) -> Vec<String> {
    let mut lost = Vec::new();
    for image in kept {
        let r = reg.get(&format!("/v2/{name}/manifests/{}", image.tag)).await;
        let (status, body) = (r.status(), r.bytes().await.unwrap_or_default());
        if status != 200 || body[..] != image.manifest[..] || sha256(&body) != image.digest {
            lost.push(format!("{name}:{} manifest: {status}", image.tag));
            continue;
        }
        for (digest, data) in &image.blobs {
            let r = reg.get(&format!("/v2/{name}/blobs/{digest}")).await;
            let (status, body) = (r.status(), r.bytes().await.unwrap_or_default());
            if status != 200 || body[..] != data[..] {
                lost.push(format!("{name}:{} blob {digest}: {status}", image.tag));
            }
        }
    }
    lost
}

/// Six clients push, delete and re-push for a while; the server collects
/// every 100 ms (untagged manifests too) and another collector runs on the
/// same root from outside, as `berth garbage-collect` would. Afterwards
/// every image a client was told was pushed pulls byte for byte, and no
/// push was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_survive_collections_running_alongside() {
    let (secs, grace) = soak_settings();
    let gc =
        format!("berth:\n  gc:\n    grace: {}ms\n    interval: 100ms\n    deleteuntagged: true\n", grace.as_millis());
    let reg = Arc::new(start_with(true, &gc).await);
    let until = tokio::time::Instant::now() + secs;
    let stop = Arc::new(AtomicBool::new(false));
    let swept = Arc::new(AtomicU64::new(0));
    let outside = {
        let (root, stop, swept) = (reg.tmp().join("root"), stop.clone(), swept.clone());
        tokio::spawn(async move {
            let options = GcOptions { delete_untagged: true, grace, ..GcOptions::default() };
            while !stop.load(Ordering::Relaxed) {
                let report = collect_root(&root, options).await;
                swept.fetch_add((report.blobs.len() + report.manifests.len()) as u64, Ordering::Relaxed);
            }
        })
    };
    let clients: Vec<_> = (0..6).map(|id| tokio::spawn(soak_client(reg.clone(), id, until))).collect();
    let mut tallies = Vec::new();
    for client in clients {
        tallies.push(client.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    outside.await.unwrap();

    let mut lost: Vec<String> = tallies.iter().flat_map(|t| t.lost.clone()).collect();
    for (id, tally) in tallies.iter().enumerate() {
        lost.extend(verify(&reg, &format!("soak/c{id}"), &tally.kept).await);
    }
    let refused: Vec<&String> = tallies.iter().flat_map(|t| &t.refused).collect();
    let pushed: u64 = tallies.iter().map(|t| t.pushed).sum();
    let deleted: u64 = tallies.iter().map(|t| t.deleted).sum();
    let swept = swept.load(Ordering::Relaxed);
    eprintln!("soak: {pushed} pushed, {deleted} deleted, {swept} swept from outside, grace {grace:?}");
    assert!(lost.is_empty(), "{} acknowledged images lost: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    assert!(refused.is_empty(), "{} pushes refused: {:?}", refused.len(), &refused[..refused.len().min(10)]);
    assert!(pushed > 50, "the soak pushed too little to mean anything: {pushed}");
    assert!(swept > 0, "the collections never removed anything, so they tested nothing");
    Arc::try_unwrap(reg).ok().expect("clients are done").stop().await;
}
