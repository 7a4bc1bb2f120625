//! Two berth replicas on one storage, sharing a Redis (Debian's
//! redis-server, started here on a free loopback port and stopped by PID):
//! what one writes the other serves at once, uploads alternate between
//! them, tag compare-and-swap holds across them, collection through one
//! loses nothing the other acknowledged, and answers stay right while Redis
//! is down.
//!
//! Every scenario runs twice: on one filesystem root, and on one bucket of
//! a garage (tests/support/garage.rs). Without redis-server or a garage
//! binary the tests skip, loudly; in CI (`BERTH_REQUIRE_REDIS`,
//! `BERTH_REQUIRE_GARAGE`) that is a failure.

// The api tests' helpers; this suite uses a few of them.
#[allow(dead_code)]
#[path = "api/common.rs"]
mod common;
// The single-node garage only; the cluster is for tests/s3_cluster.rs.
#[allow(dead_code)]
#[path = "support/garage.rs"]
mod garage;
#[path = "replicas/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use common::{OCI_MANIFEST, Registry, expect_error, hdr, json, sha256, start_config, with_param};
use garage::Garage;
use redis_server::RedisServer;
use reqwest::Method;
use serde_json::{Value, json};

/// Two replicas, the Redis they share and the storage under them.
struct Replicas {
    a: Registry,
    b: Registry,
    redis: RedisServer,
    _dir: tempfile::TempDir,
    _garage: Option<Garage>,
}

/// The storage both replicas share.
#[derive(Clone, Copy)]
enum Storage {
    Filesystem,
    S3,
}

/// Runs a scenario on each storage, as two tests named after it.
macro_rules! on_each_storage {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread")]
            async fn filesystem() {
                super::$scenario(super::Storage::Filesystem).await
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn s3() {
                super::$scenario(super::Storage::S3).await
            }
        }
    };
}

/// Starts Redis and two replicas on one storage; `extra` is YAML added to
/// replica A's configuration only. Returns once both listen to the channel;
/// `None` when redis-server, or for S3 garage, is not installed.
async fn replicas(storage: Storage, extra: &str) -> Option<Replicas> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (section, garage) = match storage {
        Storage::Filesystem => {
            (format!("  filesystem:\n    rootdirectory: '{}'\n", dir.path().join("root").display()), None)
        }
        // Blob reads are served by berth, not redirected to the bucket, so
        // that both replicas' answers are checked byte for byte.
        Storage::S3 => {
            let garage = Garage::start()?;
            (format!("{}  redirect:\n    disable: true\n", garage.storage_yaml("/replicas")), Some(garage))
        }
    };
    let redis = RedisServer::start()?;
    let config = |extra: &str| {
        format!(
            "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: one-secret-for-all-replicas\nstorage:\n{section}  delete:\n    enabled: true\nredis:\n  addr: 127.0.0.1:{}\n{extra}",
            redis.port
        )
    };
    let a = start_config(&config(extra)).await;
    let b = start_config(&config("")).await;
    redis.wait_for_subscribers(2).await;
    Some(Replicas { a, b, redis, _dir: dir, _garage: garage })
}

