//! The read caches never answer with what an acknowledged write changed, and
//! see changes made behind berth's back (another process on the same
//! directory) within a second.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

async fn tag_digest(reg: &Registry, name: &str, tag: &str) -> Option<String> {
    let r = reg
        .req(reqwest::Method::HEAD, &format!("/v2/{name}/manifests/{tag}"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    (r.status() == 200).then(|| hdr(&r, "Docker-Content-Digest").unwrap())
}

async fn tags(reg: &Registry, name: &str) -> Value {
    json(reg.get(&format!("/v2/{name}/tags/list")).await).await["tags"].clone()
}

async fn catalog(reg: &Registry) -> Value {
    json(reg.get("/v2/_catalog").await).await["repositories"].clone()
}

/// Each read is made before the write too, so a cache holds the old answer
/// when the write happens.
#[tokio::test]
async fn writes_are_seen_at_once() {
    let reg = start_with(true, "").await;
    assert_eq!(tag_digest(&reg, "c/one", "t").await, None);
    assert_eq!(catalog(&reg).await, json!([]));
    let (first, _) = reg.push_image("c/one", "t", "first").await;
    assert_eq!(tag_digest(&reg, "c/one", "t").await, Some(first.clone()));
    assert_eq!(tags(&reg, "c/one").await, json!(["t"]));
    assert_eq!(catalog(&reg).await, json!(["c/one"]));

    let (second, _) = reg.push_image("c/one", "t", "second").await;
    assert_eq!(tag_digest(&reg, "c/one", "t").await, Some(second.clone()), "re-pointed tag");
    reg.push_image("c/one", "u", "third").await;
    assert_eq!(tags(&reg, "c/one").await, json!(["t", "u"]));
    reg.push_image("c/two", "t", "fourth").await;
    assert_eq!(catalog(&reg).await, json!(["c/one", "c/two"]));

    assert_eq!(reg.delete("/v2/c/one/manifests/u").await.status(), 202);
    assert_eq!(tag_digest(&reg, "c/one", "u").await, None, "deleted tag");
    assert_eq!(tags(&reg, "c/one").await, json!(["t"]));
    assert_eq!(reg.delete(&format!("/v2/c/one/manifests/{second}")).await.status(), 202);
    assert_eq!(tag_digest(&reg, "c/one", "t").await, None, "tag of a deleted manifest");
    assert_eq!(reg.get(&format!("/v2/c/one/manifests/{second}")).await.status(), 404);
    assert_eq!(reg.head(&format!("/v2/c/one/manifests/{first}")).await.status(), 200);
}

/// A tag re-pointed and a repository removed by hand (as the seeds do with
/// `rm -R`) while berth serves: served from memory for at most a second.
#[tokio::test]
async fn outside_changes_are_seen_within_a_second() {
    let reg = start_with(true, "").await;
    let (first, _) = reg.push_image("c/one", "t", "first").await;
    let (second, _) = reg.push_image("c/one", "u", "second").await;
    reg.push_image("c/two", "t", "third").await;
    assert_eq!(tag_digest(&reg, "c/one", "t").await, Some(first));
    assert_eq!(tags(&reg, "c/one").await, json!(["t", "u"]));
    assert_eq!(catalog(&reg).await, json!(["c/one", "c/two"]));

    let current = reg.repo_dir("c/one").join("_manifests/tags/t/current/link");
    std::fs::write(&current, &second).unwrap();
    std::fs::remove_dir_all(reg.repo_dir("c/one").join("_manifests/tags/u")).unwrap();
    std::fs::remove_dir_all(reg.repo_dir("c/two")).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(tag_digest(&reg, "c/one", "t").await, Some(second));
    assert_eq!(tag_digest(&reg, "c/one", "u").await, None);
    assert_eq!(tags(&reg, "c/one").await, json!(["t"]));
    assert_eq!(catalog(&reg).await, json!(["c/one"]));
    assert_eq!(reg.get("/v2/c/two/tags/list").await.status(), 404);
}
