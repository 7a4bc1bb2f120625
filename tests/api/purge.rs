//! Upload purging: sessions older than `uploadpurging.age` go, younger ones
//! and everything else stay; a dry run only reports.

use std::time::{Duration, SystemTime};

use berth::{config::Config, server::open_registry};
use reqwest::Method;

use crate::common::*;

#[tokio::test]
async fn purges_sessions_older_than_the_cutoff_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let yaml = format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  maintenance:\n    uploadpurging:\n      enabled: false\n",
        root.display()
    );
    let reg = start_config(&yaml).await;
    let old = reg.start_upload("p/one").await;
    reg.push_blob("p/one", b"a finished blob").await;
    let (_, manifest) = reg.push_image("p/two", "v1", "purge").await;
    reg.stop().await;

    let (registry, _) = open_registry(&Config::parse(&yaml).unwrap()).await.unwrap();
    let uploads = root.join("docker/registry/v2/repositories/p/one/_uploads");
    let kept = registry.purge_uploads(SystemTime::now() - Duration::from_secs(3600), false).await.unwrap();
    assert!(kept.is_empty(), "a session younger than the age stays: {kept:?}");
    let dry = registry.purge_uploads(SystemTime::now() + Duration::from_secs(60), true).await.unwrap();
    assert_eq!(dry.len(), 1, "{dry:?}");
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 1, "a dry run deletes nothing");
    let purged = registry.purge_uploads(SystemTime::now() + Duration::from_secs(60), false).await.unwrap();
    assert_eq!(purged.iter().map(|p| p.repository.as_str()).collect::<Vec<_>>(), ["p/one"]);
    assert!(old.contains(&purged[0].id), "{old} {purged:?}");
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 0);

    let reg = start_config(&yaml).await;
    assert_eq!(reg.get("/v2/p/two/manifests/v1").await.bytes().await.unwrap(), manifest, "finished content stays");
    reg.stop().await;
}

#[tokio::test]
async fn the_server_purges_on_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start_config(&format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  maintenance:\n    uploadpurging:\n      enabled: true\n      age: 1s\n      interval: 1s\n",
        dir.path().join("root").display()
    ))
    .await;
    let location = reg.start_upload("p/int").await;
    assert_eq!(reg.get(&location).await.status(), 204);
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if reg.req(Method::GET, &location).send().await.unwrap().status() == 404 {
            gone = true;
            break;
        }
    }
    assert!(gone, "an abandoned session is purged within age + interval");
    let fresh = reg.start_upload("p/int").await;
    assert_eq!(reg.get(&fresh).await.status(), 204, "a new session is not");
    reg.stop().await;
}