impl Replicas {
    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

/// A Location answered by one replica, sent to another: the same path and
/// query on the other's address.
fn on(reg: &Registry, location: &str) -> String {
    let path = location.strip_prefix("http://").and_then(|rest| rest.find('/').map(|i| &rest[i..]));
    reg.url(path.unwrap_or(location))
}

/// The digest a tag points at through `reg` (None: 404), checking that the
/// bytes hash to the digest the header names.
async fn target(reg: &Registry, name: &str, tag: &str) -> Option<String> {
    let r = reg.req(Method::GET, &format!("/v2/{name}/manifests/{tag}")).header("Accept", OCI_MANIFEST).send();
    let r = r.await.expect("GET manifest");
    if r.status() == 404 {
        return None;
    }
    assert_eq!(r.status(), 200, "{name}:{tag}");
    let header = hdr(&r, "docker-content-digest");
    let digest = sha256(&r.bytes().await.expect("body"));
    assert_eq!(header.as_deref(), Some(digest.as_str()));
    Some(digest)
}

async fn tags(reg: &Registry, name: &str) -> Value {
    let r = reg.get(&format!("/v2/{name}/tags/list")).await;
    if r.status() == 404 {
        return Value::Null;
    }
    json(r).await["tags"].clone()
}

async fn catalog(reg: &Registry) -> Value {
    json(reg.get("/v2/_catalog").await).await["repositories"].clone()
}

on_each_storage!(what_a_writes_b_serves_at_once);

/// Reads through B (so B caches the answers), writes through A, and reads
/// through B again at once: tags, catalog, a re-pointed tag and deletes.
async fn what_a_writes_b_serves_at_once(storage: Storage) {
    let Some(r) = replicas(storage, "").await else { return };
    for _ in 0..2 {
        assert_eq!(target(&r.b, "web/app", "v1").await, None);
        assert_eq!(tags(&r.b, "web/app").await, Value::Null);
        assert_eq!(catalog(&r.b).await, json!([]));
    }
    let (d1, _) = r.a.push_image("web/app", "v1", "first").await;
    assert_eq!(target(&r.b, "web/app", "v1").await, Some(d1.clone()));
    assert_eq!(tags(&r.b, "web/app").await, json!(["v1"]));
    assert_eq!(catalog(&r.b).await, json!(["web/app"]));

    let (d2, _) = r.a.push_image("web/app", "v1", "second").await;
    assert_eq!(target(&r.b, "web/app", "v1").await, Some(d2.clone()));
    r.a.push_manifest("web/app", "v2", OCI_MANIFEST, &manifest_of(&r.a, "web/app", &d1).await).await;
    assert_eq!(tags(&r.b, "web/app").await, json!(["v1", "v2"]));

    assert_eq!(r.a.delete("/v2/web/app/manifests/v2").await.status(), 202);
    assert_eq!(target(&r.b, "web/app", "v2").await, None);
    assert_eq!(tags(&r.b, "web/app").await, json!(["v1"]));
    assert_eq!(r.a.delete(&format!("/v2/web/app/manifests/{d2}")).await.status(), 202);
    assert_eq!(target(&r.b, "web/app", "v1").await, None);
    let by_digest = r.b.get(&format!("/v2/web/app/manifests/{d2}")).await;
    expect_error(by_digest, 404, "MANIFEST_UNKNOWN").await;
    r.stop().await;
}

async fn manifest_of(reg: &Registry, name: &str, digest: &str) -> Vec<u8> {
    let r = reg.req(Method::GET, &format!("/v2/{name}/manifests/{digest}")).header("Accept", OCI_MANIFEST).send();
    r.await.expect("GET").bytes().await.expect("body").to_vec()
}

on_each_storage!(a_chunked_upload_alternating_between_replicas_completes);

/// POST on A, chunks through B, A, B, the status through both after each,
/// the PUT through B: the blob has the right digest and bytes through both.
async fn a_chunked_upload_alternating_between_replicas_completes(storage: Storage) {
    let Some(r) = replicas(storage, "").await else { return };
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut location = r.a.start_upload("alt/blob").await;
    let mut offset = 0;
    for (i, piece) in data.chunks(100_000).enumerate() {
        let (via, other) = if i % 2 == 0 { (&r.b, &r.a) } else { (&r.a, &r.b) };
        let resp = via.patch(&on(via, &location), piece, Some((offset, piece.len()))).await;
        assert_eq!(resp.status(), 202, "chunk {i}");
        offset += piece.len();
        assert_eq!(hdr(&resp, "range"), Some(format!("0-{}", offset - 1)));
        location = hdr(&resp, "location").expect("Location");
        // Both read the new size (and cache it), so the next chunk, through
        // the other, must make both forget it.
        for reg in [other, via] {
            let status = reg.get(&on(reg, &location)).await;
            assert_eq!((status.status().as_u16(), hdr(&status, "range")), (204, Some(format!("0-{}", offset - 1))));
        }
    }
    let digest = sha256(&data);
    let put = r.b.send(Method::PUT, &with_param(&on(&r.b, &location), "digest", &digest)).await;
    assert_eq!(put.status(), 201);
    for reg in [&r.a, &r.b] {
        let blob = reg.get(&format!("/v2/alt/blob/blobs/{digest}")).await;
        assert_eq!(hdr(&blob, "docker-content-digest"), Some(digest.clone()));
        assert_eq!(sha256(&blob.bytes().await.expect("body")), digest);
    }
    r.stop().await;
}

on_each_storage!(concurrent_promotes_through_both_replicas_have_one_winner);

/// Many rounds of a promote sent through A and B at once, both expecting
/// what they read: each round exactly one wins, and the tag points where
/// the winner set it.
async fn concurrent_promotes_through_both_replicas_have_one_winner(storage: Storage) {
    let Some(r) = replicas(storage, "").await else { return };
    let mut digests = Vec::new();
    for seed in ["x", "y", "z"] {
        digests.push(r.a.push_image("race/app", seed, seed).await.0);
    }
    let mut current = r.b.push_image("race/app", "latest", "x").await.0;
    for round in 0..30 {
        // Both move the tag away from where it is, each somewhere else.
        let others: Vec<&String> = digests.iter().filter(|d| **d != current).collect();
        let (to_a, to_b) = if round % 2 == 0 { (others[0], others[1]) } else { (others[1], others[0]) };
        let move_to =
            |digest: &str| json!({"via": "promote", "expect": {"latest": current}, "set": {"latest": digest}});
        let (body_a, body_b) = (move_to(to_a), move_to(to_b));
        let (ra, rb) = tokio::join!(post_moves(&r.a, &body_a), post_moves(&r.b, &body_b));
        let winner = match (ra.0, rb.0) {
            (200, 409) => to_a,
            (409, 200) => to_b,
            other => panic!("round {round}: one must win, one must lose: {other:?} {} {}", ra.1, rb.1),
        };
        let loser = if ra.0 == 409 { &ra.1 } else { &rb.1 };
        assert_eq!(loser["errors"][0]["code"], "TAG_MOVED", "round {round}");
        for reg in [&r.a, &r.b] {
            assert_eq!(target(reg, "race/app", "latest").await.as_ref(), Some(winner), "round {round}");
        }
        current = winner.clone();
    }
    r.stop().await;
}

async fn post_moves(reg: &Registry, body: &Value) -> (u16, Value) {
    let r = reg.req(Method::POST, "/v2/_berth/tags/race/app").body(body.to_string()).send().await.expect("POST");
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.bytes().await.expect("body")).unwrap_or(Value::Null))
}

