//! The tag lifecycle: tag moves with compare-and-swap (copy, promote,
//! rollback), immutable tags, and tag history, through the admin routes
//! and the API.

use std::collections::BTreeMap;

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::common::{self, OCI_MANIFEST, Registry, expect_error, json};

/// An immutable rule over `app/**` for version tags.
const IMMUTABLE: &str = "berth:\n  tags:\n    immutable:\n      - name: releases\n        repository: 'app/**'\n        tags: 'v\\d+(\\.\\d+)*'\n";

/// Every file under the temp directory with its bytes: a refused request
/// must leave all of them as they were.
fn contents(reg: &Registry) -> BTreeMap<String, Vec<u8>> {
    reg.files().into_iter().map(|f| (f.clone(), std::fs::read(reg.tmp().join(&f)).unwrap())).collect()
}

async fn post_moves(reg: &Registry, name: &str, body: &Value) -> Response {
    reg.req(Method::POST, &format!("/v2/_berth/tags/{name}")).body(body.to_string()).send().await.unwrap()
}

/// The digest a tag points at, by a GET of the manifest (bytes hashed).
async fn target(reg: &Registry, name: &str, tag: &str) -> Option<String> {
    let r = reg
        .req(Method::GET, &format!("/v2/{name}/manifests/{tag}"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    if r.status() == 404 {
        return None;
    }
    assert_eq!(r.status(), 200);
    let header = common::hdr(&r, "docker-content-digest");
    let digest = common::sha256(&r.bytes().await.unwrap());
    assert_eq!(header.as_deref(), Some(digest.as_str()));
    Some(digest)
}

/// Pushes an image's blobs but not its manifest; returns the manifest's
/// digest and bytes.
async fn stage_image(reg: &Registry, name: &str, seed: &str) -> (String, Vec<u8>) {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
    let layer = format!("layer bytes of {seed}");
    reg.push_blob(name, config.as_bytes()).await;
    reg.push_blob(name, layer.as_bytes()).await;
    let config = common::Desc::of(common::OCI_CONFIG, config.as_bytes());
    let body = common::image_manifest(
        Some(OCI_MANIFEST),
        &config,
        &[common::Desc::of(common::OCI_LAYER, layer.as_bytes())],
        "",
    );
    (common::sha256(&body), body)
}

#[tokio::test]
async fn copy_points_a_tag_at_the_same_bytes() {
    let reg = common::start().await;
    let (digest, _) = reg.push_image("app/web", "beta", "copy").await;
    let blobs_before = reg.files().iter().filter(|f| f.contains("/blobs/")).count();
    let r = post_moves(&reg, "app/web", &json!({"via": "copy", "expect": {"latest": null}, "set": {"latest": digest}}))
        .await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    assert_eq!(body, json!({"name": "app/web", "moved": [{"tag": "latest", "digest": digest, "previous": null}]}));
    assert_eq!(target(&reg, "app/web", "latest").await, Some(digest.clone()));
    assert_eq!(reg.files().iter().filter(|f| f.contains("/blobs/")).count(), blobs_before, "no bytes moved");
    let tags = json(reg.get("/v2/app/web/tags/list").await).await;
    assert_eq!(tags["tags"], json!(["beta", "latest"]));
    reg.stop().await;
}

#[tokio::test]
async fn promote_uses_the_values_as_read_and_loses_a_race_cleanly() {
    let reg = common::start().await;
    let (d0, _) = reg.push_image("seed", "archive", "day0").await;
    let (d1, _) = reg.push_image("seed", "latest", "day1").await;
    let (d2, _) = reg.push_image("seed", "beta", "day2").await;
    let promote = json!({
        "via": "promote",
        "expect": {"archive": d0, "latest": d1, "beta": d2},
        "set": {"archive": d1, "latest": d2},
    });
    // A stale read first: beta moved since. Nothing may change.
    let (d3, _) = reg.push_image("seed", "beta", "day3").await;
    let before = contents(&reg);
    let r = post_moves(&reg, "seed", &promote).await;
    assert_eq!(r.status(), 409);
    let error = json(r).await;
    assert_eq!(error["errors"][0]["code"], "TAG_MOVED");
    assert_eq!(error["errors"][0]["detail"], json!({"tag": "beta", "expected": d2, "actual": d3}));
    assert_eq!(contents(&reg), before, "a lost race changes nothing");

    // Read again and promote: archive gets latest's old target.
    let promote = json!({
        "via": "promote",
        "expect": {"archive": d0, "latest": d1, "beta": d3},
        "set": {"archive": d1, "latest": d3},
    });
    let r = post_moves(&reg, "seed", &promote).await;
    assert_eq!(r.status(), 200);
    let moved = json(r).await["moved"].clone();
    assert_eq!(
        moved,
        json!([{"tag": "archive", "digest": d1, "previous": d0}, {"tag": "latest", "digest": d3, "previous": d1}])
    );
    assert_eq!(target(&reg, "seed", "archive").await, Some(d1.clone()));
    assert_eq!(target(&reg, "seed", "latest").await, Some(d3.clone()));
    assert_eq!(target(&reg, "seed", "beta").await, Some(d3.clone()));
    reg.stop().await;
}

#[tokio::test]
async fn concurrent_promotes_from_one_read_let_exactly_one_win() {
    let reg = common::start().await;
    let (d1, _) = reg.push_image("race", "latest", "r1").await;
    let mut candidates = Vec::new();
    for i in 0..8 {
        candidates.push(reg.push_image("race", &format!("rc{i}"), &format!("rc{i}")).await.0);
    }
    let posts = candidates.iter().map(|d| {
        let body = json!({"via": "promote", "expect": {"latest": d1}, "set": {"latest": d}});
        let request = reg.req(Method::POST, "/v2/_berth/tags/race").body(body.to_string());
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), candidates.len() - 1, "{statuses:?}");
    let winner = candidates[statuses.iter().position(|s| *s == 200).unwrap()].clone();
    assert_eq!(target(&reg, "race", "latest").await, Some(winner));
    reg.stop().await;
}

#[tokio::test]
async fn moves_refuse_bad_requests_and_store_nothing() {
    let reg = common::start().await;
    let (digest, _) = reg.push_image("bad", "t", "bad").await;
    let missing = common::sha256(b"not a manifest here");
    let before = contents(&reg);
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"via": "copy", "set": {}}), 400, "BAD_REQUEST"),
        (json!({"via": "push", "set": {"x": digest}}), 400, "BAD_REQUEST"),
        (json!({"via": "teleport", "set": {"x": digest}}), 400, "BAD_REQUEST"),
        (json!({"via": "copy", "set": {"x": digest}, "extra": 1}), 400, "BAD_REQUEST"),
        (json!({"via": "copy", "set": {"-x": digest}}), 400, "TAG_INVALID"),
        (json!({"via": "copy", "set": {"x": "sha256:zz"}}), 400, "DIGEST_INVALID"),
        (json!({"via": "copy", "set": {"x": digest}, "expect": {"t": "md5:00"}}), 400, "DIGEST_INVALID"),
        (json!({"via": "copy", "set": {"x": missing}}), 404, "MANIFEST_UNKNOWN"),
        (json!({"via": "copy", "set": {"x": digest, "y": missing}}), 404, "MANIFEST_UNKNOWN"),
    ];
    for (body, status, code) in cases {
        expect_error(post_moves(&reg, "bad", &body).await, status, code).await;
    }
    expect_error(post_moves(&reg, "nothere", &json!({"via": "copy", "set": {"x": digest}})).await, 404, "NAME_UNKNOWN")
        .await;
    let r = reg.req(Method::POST, "/v2/_berth/tags/bad").body("{not json").send().await.unwrap();
    expect_error(r, 400, "BAD_REQUEST").await;
    expect_error(reg.get("/v2/_berth/tags/bad").await, 405, "UNSUPPORTED").await;
    assert_eq!(contents(&reg), before);
    reg.stop().await;
}

