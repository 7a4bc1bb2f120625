//! berth on a three-node garage cluster (tests/support/garage.rs) that
//! replicates every object three times, with one node stopped: two berth
//! replicas on one bucket, A talking to node 0 and B to node 1, serving
//! blob bytes themselves (`storage.redirect.disable`).
//!
//! garage's default `consistency_mode` (`consistent`) with
//! `replication_factor = 3` reads and writes a quorum of two nodes, so any
//! one node may be down: every read and write still reaches two. A node
//! that is down is another matter for the berth talking to it: its S3
//! endpoint is gone, so that berth fails (5xx) until the node is back,
//! while the other serves everything.

#[allow(dead_code)]
#[path = "api/common.rs"]
mod common;
// Only the cluster here: the single node is tests/s3.rs's.
#[allow(dead_code)]
#[path = "support/garage.rs"]
mod garage;

use common::*;
use garage::Cluster;
use reqwest::{Method, Response};

const MIB: usize = 1024 * 1024;

/// A berth on node `node`'s S3 endpoint; every replica has the same root
/// and `http.secret`, so they share uploads; deletes are on.
async fn berth_on(cluster: &Cluster, node: usize) -> Registry {
    start_config(&format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: cluster-test-secret\n\
         storage:\n{}  delete:\n    enabled: true\n  redirect:\n    disable: true\n",
        cluster.storage_yaml(node, "/cluster")
    ))
    .await
}

/// Bytes that differ at every offset a part boundary could fall on.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed).collect()
}

/// An image as acknowledged: its manifest under a tag, and its blobs.
struct Image {
    name: &'static str,
    tag: &'static str,
    digest: String,
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
}

/// Pushes an image with a config and a layer of `layer_len` bytes, the
/// layer in one request when `chunks` is empty, else in PATCHes of those
/// sizes and one of the rest. The config goes to the first of `regs`, the
/// layer's requests to each in turn, the manifest to the last.
async fn push(regs: &[&Registry], name: &'static str, tag: &'static str, layer_len: usize, chunks: &[usize]) -> Image {
    let seed = name.bytes().chain(tag.bytes()).fold(0u8, |s, c| s.wrapping_mul(31).wrapping_add(c));
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"image\":\"{name}:{tag}\"}}").into_bytes();
    let layer = payload(layer_len, seed);
    regs[0].push_blob(name, &config).await;
    if chunks.is_empty() {
        regs[regs.len() - 1].push_blob(name, &layer).await;
    } else {
        push_chunked(regs, name, &layer, chunks).await;
    }
    let manifest =
        image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, &config), &[Desc::of(OCI_LAYER, &layer)], "");
    let digest = regs[regs.len() - 1].push_manifest(name, tag, OCI_MANIFEST, &manifest).await;
    Image { name, tag, digest, manifest, blobs: vec![config, layer] }
}

/// A chunked upload (POST, PATCHes of `chunks` then of the rest, PUT), its
/// requests sent to `regs` in turn.
async fn push_chunked(regs: &[&Registry], name: &str, data: &[u8], chunks: &[usize]) {
    let mut location = regs[0].start_upload(name).await;
    let mut offset = 0;
    let sizes = chunks.iter().copied().chain([data.len() - chunks.iter().sum::<usize>()]);
    for (i, size) in sizes.enumerate() {
        let reg = regs[(i + 1) % regs.len()];
        let r = reg.patch(&location, &data[offset..offset + size], Some((offset, size))).await;
        assert_eq!(r.status(), 202, "PATCH {offset}+{size} through {}", reg.base);
        offset += size;
        assert_eq!(hdr(&r, "range"), Some(format!("0-{}", offset - 1)));
        location = hdr(&r, "location").expect("Location");
    }
    let digest = sha256(data);
    let r = regs[chunks.len() % regs.len()].send(Method::PUT, &with_param(&location, "digest", &digest)).await;
    assert_eq!(r.status(), 201, "PUT {digest}: {}", text(r).await);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest));
}

/// The image's manifest (by tag and by digest) and blobs, byte for byte.
async fn assert_serves(reg: &Registry, img: &Image) {
    for reference in [img.tag, &img.digest] {
        let r = reg.get(&format!("/v2/{}/manifests/{reference}", img.name)).await;
        assert_eq!(r.status(), 200, "{}:{reference} through {}", img.name, reg.base);
        assert_eq!(hdr(&r, "docker-content-digest").as_ref(), Some(&img.digest));
        assert!(r.bytes().await.unwrap() == img.manifest, "{}:{reference} comes back as pushed", img.name);
    }
    for blob in &img.blobs {
        let digest = sha256(blob);
        let r = reg.get(&format!("/v2/{}/blobs/{digest}", img.name)).await;
        assert_eq!(r.status(), 200, "{digest} through {}", reg.base);
        let body = r.bytes().await.expect("the whole body");
        assert_eq!(sha256(&body), digest, "{} bytes through {}", blob.len(), reg.base);
    }
}

