//! HTTP integration tests of berth on the S3 driver: a real berth over a
//! real garage (tests/support/garage.rs), both on loopback, driven like the
//! filesystem ones (tests/api). Skipped, loudly, only when no garage binary
//! is installed; .ci/run installs one.

#[allow(dead_code)]
#[path = "api/common.rs"]
mod common;
// Only the single node here: the cluster is tests/s3_cluster.rs's.
#[allow(dead_code)]
#[path = "support/garage.rs"]
mod garage;

use berth::{config::Config, registry::GcOptions, server::open_registry};
use common::*;
use garage::Garage;
use reqwest::Method;

/// A berth on the garage's bucket below `root`, deletes on, with a fixed
/// `http.secret` so that replicas accept each other's upload states; blob
/// reads redirect to the bucket (distribution's default).
async fn berth_on(g: &Garage, root: &str) -> Registry {
    start_config(&config_yaml(g, root, "")).await
}

/// The same, serving blob bytes itself (`storage.redirect.disable`).
async fn berth_serving(g: &Garage, root: &str) -> Registry {
    start_config(&config_yaml(g, root, "  redirect:\n    disable: true\n")).await
}

fn config_yaml(g: &Garage, root: &str, storage_extra: &str) -> String {
    format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: s3-test-secret\n\
         storage:\n{}  delete:\n    enabled: true\n{storage_extra}",
        g.storage_yaml(root)
    )
}

/// Bytes that differ at every offset a part boundary could fall on.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed).collect()
}

