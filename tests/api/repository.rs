//! Repository delete through berth's admin route
//! (`DELETE /v2/_berth/repositories/<name>`): the repository leaves the
//! catalog and its content 404s, while other repositories (nested ones
//! included) keep everything, and garbage collection reclaims what only the
//! deleted repository used.

use berth::registry::GcOptions;
use reqwest::Method;

use crate::common::*;

fn route(name: &str) -> String {
    format!("/v2/_berth/repositories/{name}")
}

async fn catalog(reg: &Registry) -> Vec<String> {
    let body = json(reg.get("/v2/_catalog").await).await;
    body["repositories"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect()
}

/// The config and layer digests `push_image` wrote for `seed`.
fn blobs_of(seed: &str) -> [String; 2] {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
    [sha256(config.as_bytes()), sha256(format!("layer bytes of {seed}").as_bytes())]
}

/// The manifest and both blobs of an image are served, byte-identical.
async fn assert_pulls(reg: &Registry, name: &str, tag: &str, manifest: &[u8], seed: &str) {
    let got = reg.get(&format!("/v2/{name}/manifests/{tag}")).await;
    assert_eq!(got.status(), 200, "{name}:{tag}");
    assert_eq!(got.bytes().await.unwrap(), manifest, "{name}:{tag} manifest bytes");
    let [config, layer] = blobs_of(seed);
    let expected = [
        format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}"),
        format!("layer bytes of {seed}"),
    ];
    for (digest, bytes) in [config, layer].iter().zip(expected) {
        let got = reg.get(&format!("/v2/{name}/blobs/{digest}")).await;
        assert_eq!(got.status(), 200, "{name} blob {digest}");
        assert_eq!(got.bytes().await.unwrap(), bytes.as_bytes(), "{name} blob {digest} bytes");
    }
}