#[tokio::test]
async fn read_only_mode_refuses_moves() {
    let reg = common::start_with(true, "").await;
    let (digest, _) = reg.push_image("ro", "t", "ro").await;
    reg.stop().await;
    let extra = "  maintenance:\n    readonly:\n      enabled: true\n";
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 0.1\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n{extra}",
        dir.path().display()
    );
    let ro = common::start_config(&yaml).await;
    expect_error(post_moves(&ro, "ro", &json!({"via": "copy", "set": {"x": digest}})).await, 405, "UNSUPPORTED").await;
    ro.stop().await;
}

/// A push of another manifest over an immutable tag is refused before
/// anything is stored; the same manifest again is fine.
#[tokio::test]
async fn immutable_tags_refuse_a_different_push_and_keep_their_target() {
    let reg = common::start_with(true, IMMUTABLE).await;
    let (v1, body) = reg.push_image("app/api", "v1.0", "first").await;
    assert_eq!(reg.put_manifest("app/api", "v1.0", OCI_MANIFEST, &body).await.status(), 201, "same digest again");
    let (other, other_body) = stage_image(&reg, "app/api", "second").await;
    let before = contents(&reg);
    let r = reg.put_manifest("app/api", "v1.0", OCI_MANIFEST, &other_body).await;
    assert_eq!(r.status(), 403);
    let error = json(r).await;
    assert_eq!(error["errors"][0]["code"], "DENIED");
    let message = error["errors"][0]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("v1.0") && message.contains("\"releases\""), "{message}");
    assert_eq!(contents(&reg), before, "a refused push stores nothing");
    assert_eq!(target(&reg, "app/api", "v1.0").await, Some(v1.clone()));
    // Tags the rule does not match move freely.
    reg.push_manifest("app/api", "v1.0-rc", OCI_MANIFEST, &other_body).await;
    reg.push_manifest("app/api", "latest", OCI_MANIFEST, &body).await;
    reg.push_manifest("app/api", "latest", OCI_MANIFEST, &other_body).await;
    assert_eq!(target(&reg, "app/api", "latest").await, Some(other.clone()));
    // The same tag name outside the rule's repositories is mutable.
    reg.push_image("lib/api", "v1.0", "a").await;
    reg.push_image("lib/api", "v1.0", "b").await;
    reg.stop().await;
}

