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
        let pending = ledger.pending.lock().unwrap().take();
        if let Some(pending) = pending {
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

/// A tmpfs mounted for one test, unmounted when dropped (even on a panic).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`; None, saying why, when this
    /// process may not mount (not root, or no CAP_SYS_ADMIN).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(dir).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        if !out.status.success() {
            eprintln!("skipped: cannot mount a tmpfs: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Some(Tmpfs(dir.to_owned()))
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A request of a push that the full disk refused.
struct Refused {
    what: String,
    status: u16,
    body: String,
}

/// Sends one request of a push: its response, or how it was refused.
async fn step(
    client: &Client,
    req: reqwest::RequestBuilder,
    status: u16,
    what: &str,
) -> Result<reqwest::Response, Refused> {
    let r = client.send(req).await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
    if r.status() == status {
        return Ok(r);
    }
    let got = r.status().as_u16();
    let body = String::from_utf8_lossy(&body(r).await.expect("body")).into_owned();
    Err(Refused { what: what.to_owned(), status: got, body })
}

/// An image whose 1 MiB layer goes up in 256 KiB PATCHes, as the push that
/// fills the disk; `session` is its upload's Location and bytes acknowledged.
#[derive(Default)]
struct BigPush {
    layer: Bytes,
    session: Option<(String, usize)>,
    manifest: Option<Pushed>,
}

impl BigPush {
    /// Pushes the layer from wherever its session stands, then the image.
    async fn push(&mut self, client: &Client, tag: &str, ledger: &Ledger) -> Result<Pushed, Refused> {
        let digest = sha256(&self.layer);
        let path = "/v2/full/blobs/uploads/";
        let (mut location, mut done) = match self.session.clone() {
            Some(session) => session,
            None => (header(&step(client, client.req(Method::POST, path), 202, "POST").await?, "location"), 0),
        };
        self.session = Some((location.clone(), done));
        while done < self.layer.len() {
            let end = (done + (256 << 10)).min(self.layer.len());
            let req = client
                .req(Method::PATCH, &location)
                .header("Content-Range", format!("{done}-{}", end - 1))
                .body(self.layer.slice(done..end));
            location = header(&step(client, req, 202, &format!("PATCH {done}-{end}")).await?, "location");
            done = end;
            self.session = Some((location.clone(), done));
        }
        let put = client.req(Method::PUT, &format!("{location}&digest={digest}"));
        step(client, put, 201, "PUT").await?;
        self.session = None;
        let config = format!("{{\"tag\":\"{tag}\"}}");
        let monolithic = load::client::Upload::Monolithic;
        let config = client
            .push_blob("full", config.into(), monolithic, &mut Rng::new(0), ledger)
            .await
            .map_err(|e| Refused { what: "config".into(), status: 0, body: format!("{e:?}") })?;
        let layer = BlobRef { repo: "full".into(), digest, size: self.layer.len() as u64 };
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
            load::client::OCI_MANIFEST,
            config.digest,
            config.size,
            layer.digest,
            layer.size
        );
        let put = client
            .req(Method::PUT, &format!("/v2/full/manifests/{tag}"))
            .header("Content-Type", load::client::OCI_MANIFEST)
            .body(body.clone());
        step(client, put, 201, "manifest PUT").await?;
        let manifest = Pushed {
            repo: "full".into(),
            tag: Some(tag.into()),
            digest: sha256(body.as_bytes()),
            media_type: load::client::OCI_MANIFEST,
            body: body.into(),
            blobs: vec![config, layer],
            children: Vec::new(),
        };
        self.manifest = Some(manifest.clone());
        Ok(manifest)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_pushes_with_507_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "16m") else { return };
    let root = disk.0.join("root");
    let config = write_config(dir.path(), &root, "");
    let berth = Berth::start(&config);
    let client = Client::new(&berth.base);
    let (mut rng, ledger) = (Rng::new(seed()), Ledger::default());
    let mut pushed = Vec::new();
    let (mut push, refused) = loop {
        assert!(pushed.len() < 32, "16 MiB never filled up");
        let mut push = BigPush { layer: rng.bytes(1 << 20).into(), ..BigPush::default() };
        match push.push(&client, &format!("v{}", pushed.len()), &ledger).await {
            Ok(image) => pushed.push(image),
            Err(refused) => break (push, refused),
        }
    };
    println!("{} images stored, then {} refused: {} {}", pushed.len(), refused.what, refused.status, refused.body);
    assert_eq!(refused.status, 507, "{}: {}", refused.what, refused.body);
    assert!(refused.body.contains(r#""code":"UNKNOWN""#), "{}", refused.body);
    assert!(refused.body.contains("storage is full"), "{}", refused.body);

    check_nothing_half_written(&client, &root, &push).await;
    let whole = client.req(Method::POST, &format!("/v2/full/blobs/uploads/?digest={}", sha256(&push.layer)));
    let r = client.send(whole.body(push.layer.clone())).await.expect("POST");
    expect_code(r, 507, "UNKNOWN", "monolithic upload on a full disk").await.expect("refused");
    assert_eq!(sessions(&root), usize::from(push.session.is_some()), "a refused monolithic upload leaves no session");
    for image in &pushed {
        client.verify(image).await.expect("reads keep working on a full disk");
    }

    disk.resize("64m");
    let image = push
        .push(&client, &format!("v{}", pushed.len()), &ledger)
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.body));
    pushed.push(image);
    for image in &pushed {
        client.verify(image).await.expect("pulls after space returned");
    }
    assert_eq!(sessions(&root), 0, "every session completed");
    let found = tree::check(&root);
    assert!(found.problems.is_empty(), "{}", found.problems.join("\n"));
    berth.stop();
}

/// After a refused push: the tree is sound, the refused layer and manifest
/// are not served, and a cut session holds exactly what was acknowledged.
async fn check_nothing_half_written(client: &Client, root: &Path, push: &BigPush) {
    let found = tree::check(root);
    assert!(found.problems.is_empty(), "on a full disk:\n{}", found.problems.join("\n"));
    let r =
        client.send(client.req(Method::HEAD, &format!("/v2/full/blobs/{}", sha256(&push.layer)))).await.expect("HEAD");
    assert_eq!(r.status(), 404, "the refused layer is not served");
    if let Some((location, acked)) = &push.session {
        let r = client.send(client.req(Method::GET, location)).await.expect("status");
        assert_eq!(r.status(), 204);
        assert_eq!(header(&r, "range"), format!("0-{}", acked.max(&1) - 1), "the session holds what was acknowledged");
    }
}

/// Upload sessions on disk.
fn sessions(root: &Path) -> usize {
    let uploads = root.join("docker/registry/v2/repositories/full/_uploads");
    std::fs::read_dir(uploads).map_or(0, |d| d.count())
}