on_each_storage!(collection_through_one_while_pushing_through_the_other_loses_nothing);

/// A collects every 100 ms with a grace period of 2 s, deleting untagged
/// manifests, while B pushes images and deletes some: every image B
/// acknowledged and kept pulls whole through both, and what B deleted is
/// swept once the grace period passed.
async fn collection_through_one_while_pushing_through_the_other_loses_nothing(storage: Storage) {
    let gc = "berth:\n  gc:\n    interval: 100ms\n    grace: 2s\n    deleteuntagged: true\n";
    let Some(r) = replicas(storage, gc).await else { return };
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for i in 0..40 {
        let seed = format!("gc-{i}");
        let (digest, body) = r.b.push_image("gc/app", &format!("t{i}"), &seed).await;
        if i % 3 == 0 {
            assert_eq!(r.b.delete(&format!("/v2/gc/app/manifests/{digest}")).await.status(), 202);
            dropped.push(seed);
        } else {
            kept.push((format!("t{i}"), digest, body));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past the grace period, so the deleted images' blobs can go too.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for reg in [&r.a, &r.b] {
        for (tag, digest, body) in &kept {
            assert_eq!(target(reg, "gc/app", tag).await.as_ref(), Some(digest), "{tag}");
            let manifest: Value = serde_json::from_slice(body).expect("manifest");
            let blobs = std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().expect("layers"));
            for blob in blobs {
                let digest = blob["digest"].as_str().expect("digest");
                let got = reg.get(&format!("/v2/gc/app/blobs/{digest}")).await;
                assert_eq!(got.status(), 200, "{tag}: {digest}");
                assert_eq!(sha256(&got.bytes().await.expect("body")), digest);
            }
        }
    }
    let swept = sha256(format!("layer bytes of {}", dropped[0]).as_bytes());
    assert_eq!(r.b.head(&format!("/v2/gc/app/blobs/{swept}")).await.status(), 404, "collection ran and swept");
    r.stop().await;
}

on_each_storage!(answers_stay_right_while_redis_is_down);

/// Redis stops while both replicas cache answers: writes through A still
/// succeed and B serves them, tag moves still work, and once Redis is back
/// the replicas resubscribe and a write through A is again seen at once.
async fn answers_stay_right_while_redis_is_down(storage: Storage) {
    let Some(mut r) = replicas(storage, "").await else { return };
    let (d1, _) = r.a.push_image("down/app", "latest", "one").await;
    assert_eq!(target(&r.b, "down/app", "latest").await, Some(d1.clone()));
    assert_eq!(tags(&r.b, "down/app").await, json!(["latest"]));

    r.redis.stop();
    // The replicas see their subscription close; until then, berth's old
    // bound holds: an entry lives one second.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Read through B again, so a replica that still trusted its memory would
    // hold these answers when A changes them.
    assert_eq!(target(&r.b, "down/app", "latest").await, Some(d1.clone()));
    assert_eq!(tags(&r.b, "down/app").await, json!(["latest"]));
    assert_eq!(target(&r.b, "down/app", "next").await, None);
    let (d2, _) = r.a.push_image("down/app", "latest", "two").await;
    assert_eq!(target(&r.b, "down/app", "latest").await, Some(d2.clone()));
    r.a.push_image("down/app", "next", "three").await;
    assert_eq!(tags(&r.b, "down/app").await, json!(["latest", "next"]));
    assert_eq!(r.a.delete("/v2/down/app/manifests/next").await.status(), 202);
    assert_eq!(target(&r.b, "down/app", "next").await, None);
    let promote = json!({"via": "copy", "expect": {"stable": null}, "set": {"stable": d2}});
    let moved = r.b.req(Method::POST, "/v2/_berth/tags/down/app").body(promote.to_string()).send().await.unwrap();
    assert_eq!(moved.status(), 200, "tag moves work on the replica's own locks");
    assert_eq!(target(&r.a, "down/app", "stable").await, Some(d2.clone()));

    r.redis.restart();
    r.redis.wait_for_subscribers(2).await;
    assert_eq!(target(&r.b, "down/app", "latest").await, Some(d2));
    let (d4, _) = r.a.push_image("down/app", "latest", "four").await;
    assert_eq!(target(&r.b, "down/app", "latest").await, Some(d4));
    r.stop().await;
}