/// The image's manifest is gone by tag and by digest. A replica without
/// Redis may serve its cached answer for up to a second.
async fn assert_deleted(reg: &Registry, img: &Image) {
    for reference in [img.tag, &img.digest] {
        let path = format!("/v2/{}/manifests/{reference}", img.name);
        for _ in 0..30 {
            if reg.get(&path).await.status() == 404 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        expect_error(reg.get(&path).await, 404, "MANIFEST_UNKNOWN").await;
    }
}

/// A replica whose node is down: each request fails as a storage error
/// does, or (from a cache) serves the exact bytes; never a 404 for what
/// exists, never a dropped connection. Returns how many failed.
async fn failures_while_down(reg: &Registry, img: &Image) -> usize {
    let mut paths = vec![(format!("/v2/{}/manifests/{}", img.name, img.digest), img.manifest.clone())];
    paths.extend(img.blobs.iter().map(|b| (format!("/v2/{}/blobs/{}", img.name, sha256(b)), b.clone())));
    let mut failed = 0;
    for (path, bytes) in paths {
        let r = reg.head(&path).await;
        assert!([200, 500].contains(&r.status().as_u16()), "HEAD {path}: {}", r.status());
        let r = reg.get(&path).await;
        if r.status() == 200 {
            assert!(r.bytes().await.expect("the whole body") == bytes, "{path} from a cache");
        } else {
            expect_storage_error(r).await;
            failed += 1;
        }
    }
    failed
}

/// A storage that does not answer is a storage error: 500 `UNKNOWN` with
/// an OCI error body, as distribution answers.
async fn expect_storage_error(r: Response) {
    expect_error(r, 500, "UNKNOWN").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn berth_keeps_serving_with_one_node_stopped() {
    let Some(mut cluster) = Cluster::start() else { return };
    let (a, b) = (berth_on(&cluster, 0).await, berth_on(&cluster, 1).await);
    // A layer in PATCHes below and above S3's 5 MiB part minimum.
    let mut acked = vec![
        push(&[&a], "cluster/app", "v1", 1000, &[]).await,
        push(&[&a], "cluster/big", "v1", 11 * MIB + 5, &[3 * MIB, 6 * MIB, MIB]).await,
    ];
    let doomed = push(&[&a], "cluster/doomed", "v1", 3000, &[]).await;

    cluster.stop(2);
    with_a_node_down(&a, &b, &mut acked, &doomed).await;
    cluster.start_node(2);

    cluster.stop(0);
    acked.push(with_the_node_of_a_down(&a, &b, &acked, &doomed).await);
    cluster.start_node(0);

    for img in &acked {
        assert_serves(&a, img).await;
    }
    assert_deleted(&a, &doomed).await;
    let back = push(&[&a], "cluster/back", "v1", 1000, &[]).await;
    assert_serves(&b, &back).await;
    a.stop().await;
    b.stop().await;
}

/// Node 2, which neither replica talks to, is down: both serve everything,
/// pushes through either (and an upload alternating between them) are
/// served by the other, and `doomed` is deleted. Adds the pushes to `acked`.
async fn with_a_node_down(a: &Registry, b: &Registry, acked: &mut Vec<Image>, doomed: &Image) {
    for img in acked.iter().chain([doomed]) {
        assert_serves(a, img).await;
        assert_serves(b, img).await;
    }
    let through_a = push(&[a], "cluster/during", "a", 2 * MIB, &[]).await;
    assert_serves(b, &through_a).await;
    let through_b = push(&[b], "cluster/during", "b", 2 * MIB + 1, &[]).await;
    assert_serves(a, &through_b).await;
    let alternating = push(&[a, b], "cluster/alternating", "v1", 9 * MIB + 3, &[2 * MIB, 6 * MIB]).await;
    assert_serves(a, &alternating).await;
    assert_serves(b, &alternating).await;
    acked.extend([through_a, through_b, alternating]);
    assert_eq!(b.delete(&format!("/v2/{}/manifests/{}", doomed.name, doomed.digest)).await.status(), 202);
    assert_deleted(b, doomed).await;
    assert_deleted(a, doomed).await;
}

/// Node 0, A's, is down (node 2 is back, but may not yet hold what was
/// written while it was down: reads merge the two copies they reach): B serves everything acknowledged and takes a push; A
/// fails with storage errors. Returns B's push.
async fn with_the_node_of_a_down(a: &Registry, b: &Registry, acked: &[Image], doomed: &Image) -> Image {
    for img in acked {
        assert_serves(b, img).await;
    }
    assert_deleted(b, doomed).await;
    let after = push(&[b], "cluster/after", "v1", 2 * MIB, &[]).await;
    assert_serves(b, &after).await;
    let failed = failures_while_down(a, &acked[1]).await;
    assert!(failed > 0, "A reads nothing without its node");
    let blob = payload(100, 42);
    let r = a.req(Method::POST, &format!("/v2/cluster/app/blobs/uploads/?digest={}", sha256(&blob))).body(blob);
    expect_storage_error(r.send().await.expect("an answer")).await;
    after
}