/// A blob's bytes, following berth's redirect to the bucket if it sends one.
async fn pull_blob(reg: &Registry, name: &str, digest: &str) -> Vec<u8> {
    let mut r = reg.get(&format!("/v2/{name}/blobs/{digest}")).await;
    if r.status() == 307 {
        r = reg.client.get(hdr(&r, "location").unwrap()).send().await.unwrap();
    }
    assert_eq!(r.status(), 200, "GET {digest}");
    r.bytes().await.unwrap().to_vec()
}

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn blobs_push_and_pull_in_any_chunk_size() {
    let Some(g) = Garage::start() else { return };
    let reg = berth_serving(&g, "/blobs").await;
    let small = b"a small monolithic blob";
    let d = reg.push_blob("s3/app", small).await;
    assert_eq!(pull_blob(&reg, "s3/app", &d).await, small);
    // Chunks under S3's 5 MiB part minimum, over it, and not dividing it.
    for (len, chunk, seed) in [(12 * MIB + 7, MIB, 1), (13 * MIB, 6 * MIB, 2), (3 * MIB, 100_000, 3)] {
        let data = payload(len, seed);
        let d = reg.push_blob_chunked("s3/app", &data, chunk).await;
        assert_eq!(d, sha256(&data));
        let back = pull_blob(&reg, "s3/app", &d).await;
        assert!(back == data, "{len} bytes in chunks of {chunk} come back as pushed");
        let r = reg
            .req(Method::GET, &format!("/v2/s3/app/blobs/{d}"))
            .header("Range", "bytes=5242879-5242890")
            .send()
            .await;
        let r = r.unwrap();
        if len > 5_242_890 {
            assert_eq!(r.status(), 206);
            assert_eq!(r.bytes().await.unwrap(), data[5_242_879..=5_242_890]);
        }
    }
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_continues_on_another_replica() {
    let Some(g) = Garage::start() else { return };
    let (a, b) = (berth_on(&g, "/replicas").await, berth_on(&g, "/replicas").await);
    let data = payload(11 * MIB, 9);
    let mut location = a.start_upload("s3/resume").await;
    let mut offset = 0;
    for (i, piece) in data.chunks(2 * MIB + 3).enumerate() {
        let reg = if i % 2 == 0 { &b } else { &a };
        let r = reg.patch(&location, piece, Some((offset, piece.len()))).await;
        assert_eq!(r.status(), 202, "PATCH {offset} on replica {}", i % 2);
        offset += piece.len();
        location = hdr(&r, "location").unwrap();
        let status = if i % 2 == 0 { &a } else { &b }.get(&location).await;
        assert_eq!(hdr(&status, "range"), Some(format!("0-{}", offset - 1)), "the other replica sees the progress");
    }
    let digest = sha256(&data);
    let r = a.send(Method::PUT, &with_param(&location, "digest", &digest)).await;
    assert_eq!(r.status(), 201, "{}", text(r).await);
    assert!(pull_blob(&b, "s3/resume", &digest).await == data);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_tags_deletes_and_gc() {
    let Some(g) = Garage::start() else { return };
    let reg = berth_serving(&g, "gc").await;
    let (kept, kept_body) = reg.push_image("s3/gc", "v1", "kept").await;
    let (gone, _) = reg.push_image("s3/gc", "v2", "gone").await;
    let r = reg.get("/v2/s3/gc/manifests/v1").await;
    assert_eq!(hdr(&r, "docker-content-digest"), Some(kept.clone()));
    assert_eq!(r.bytes().await.unwrap(), kept_body);
    let tags = json(reg.get("/v2/s3/gc/tags/list").await).await;
    assert_eq!(tags["tags"], serde_json::json!(["v1", "v2"]));
    let catalog = json(reg.get("/v2/_catalog").await).await;
    assert_eq!(catalog["repositories"], serde_json::json!(["s3/gc"]));

    assert_eq!(reg.delete(&format!("/v2/s3/gc/manifests/{gone}")).await.status(), 202);
    expect_error(reg.get("/v2/s3/gc/manifests/v2").await, 404, "MANIFEST_UNKNOWN").await;
    let gone_layer = sha256(b"layer bytes of gone");
    let kept_layer = sha256(b"layer bytes of kept");
    assert_eq!(reg.head(&format!("/v2/s3/gc/blobs/{gone_layer}")).await.status(), 200, "GC has not run yet");

    let (registry, _) = open_registry(&Config::parse(&config_yaml(&g, "gc", "")).unwrap()).await.unwrap();
    let report = registry.garbage_collect(GcOptions::default(), |_| {}).await.unwrap();
    assert!(report.marked >= 3, "{report:?}");
    // A fresh replica: the serving one's cache may still hold the old answers.
    let fresh = berth_serving(&g, "gc").await;
    assert_eq!(fresh.head(&format!("/v2/s3/gc/blobs/{gone_layer}")).await.status(), 404, "collected");
    assert_eq!(pull_blob(&fresh, "s3/gc", &kept_layer).await, b"layer bytes of kept");
    assert_eq!(fresh.get("/v2/s3/gc/manifests/v1").await.status(), 200);
    reg.stop().await;
    fresh.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn blob_reads_redirect_to_the_bucket() {
    let Some(g) = Garage::start() else { return };
    let reg = berth_on(&g, "redirect").await;
    let data = payload(MIB + 3, 5);
    let d = reg.push_blob("s3/r", &data).await;
    let r = reg.get(&format!("/v2/s3/r/blobs/{d}")).await;
    assert_eq!(r.status(), 307);
    let url = hdr(&r, "location").unwrap();
    assert!(url.starts_with(&g.endpoint) && url.contains("X-Amz-Signature="), "{url}");
    let fetched = reg.client.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert!(fetched.bytes().await.unwrap() == data, "the signed URL gives the blob's bytes");
    let ranged = reg.client.get(&url).header("Range", "bytes=10-19").send().await.unwrap();
    assert_eq!(ranged.bytes().await.unwrap(), data[10..20]);
    let head = reg.head(&format!("/v2/s3/r/blobs/{d}")).await;
    assert_eq!(head.status(), 307);
    let checked = reg.client.head(hdr(&head, "location").unwrap()).send().await.unwrap();
    assert_eq!(hdr(&checked, "content-length"), Some(data.len().to_string()));
    // An unknown blob is still the registry's 404, not a URL to nothing.
    let unknown = sha256(b"never pushed");
    expect_error(reg.get(&format!("/v2/s3/r/blobs/{unknown}")).await, 404, "BLOB_UNKNOWN").await;
    reg.stop().await;
}