#[tokio::test]
async fn immutable_tags_refuse_deletes_and_moves() {
    let reg = common::start_with(true, IMMUTABLE).await;
    let (v2, _) = reg.push_image("app/db", "v2", "v2").await;
    let (other, _) = reg.push_image("app/db", "edge", "edge").await;
    let before = contents(&reg);
    expect_error(reg.delete("/v2/app/db/manifests/v2").await, 403, "DENIED").await;
    expect_error(reg.delete(&format!("/v2/app/db/manifests/{v2}")).await, 403, "DENIED").await;
    expect_error(reg.delete("/v2/_berth/repositories/app/db").await, 403, "DENIED").await;
    let moves = json!({"via": "copy", "expect": {"v2": v2, "edge": other}, "set": {"v2": other, "edge": v2}});
    expect_error(post_moves(&reg, "app/db", &moves).await, 403, "DENIED").await;
    assert_eq!(contents(&reg), before, "nothing changed, edge included");
    // Creating a new immutable tag by a move is allowed, once.
    let create = json!({"via": "copy", "expect": {"v3": null}, "set": {"v3": other}});
    assert_eq!(post_moves(&reg, "app/db", &create).await.status(), 200);
    let again = json!({"via": "copy", "set": {"v3": v2}});
    expect_error(post_moves(&reg, "app/db", &again).await, 403, "DENIED").await;
    // Mutable tags still delete.
    assert_eq!(reg.delete("/v2/app/db/manifests/edge").await.status(), 202);
    assert_eq!(target(&reg, "app/db", "v2").await, Some(v2));
    reg.stop().await;
}

