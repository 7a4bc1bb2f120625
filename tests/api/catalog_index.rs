//! The catalog index (`berth.catalog.index`): built in the background on
//! the first catalog request, kept up to date by pushes and repository
//! deletes, caught up with other writers by reconciliation, and never
//! trusted by garbage collection.

use std::time::{Duration, Instant};

use berth::{config::Config, registry::GcOptions, server::open_registry};

use crate::common::{self, Registry, json};

async fn catalog(reg: &Registry) -> Vec<String> {
    let body = json(reg.get("/v2/_catalog").await).await;
    body["repositories"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

fn index_of(reg: &Registry) -> Vec<String> {
    let dir = reg.tmp().join("root/berth/catalog");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().replace('+', "/")).collect())
        .unwrap_or_default();
    names.sort();
    names
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "waited for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A registry with the index on, over a filesystem root.
async fn start(reconcile: &str) -> Registry {
    common::start_with(true, &format!("berth:\n  catalog:\n    index: true\n    reconcile: {reconcile}\n")).await
}

#[tokio::test]
async fn the_first_catalog_builds_the_index_and_writes_keep_it_current() {
    let reg = start("1h").await;
    reg.push_image("a/one", "t", "one").await;
    reg.push_image("b", "t", "b").await;
    assert_eq!(catalog(&reg).await, ["a/one", "b"], "served by a walk while the index is built");
    let built = reg.tmp().join("root/berth/catalog-built");
    wait_for("the index", || built.is_file()).await;
    assert_eq!(index_of(&reg), ["a/one", "b"]);

    // A repository made by hand now is not in the catalog: it reads the
    // index, not the tree.
    std::fs::create_dir_all(reg.repo_dir("byhand/_manifests")).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(catalog(&reg).await, ["a/one", "b"]);

    reg.push_image("a/two", "t", "two").await;
    assert_eq!(catalog(&reg).await, ["a/one", "a/two", "b"], "a push is listed at once");
    assert_eq!(reg.delete("/v2/_berth/repositories/a/one").await.status(), 202);
    assert_eq!(catalog(&reg).await, ["a/two", "b"], "a repository delete at once");
    assert_eq!(index_of(&reg), ["a/two", "b"]);
    reg.stop().await;
}

#[tokio::test]
async fn reconciliation_catches_up_with_other_writers() {
    let reg = start("1s").await;
    reg.push_image("kept", "t", "kept").await;
    reg.push_image("removed", "t", "removed").await;
    catalog(&reg).await;
    let built = reg.tmp().join("root/berth/catalog-built");
    wait_for("the index", || built.is_file()).await;
    // What distribution or `rm -R` does behind berth's back.
    std::fs::remove_dir_all(reg.repo_dir("removed")).unwrap();
    std::fs::create_dir_all(reg.repo_dir("added/by/hand/_manifests")).unwrap();
    wait_for("reconciliation", || index_of(&reg) == ["added/by/hand", "kept"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(catalog(&reg).await, ["added/by/hand", "kept"]);
    reg.stop().await;
}

/// Collection walks the tree: a repository missing from the index keeps
/// its blobs.
#[tokio::test]
async fn garbage_collection_never_trusts_the_index() {
    let reg = start("1h").await;
    let (digest, _) = reg.push_image("hidden", "t", "hidden").await;
    catalog(&reg).await;
    let built = reg.tmp().join("root/berth/catalog-built");
    wait_for("the index", || built.is_file()).await;
    std::fs::remove_dir_all(reg.tmp().join("root/berth/catalog/hidden")).unwrap();
    // Collected by a registry with the index on, as the server's scheduled
    // collection would be.
    let yaml = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: '{}'\nberth:\n  catalog:\n    index: true\n",
        reg.tmp().join("root").display()
    );
    let (registry, _) = open_registry(&Config::parse(&yaml).unwrap()).await.unwrap();
    let options = GcOptions { dry_run: false, delete_untagged: true, grace: Duration::ZERO };
    let report = registry.garbage_collect(options, |_| {}).await.unwrap();
    assert!(report.blobs.is_empty(), "{:?}", report.blobs);
    assert!(reg.blob_data(&digest).is_file());
    reg.stop().await;
}

#[tokio::test]
async fn the_index_is_off_on_a_filesystem_by_default() {
    let reg = common::start().await;
    reg.push_image("fs", "t", "fs").await;
    assert_eq!(catalog(&reg).await, ["fs"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!reg.tmp().join("root/berth").exists(), "no index written");
    reg.stop().await;
}
