//! Offline garbage collection with distribution's semantics, on a root a
//! stopped server wrote.

use berth::registry::GcOptions;
use reqwest::Method;

use crate::common::*;

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)))
}

/// Runs a collection on a root; returns its lines.
async fn collect(root: &std::path::Path, options: GcOptions) -> Vec<String> {
    collect_garbage(root, options).await.1
}

fn config_and_layer(seed: &str) -> (String, String) {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
    (sha(config.as_bytes()), sha(format!("layer bytes of {seed}").as_bytes()))
}

#[tokio::test]
async fn sweeps_what_no_manifest_references() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, v2) = start_on(&dir).await;
    let (kept, _) = reg.push_image("gc/app", "v1", "kept").await;
    let (gone, _) = reg.push_image("gc/app", "v2", "gone").await;
    let orphan = reg.push_blob("gc/app", b"an orphan blob").await;
    assert_eq!(reg.req(Method::DELETE, &format!("/v2/gc/app/manifests/{gone}")).send().await.unwrap().status(), 202);
    let root = dir.path().join("root");
    let blob = |d: &str| v2.join(format!("blobs/sha256/{}/{}/data", &d[7..9], &d[7..]));
    reg.stop().await;

    let (kept_config, kept_layer) = config_and_layer("kept");
    let (gone_config, gone_layer) = config_and_layer("gone");
    let dry = collect(&root, GcOptions { dry_run: true, ..GcOptions::default() }).await;
    assert!(dry.iter().any(|l| l == &format!("gc/app: marking manifest {kept}")), "{dry:#?}");
    assert!(blob(&gone_layer).exists() && blob(&orphan).exists(), "a dry run deletes nothing");

    collect(&root, GcOptions::default()).await;
    for d in [&kept, &kept_config, &kept_layer] {
        assert!(blob(d).exists(), "{d} is referenced and stays");
    }
    for d in [&gone, &gone_config, &gone_layer, &orphan] {
        assert!(!blob(d).exists(), "{d} is unreferenced and goes");
    }
    assert!(!v2.join(format!("repositories/gc/app/_layers/sha256/{}", &orphan[7..])).exists(), "its link goes too");
    assert!(v2.join(format!("repositories/gc/app/_layers/sha256/{}", &kept_layer[7..])).exists());
}

#[tokio::test]
async fn delete_untagged_keeps_the_children_of_tagged_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, v2) = start_on(&dir).await;
    let (child_a, body_a) = reg.push_image("gc/multi", "tmp-a", "a").await;
    let (child_b, body_b) = reg.push_image("gc/multi", "tmp-b", "b").await;
    let index =
        index_manifest(Some(OCI_INDEX), &[Desc::of(OCI_MANIFEST, &body_a), Desc::of(OCI_MANIFEST, &body_b)], "");
    let index_digest = reg.push_manifest("gc/multi", "latest", OCI_INDEX, &index).await;
    let (untagged, _) = reg.push_image("gc/multi", "old", "old").await;
    for tag in ["tmp-a", "tmp-b", "old"] {
        assert_eq!(
            reg.req(Method::DELETE, &format!("/v2/gc/multi/manifests/{tag}")).send().await.unwrap().status(),
            202
        );
    }
    let root = dir.path().join("root");
    reg.stop().await;

    let lines = collect(&root, GcOptions { delete_untagged: true, ..GcOptions::default() }).await;
    let revision = |d: &str| v2.join(format!("repositories/gc/multi/_manifests/revisions/sha256/{}", &d[7..]));
    for d in [&index_digest, &child_a, &child_b] {
        assert!(revision(d).exists(), "{d} is reachable from a tag: {lines:#?}");
    }
    assert!(!revision(&untagged).exists(), "untagged and unreachable: {lines:#?}");
    let (_, old_layer) = config_and_layer("old");
    assert!(!v2.join(format!("blobs/sha256/{}/{}", &old_layer[7..9], &old_layer[7..])).exists());
    let (_, a_layer) = config_and_layer("a");
    assert!(v2.join(format!("blobs/sha256/{}/{}/data", &a_layer[7..9], &a_layer[7..])).exists());
}