#[tokio::test]
async fn history_lists_every_target_newest_first_and_survives_rollback() {
    let reg = common::start().await;
    let mut pushed = Vec::new();
    for day in 0..3 {
        pushed.push(reg.push_image("hist", "latest", &format!("day{day}")).await.0);
    }
    // Rollback is a move back to an older target.
    let back = json!({"via": "rollback", "expect": {"latest": pushed[2]}, "set": {"latest": pushed[1]}});
    assert_eq!(post_moves(&reg, "hist", &back).await.status(), 200);
    let history = json(reg.get("/v2/_berth/history/hist/latest").await).await;
    assert_eq!(history["name"], "hist");
    assert_eq!(history["current"], json!(pushed[1]));
    let entries = history["history"].as_array().unwrap();
    let seen: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["digest"].as_str().unwrap(), e["via"].as_str().unwrap())).collect();
    assert_eq!(
        seen,
        [
            (pushed[1].as_str(), "rollback"),
            (pushed[2].as_str(), "push"),
            (pushed[1].as_str(), "push"),
            (pushed[0].as_str(), "push")
        ]
    );
    let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    // The history files sit beside distribution's links, never instead of them.
    let index = reg.repo_dir("hist").join("_manifests/tags/latest/index/sha256");
    for digest in &pushed {
        let entry = index.join(common::hex_of(digest));
        assert_eq!(std::fs::read_to_string(entry.join("link")).unwrap(), *digest);
        assert!(entry.join("history").is_file());
    }
    expect_error(reg.get("/v2/_berth/history/hist/never").await, 404, "MANIFEST_UNKNOWN").await;
    expect_error(reg.get("/v2/_berth/history/nothere/latest").await, 404, "MANIFEST_UNKNOWN").await;
    expect_error(reg.get("/v2/_berth/history/hist/-bad").await, 400, "TAG_INVALID").await;
    reg.stop().await;
}

/// An index entry distribution wrote (no `history` file) counts as one push
/// at its link's time; a deleted tag keeps its history.
#[tokio::test]
async fn history_reads_entries_distribution_wrote() {
    let reg = common::start().await;
    let (d1, _) = reg.push_image("old", "t", "one").await;
    let entry = reg.repo_dir("old").join(format!("_manifests/tags/t/index/sha256/{}", common::hex_of(&d1)));
    std::fs::remove_file(entry.join("history")).unwrap();
    let history = json(reg.get("/v2/_berth/history/old/t").await).await;
    assert_eq!(history["history"].as_array().unwrap().len(), 1);
    assert_eq!(history["history"][0]["digest"], json!(d1));
    assert_eq!(history["history"][0]["via"], "push");
    reg.stop().await;
}

#[tokio::test]
async fn moves_and_refusals_are_counted() {
    let yaml = format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nstorage:\n  inmemory:\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n{IMMUTABLE}"
    );
    let reg = common::start_config(&yaml).await;
    let (d1, _) = reg.push_image("app/m", "v1", "m1").await;
    let (d2, body2) = reg.push_image("app/m", "beta", "m2").await;
    let copy = json!({"via": "copy", "expect": {"latest": null}, "set": {"latest": d2}});
    assert_eq!(post_moves(&reg, "app/m", &copy).await.status(), 200);
    assert_eq!(post_moves(&reg, "app/m", &copy).await.status(), 409);
    assert_eq!(reg.put_manifest("app/m", "v1", OCI_MANIFEST, &body2).await.status(), 403);
    let debug = format!("http://{}/metrics", reg.debug_addr().unwrap());
    let metrics = reg.client.get(debug).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"registry_tag_moves_total{via="copy"} 1"#,
        "registry_tag_conflicts_total 1",
        r#"registry_immutable_refusals_total{rule="releases"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert_eq!(target(&reg, "app/m", "v1").await, Some(d1));
    reg.stop().await;
}