#[tokio::test]
async fn deletes_one_repository_and_leaves_the_nested_one_and_shared_blobs() {
    let reg = start().await;
    let (parent, _) = reg.push_image("a", "v1", "shared").await;
    let (only_parent, _) = reg.push_image("a", "v2", "parent only").await;
    let (_, child_body) = reg.push_image("a/b", "v1", "shared").await;
    let (_, other_body) = reg.push_image("other", "latest", "shared").await;
    // An upload in progress in the deleted repository dies with it.
    let upload = reg.start_upload("a").await;
    assert_eq!(catalog(&reg).await, ["a", "a/b", "other"]);

    let r = reg.delete(&route("a")).await;
    assert_eq!(r.status(), 202, "{}", text(r).await);

    assert_eq!(catalog(&reg).await, ["a/b", "other"], "gone from the catalog at once");
    expect_error(reg.get("/v2/a/tags/list").await, 404, "NAME_UNKNOWN").await;
    for reference in ["v1", "v2", parent.as_str(), only_parent.as_str()] {
        expect_error(reg.get(&format!("/v2/a/manifests/{reference}")).await, 404, "MANIFEST_UNKNOWN").await;
    }
    for digest in blobs_of("parent only").iter().chain(&blobs_of("shared")) {
        expect_error(reg.get(&format!("/v2/a/blobs/{digest}")).await, 404, "BLOB_UNKNOWN").await;
    }
    expect_error(reg.patch(&upload, b"more", None).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    for owned in ["_manifests", "_layers", "_uploads", "_referrers"] {
        assert!(!reg.repo_dir("a").join(owned).exists(), "a/{owned} removed");
    }

    assert_pulls(&reg, "a/b", "v1", &child_body, "shared").await;
    assert_pulls(&reg, "other", "latest", &other_body, "shared").await;
    assert_eq!(json(reg.get("/v2/a/b/tags/list").await).await["tags"], serde_json::json!(["v1"]));
    for digest in blobs_of("parent only") {
        assert!(reg.blob_data(&digest).exists(), "blob bytes stay until garbage collection");
    }

    expect_error(reg.delete(&route("a")).await, 404, "NAME_UNKNOWN").await;
    // The name is free again: a push recreates the repository.
    reg.push_image("a", "again", "again").await;
    assert_eq!(catalog(&reg).await, ["a", "a/b", "other"]);
    assert_eq!(json(reg.get("/v2/a/tags/list").await).await["tags"], serde_json::json!(["again"]));
    reg.stop().await;
}

#[tokio::test]
async fn a_parent_directory_of_repositories_is_no_repository() {
    let reg = start_memory().await;
    let (_, body) = reg.push_image("x/y", "v1", "child").await;
    expect_error(reg.delete(&route("x")).await, 404, "NAME_UNKNOWN").await;
    expect_error(reg.delete(&route("never/pushed")).await, 404, "NAME_UNKNOWN").await;
    assert_pulls(&reg, "x/y", "v1", &body, "child").await;
    // Deleting the child leaves nothing of it either, on the in-memory driver too.
    assert_eq!(reg.delete(&route("x/y")).await.status(), 202);
    assert!(catalog(&reg).await.is_empty());
    expect_error(reg.get("/v2/x/y/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn refused_when_deletes_are_disabled_and_for_other_methods() {
    let reg = start_with(false, "").await;
    let (_, body) = reg.push_image("kept", "v1", "kept").await;
    expect_error(reg.delete(&route("kept")).await, 405, "UNSUPPORTED").await;
    expect_error(reg.get(&route("kept")).await, 405, "UNSUPPORTED").await;
    expect_error(reg.send(Method::PUT, &route("kept")).await, 405, "UNSUPPORTED").await;
    assert_pulls(&reg, "kept", "v1", &body, "kept").await;
    assert_eq!(reg.get(&route("")).await.status(), 404, "no name, no route");
    expect_error(reg.delete(&route("Upper")).await, 400, "NAME_INVALID").await;
    reg.stop().await;
}

#[tokio::test]
async fn read_only_mode_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = |ro: bool| {
        format!(
            "version: 0.1\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  delete:\n    enabled: true\n  maintenance:\n    readonly:\n      enabled: {ro}\n",
            dir.path().join("root").display()
        )
    };
    let writable = start_config(&yaml(false)).await;
    let (_, body) = writable.push_image("ro", "v1", "ro").await;
    writable.stop().await;
    let reg = start_config(&yaml(true)).await;
    let r = reg.delete(&route("ro")).await;
    assert_eq!(hdr(&r, "allow").as_deref(), Some("GET, HEAD"));
    expect_error(r, 405, "UNSUPPORTED").await;
    assert_pulls(&reg, "ro", "v1", &body, "ro").await;
    reg.stop().await;
}

#[tokio::test]
async fn auth_guards_it_with_the_delete_scope() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    let reg =
        start_with(true, &format!("auth:\n  htpasswd:\n    realm: Registry Realm\n    path: '{}'\n", file.display()))
            .await;
    let auth = |m: Method, p: &str| reg.req(m, p).basic_auth("alice", Some("s3cret"));
    let layer = b"guarded layer";
    let digest = sha256(layer);
    let r = auth(Method::POST, &format!("/v2/gone/blobs/uploads/?digest={digest}"))
        .body(layer.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let r = reg.delete(&route("gone")).await;
    assert_eq!(hdr(&r, "www-authenticate").as_deref(), Some(r#"Basic realm="Registry Realm""#));
    expect_error(r, 401, "UNAUTHORIZED").await;
    let r = reg.req(Method::DELETE, &route("gone")).basic_auth("alice", Some("wrong")).send().await.unwrap();
    expect_error(r, 401, "UNAUTHORIZED").await;
    assert!(reg.repo_dir("gone").join("_layers").exists(), "nothing deleted by refused requests");
    // A repository with layers but no manifest yet (a push cut short) can be deleted too.
    assert_eq!(auth(Method::DELETE, &route("gone")).send().await.unwrap().status(), 202);
    assert!(!reg.repo_dir("gone").join("_layers").exists());
    reg.stop().await;

    let silly = start_with(true, "auth:\n  silly:\n    realm: https://auth.example/token\n    service: reg\n").await;
    let r = silly.delete(&route("a/b")).await;
    assert_eq!(
        hdr(&r, "www-authenticate").as_deref(),
        Some(r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:delete""#)
    );
    silly.stop().await;
}

#[tokio::test]
async fn served_under_the_prefix() {
    let reg = start_with(true, "http:\n  prefix: /reg/\n").await;
    let digest = sha256(b"prefixed");
    let r = reg
        .req(Method::POST, &format!("/reg/v2/p/blobs/uploads/?digest={digest}"))
        .body(&b"prefixed"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(reg.delete(&route("p")).await.status(), 404, "not outside the prefix");
    assert_eq!(reg.delete(&format!("/reg{}", route("p"))).await.status(), 202);
    reg.stop().await;
}

#[tokio::test]
async fn garbage_collection_then_reclaims_what_only_the_deleted_repository_used() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, v2) = start_on(&dir).await;
    let (shared_manifest, shared_body) = reg.push_image("one", "shared", "shared").await;
    let (own_manifest, _) = reg.push_image("one", "own", "one only").await;
    reg.push_image("two", "shared", "shared").await;
    assert_eq!(reg.delete(&route("one")).await.status(), 202);
    let blob = |d: &str| v2.join(format!("blobs/sha256/{}/{}/data", &d[7..9], &d[7..]));
    reg.stop().await;

    collect_garbage(&dir.path().join("root"), GcOptions::default()).await;
    for d in blobs_of("one only").iter().chain([&own_manifest]) {
        assert!(!blob(d).exists(), "{d} was only in the deleted repository: reclaimed");
    }
    for d in blobs_of("shared").iter().chain([&shared_manifest]) {
        assert!(blob(d).exists(), "{d} is still used by two: kept");
    }

    let (reg, _) = start_on(&dir).await;
    assert_pulls(&reg, "two", "shared", &shared_body, "shared").await;
    assert_eq!(catalog(&reg).await, ["two"]);
    reg.stop().await;
}
