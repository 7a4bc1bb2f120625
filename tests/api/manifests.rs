//! `/v2/<name>/manifests/<reference>`: PUT, GET, HEAD, DELETE (end-3, end-7,
//! end-9) for every manifest kind.

use crate::common::*;

const MAX: usize = 4 * 1024 * 1024;

/// Pushes a config and two layers of the given media types into `name`.
async fn push_blobs(reg: &Registry, name: &str, config_type: &str, layer_type: &str) -> (Desc, Vec<Desc>) {
    let config = format!("{{\"os\":\"linux\",\"repo\":\"{name}\",\"type\":\"{config_type}\"}}");
    reg.push_blob(name, config.as_bytes()).await;
    let mut layers = Vec::new();
    for i in 0..2 {
        let layer = format!("{layer_type} layer {i} of {name}");
        reg.push_blob(name, layer.as_bytes()).await;
        layers.push(Desc::of(layer_type, layer.as_bytes()));
    }
    (Desc::of(config_type, config.as_bytes()), layers)
}

/// GET and HEAD of `reference` serve exactly `body` as `media_type`.
async fn assert_served(reg: &Registry, name: &str, reference: &str, media_type: &str, body: &[u8]) {
    let path = format!("/v2/{name}/manifests/{reference}");
    let digest = sha256(body);
    let r = reg.get(&path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    assert_eq!(hdr(&r, "content-type").as_deref(), Some(media_type), "GET {path}");
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()), "GET {path}");
    assert_eq!(hdr(&r, "content-length"), Some(body.len().to_string()), "GET {path}");
    assert_eq!(r.bytes().await.unwrap(), body, "GET {path}: bytes as pushed");
    let r = reg.head(&path).await;
    assert_eq!(r.status(), 200, "HEAD {path}");
    assert_eq!(hdr(&r, "content-type").as_deref(), Some(media_type), "HEAD {path}");
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest), "HEAD {path}");
    assert_eq!(hdr(&r, "content-length"), Some(body.len().to_string()), "HEAD {path}");
    assert!(r.bytes().await.unwrap().is_empty());
}

/// PUT must answer 201 with Location (by digest) and Docker-Content-Digest.
async fn put_created(reg: &Registry, name: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
    let digest = sha256(body);
    let r = reg.put_manifest(name, reference, media_type, body).await;
    assert_eq!(r.status(), 201, "PUT {name}:{reference}");
    assert_eq!(hdr(&r, "location"), Some(reg.url(&format!("/v2/{name}/manifests/{digest}"))));
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(hdr(&r, "content-length").as_deref(), Some("0"));
    assert_eq!(hdr(&r, "oci-subject"), None);
    digest
}

#[tokio::test]
async fn oci_image_manifest_by_tag_and_by_digest() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "lib/app", OCI_CONFIG, OCI_LAYER).await;
    let body = image_manifest(Some(OCI_MANIFEST), &config, &layers, "");
    let digest = put_created(&reg, "lib/app", "v1", OCI_MANIFEST, &body).await;
    assert_served(&reg, "lib/app", "v1", OCI_MANIFEST, &body).await;
    assert_served(&reg, "lib/app", &digest, OCI_MANIFEST, &body).await;

    // By digest, with different bytes (the same manifest, other spacing).
    let other = [&body[..], b"\n\n"].concat();
    let other_digest = put_created(&reg, "lib/app", &sha256(&other), OCI_MANIFEST, &other).await;
    assert_ne!(other_digest, digest);
    assert_served(&reg, "lib/app", &other_digest, OCI_MANIFEST, &other).await;
    assert_served(&reg, "lib/app", "v1", OCI_MANIFEST, &body).await;
    reg.stop().await;
}

#[tokio::test]
async fn oci_index() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "idx", OCI_CONFIG, OCI_LAYER).await;
    let amd = image_manifest(Some(OCI_MANIFEST), &config, &layers[..1], "");
    let arm = image_manifest(Some(OCI_MANIFEST), &config, &layers[1..], "");
    put_created(&reg, "idx", &sha256(&amd), OCI_MANIFEST, &amd).await;
    put_created(&reg, "idx", &sha256(&arm), OCI_MANIFEST, &arm).await;
    let body = index_manifest(
        Some(OCI_INDEX),
        &[Desc::of(OCI_MANIFEST, &amd), Desc::of(OCI_MANIFEST, &arm)],
        r#", "annotations" : {"org.example.key": "value"}"#,
    );
    let digest = put_created(&reg, "idx", "multi", OCI_INDEX, &body).await;
    assert_served(&reg, "idx", "multi", OCI_INDEX, &body).await;
    assert_served(&reg, "idx", &digest, OCI_INDEX, &body).await;
    reg.stop().await;
}

#[tokio::test]
async fn docker_schema2_manifest() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "docker/app", DOCKER_CONFIG, DOCKER_LAYER).await;
    let body = image_manifest(Some(DOCKER_MANIFEST), &config, &layers, "");
    let digest = put_created(&reg, "docker/app", "latest", DOCKER_MANIFEST, &body).await;
    assert_served(&reg, "docker/app", "latest", DOCKER_MANIFEST, &body).await;
    assert_served(&reg, "docker/app", &digest, DOCKER_MANIFEST, &body).await;
    reg.stop().await;
}

#[tokio::test]
async fn docker_manifest_list() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "dl", DOCKER_CONFIG, DOCKER_LAYER).await;
    let amd = image_manifest(Some(DOCKER_MANIFEST), &config, &layers[..1], "");
    let arm = image_manifest(Some(DOCKER_MANIFEST), &config, &layers[1..], "");
    put_created(&reg, "dl", &sha256(&amd), DOCKER_MANIFEST, &amd).await;
    put_created(&reg, "dl", &sha256(&arm), DOCKER_MANIFEST, &arm).await;
    let entry = |body: &[u8], arch: &str| {
        format!(
            r#"{{"mediaType":"{DOCKER_MANIFEST}", "size":{}, "digest":"{}", "platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
            body.len(),
            sha256(body)
        )
    };
    let body = format!(
        "{{\"schemaVersion\": 2,\n\"mediaType\": \"{DOCKER_LIST}\",\n  \"manifests\": [\n {},\n {}\n ]\n}}",
        entry(&amd, "amd64"),
        entry(&arm, "arm64")
    )
    .into_bytes();
    let digest = put_created(&reg, "dl", "multi", DOCKER_LIST, &body).await;
    assert_served(&reg, "dl", "multi", DOCKER_LIST, &body).await;
    assert_served(&reg, "dl", &digest, DOCKER_LIST, &body).await;
    reg.stop().await;
}

#[tokio::test]
async fn artifact_manifest() {
    let reg = start().await;
    reg.push_blob("art", b"{}").await;
    let payload = b"an artifact payload";
    reg.push_blob("art", payload).await;
    let body = image_manifest(
        Some(OCI_MANIFEST),
        &Desc::empty(),
        &[Desc::of("application/vnd.example.payload", payload)],
        r#", "artifactType":"application/vnd.example.thing.v1+json""#,
    );
    let digest = put_created(&reg, "art", "thing", OCI_MANIFEST, &body).await;
    assert_served(&reg, "art", "thing", OCI_MANIFEST, &body).await;
    assert_served(&reg, "art", &digest, OCI_MANIFEST, &body).await;
    reg.stop().await;
}

#[tokio::test]
async fn served_with_the_pushed_content_type() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "ct", OCI_CONFIG, OCI_LAYER).await;
    // OCI manifests may omit mediaType; Content-Type says what they are.
    let body = image_manifest(None, &config, &layers, "");
    put_created(&reg, "ct", "oci", OCI_MANIFEST, &body).await;
    assert_served(&reg, "ct", "oci", OCI_MANIFEST, &body).await;
    let index = index_manifest(None, &[Desc::of(OCI_MANIFEST, &body)], "");
    put_created(&reg, "ct", "index", OCI_INDEX, &index).await;
    assert_served(&reg, "ct", "index", OCI_INDEX, &index).await;

    reg.stop().await;
}

/// distribution requires `mediaType` in Docker manifests and lists ("no
/// mediaType in manifest"). Refusing them is fine; accepting one and serving
/// it as an OCI type is not.
#[tokio::test]
async fn docker_manifests_without_media_type_are_refused_or_served_as_pushed() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "ct", DOCKER_CONFIG, DOCKER_LAYER).await;
    let with_type = image_manifest(Some(DOCKER_MANIFEST), &config, &layers, "");
    put_created(&reg, "ct", &sha256(&with_type), DOCKER_MANIFEST, &with_type).await;
    let child = Desc { media_type: DOCKER_MANIFEST.into(), ..Desc::of(OCI_MANIFEST, &with_type) };
    let mut wrong = Vec::new();
    for (media_type, body) in [
        (DOCKER_MANIFEST, image_manifest(None, &config, &layers, "")),
        (DOCKER_LIST, index_manifest(None, &[child], "")),
    ] {
        let r = reg.put_manifest("ct", "docker", media_type, &body).await;
        if r.status() != 201 {
            expect_error(r, 400, "MANIFEST_INVALID").await;
            continue;
        }
        for reference in ["docker".to_owned(), sha256(&body)] {
            let r = reg.get(&format!("/v2/ct/manifests/{reference}")).await;
            let served = hdr(&r, "content-type");
            if served.as_deref() != Some(media_type) {
                wrong.push(format!("pushed as {media_type} (201), GET {reference} serves Content-Type {served:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    reg.stop().await;
}

#[tokio::test]
async fn missing_layer_or_config_is_manifest_blob_unknown() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "m", OCI_CONFIG, OCI_LAYER).await;
    let elsewhere = b"a layer of another repository";
    reg.push_blob("other", elsewhere).await;
    let cases = [
        (OCI_MANIFEST, image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, b"{\"missing\":1}"), &layers, "")),
        (OCI_MANIFEST, image_manifest(None, &config, &[layers[0].clone(), Desc::of(OCI_LAYER, b"missing")], "")),
        (OCI_MANIFEST, image_manifest(Some(OCI_MANIFEST), &config, &[Desc::of(OCI_LAYER, elsewhere)], "")),
        (DOCKER_MANIFEST, image_manifest(Some(DOCKER_MANIFEST), &config, &[Desc::of(DOCKER_LAYER, b"missing")], "")),
    ];
    let before = reg.snapshot();
    for (media_type, body) in &cases {
        for reference in ["t", &sha256(body)] {
            let r = reg.put_manifest("m", reference, media_type, body).await;
            expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await;
        }
        // Into a repository that does not exist yet.
        expect_error(reg.put_manifest("fresh", "t", media_type, body).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    }
    assert_eq!(reg.snapshot(), before, "nothing stored");
    assert!(!reg.repo_dir("fresh").exists());
    expect_error(reg.get("/v2/m/manifests/t").await, 404, "MANIFEST_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn index_with_a_missing_child_is_manifest_blob_unknown() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "i", OCI_CONFIG, OCI_LAYER).await;
    let child = image_manifest(Some(OCI_MANIFEST), &config, &layers, "");
    put_created(&reg, "i", &sha256(&child), OCI_MANIFEST, &child).await;
    // Pushed to another repository only.
    let (config, layers) = push_blobs(&reg, "other", OCI_CONFIG, OCI_LAYER).await;
    let foreign = image_manifest(Some(OCI_MANIFEST), &config, &layers, "");
    put_created(&reg, "other", &sha256(&foreign), OCI_MANIFEST, &foreign).await;
    let never = image_manifest(Some(OCI_MANIFEST), &config, &layers, r#", "annotations":{"never":"pushed"}"#);
    let before = reg.snapshot();
    for missing in [&foreign, &never] {
        let body =
            index_manifest(Some(OCI_INDEX), &[Desc::of(OCI_MANIFEST, &child), Desc::of(OCI_MANIFEST, missing)], "");
        expect_error(reg.put_manifest("i", "multi", OCI_INDEX, &body).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
        expect_error(reg.put_manifest("i", &sha256(&body), OCI_INDEX, &body).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
        let list = index_manifest(
            Some(DOCKER_LIST),
            &[Desc { media_type: DOCKER_MANIFEST.into(), ..Desc::of(OCI_MANIFEST, missing) }],
            "",
        );
        expect_error(reg.put_manifest("i", "list", DOCKER_LIST, &list).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    }
    assert_eq!(reg.snapshot(), before, "nothing stored");
    reg.stop().await;
}

#[tokio::test]
async fn put_by_digest_of_other_bytes_is_digest_invalid() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "d", OCI_CONFIG, OCI_LAYER).await;
    let body = image_manifest(Some(OCI_MANIFEST), &config, &layers, "");
    let before = reg.snapshot();
    let wrong = sha256(b"some other manifest");
    expect_error(reg.put_manifest("d", &wrong, OCI_MANIFEST, &body).await, 400, "DIGEST_INVALID").await;
    let wrong512 = sha512(b"some other manifest");
    expect_error(reg.put_manifest("d", &wrong512, OCI_MANIFEST, &body).await, 400, "DIGEST_INVALID").await;
    expect_error(reg.put_manifest("d", "sha256:abc", OCI_MANIFEST, &body).await, 400, "DIGEST_INVALID").await;
    assert_eq!(reg.snapshot(), before, "nothing stored");
    expect_error(reg.get(&format!("/v2/d/manifests/{wrong}")).await, 404, "MANIFEST_UNKNOWN").await;
    expect_error(reg.get(&format!("/v2/d/manifests/{}", sha256(&body))).await, 404, "MANIFEST_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn invalid_json_or_shape_is_manifest_invalid() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "bad", OCI_CONFIG, OCI_LAYER).await;
    let image = String::from_utf8(image_manifest(None, &config, &layers, "")).unwrap();
    let no_layers = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{}}}"#, config.json());
    let bad_digest = image.replace(&layers[0].digest, "sha256:zz");
    let cases: Vec<(&str, String)> = vec![
        (OCI_MANIFEST, "{not json".into()),
        (OCI_MANIFEST, String::new()),
        (OCI_MANIFEST, "[]".into()),
        (OCI_MANIFEST, "\"a string\"".into()),
        (OCI_MANIFEST, no_layers),
        (OCI_MANIFEST, image.replace("\"schemaVersion\":   2", "\"schemaVersion\": 3")),
        (OCI_MANIFEST, bad_digest),
        // An image manifest's shape pushed as an index.
        (OCI_INDEX, image.clone()),
        // Content-Type and mediaType disagree.
        (OCI_INDEX, String::from_utf8(image_manifest(Some(OCI_MANIFEST), &config, &layers, "")).unwrap()),
        ("application/vnd.example.unknown+json", image.clone()),
    ];
    let before = reg.snapshot();
    for (content_type, body) in &cases {
        let r = reg.put_manifest("bad", "t", content_type, body.as_bytes()).await;
        assert_eq!(r.status(), 400, "{content_type}: {body}");
        expect_error(r, 400, "MANIFEST_INVALID").await;
    }
    assert_eq!(reg.snapshot(), before, "nothing stored");
    expect_error(reg.get("/v2/bad/manifests/t").await, 404, "MANIFEST_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn docker_schema1_is_manifest_invalid() {
    let reg = start().await;
    let layer = reg.push_blob("old", b"schema1 layer").await;
    let body = format!(
        r#"{{"schemaVersion":1,"name":"old","tag":"v1","architecture":"amd64","fsLayers":[{{"blobSum":"{layer}"}}],"history":[{{"v1Compatibility":"{{}}"}}],"signatures":[]}}"#
    );
    let before = reg.snapshot();
    for content_type in [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/json",
    ] {
        expect_error(reg.put_manifest("old", "v1", content_type, body.as_bytes()).await, 400, "MANIFEST_INVALID").await;
    }
    assert_eq!(reg.snapshot(), before, "nothing stored");
    reg.stop().await;
}

/// An OCI manifest padded with an annotation to exactly `len` bytes.
fn padded_manifest(config: &Desc, layers: &[Desc], len: usize) -> Vec<u8> {
    let base = image_manifest(Some(OCI_MANIFEST), config, layers, r#", "annotations":{"pad":""}"#).len();
    let pad = "x".repeat(len - base);
    image_manifest(Some(OCI_MANIFEST), config, layers, &format!(r#", "annotations":{{"pad":"{pad}"}}"#))
}

#[tokio::test]
async fn manifest_of_4_mib_is_accepted_and_larger_is_413() {
    let reg = start().await;
    let (config, layers) = push_blobs(&reg, "big", OCI_CONFIG, OCI_LAYER).await;
    let limit = padded_manifest(&config, &layers, MAX);
    assert_eq!(limit.len(), MAX);
    put_created(&reg, "big", "limit", OCI_MANIFEST, &limit).await;
    assert_served(&reg, "big", "limit", OCI_MANIFEST, &limit).await;

    let over = padded_manifest(&config, &layers, MAX + 1);
    let before = reg.snapshot();
    expect_error(reg.put_manifest("big", "over", OCI_MANIFEST, &over).await, 413, "MANIFEST_INVALID").await;
    assert_eq!(reg.snapshot(), before, "nothing stored");
    expect_error(reg.get("/v2/big/manifests/over").await, 404, "MANIFEST_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn delete_by_tag_removes_only_that_tag() {
    let reg = start().await;
    let (digest, body) = reg.push_image("del", "one", "seed").await;
    reg.push_manifest("del", "two", OCI_MANIFEST, &body).await;
    let (_, other) = reg.push_image("del", "other", "other seed").await;

    let r = reg.delete("/v2/del/manifests/one").await;
    assert_eq!(r.status(), 202);
    expect_error(reg.get("/v2/del/manifests/one").await, 404, "MANIFEST_UNKNOWN").await;
    assert_served(&reg, "del", &digest, OCI_MANIFEST, &body).await;
    assert_served(&reg, "del", "two", OCI_MANIFEST, &body).await;
    assert_served(&reg, "del", "other", OCI_MANIFEST, &other).await;
    let tags = json(reg.get("/v2/del/tags/list").await).await;
    assert_eq!(tags["tags"], serde_json::json!(["other", "two"]));
    assert!(!reg.repo_dir("del").join("_manifests/tags/one").exists());
    assert!(reg.repo_dir("del").join(format!("_manifests/revisions/sha256/{}/link", hex_of(&digest))).is_file());

    expect_error(reg.delete("/v2/del/manifests/one").await, 404, "MANIFEST_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn delete_by_digest_removes_the_manifest_and_its_tags() {
    let reg = start().await;
    let (digest, body) = reg.push_image("del", "one", "seed").await;
    reg.push_manifest("del", "two", OCI_MANIFEST, &body).await;
    let (_, other) = reg.push_image("del", "keep", "other seed").await;

    let r = reg.delete(&format!("/v2/del/manifests/{digest}")).await;
    assert_eq!(r.status(), 202);
    for reference in ["one", "two", digest.as_str()] {
        expect_error(reg.get(&format!("/v2/del/manifests/{reference}")).await, 404, "MANIFEST_UNKNOWN").await;
        assert_eq!(reg.head(&format!("/v2/del/manifests/{reference}")).await.status(), 404);
    }
    assert_served(&reg, "del", "keep", OCI_MANIFEST, &other).await;
    let tags = json(reg.get("/v2/del/tags/list").await).await;
    assert_eq!(tags["tags"], serde_json::json!(["keep"]));
    assert!(!reg.repo_dir("del").join(format!("_manifests/revisions/sha256/{}", hex_of(&digest))).exists());

    expect_error(reg.delete(&format!("/v2/del/manifests/{digest}")).await, 404, "MANIFEST_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn delete_when_disabled_is_unsupported() {
    let reg = start_with(false, "").await;
    let (digest, body) = reg.push_image("keep", "v1", "seed").await;
    let before = reg.snapshot();
    expect_error(reg.delete("/v2/keep/manifests/v1").await, 405, "UNSUPPORTED").await;
    expect_error(reg.delete(&format!("/v2/keep/manifests/{digest}")).await, 405, "UNSUPPORTED").await;
    assert_eq!(reg.snapshot(), before);
    assert_served(&reg, "keep", "v1", OCI_MANIFEST, &body).await;
    assert_served(&reg, "keep", &digest, OCI_MANIFEST, &body).await;
    reg.stop().await;
}

#[tokio::test]
async fn unknown_manifest_is_manifest_unknown() {
    let reg = start().await;
    let (digest, _) = reg.push_image("known", "v1", "seed").await;
    expect_error(reg.get("/v2/known/manifests/v2").await, 404, "MANIFEST_UNKNOWN").await;
    expect_error(reg.get(&format!("/v2/known/manifests/{}", sha256(b"x"))).await, 404, "MANIFEST_UNKNOWN").await;
    // Manifests are per repository.
    let r = reg.get(&format!("/v2/other/manifests/{digest}")).await;
    assert_eq!(r.status(), 404);
    let codes = codes_of(&r.bytes().await.unwrap());
    assert!(codes == ["MANIFEST_UNKNOWN"] || codes == ["NAME_UNKNOWN"], "{codes:?}");
    let r = reg.head("/v2/known/manifests/v2").await;
    assert_eq!(r.status(), 404);
    assert!(r.bytes().await.unwrap().is_empty());
    expect_error(reg.get("/v2/known/manifests/sha256:zz").await, 400, "DIGEST_INVALID").await;
    reg.stop().await;
}

#[tokio::test]
async fn manifests_on_the_inmemory_driver() {
    let reg = start_memory().await;
    let (config, layers) = push_blobs(&reg, "mem", OCI_CONFIG, OCI_LAYER).await;
    let body = image_manifest(Some(OCI_MANIFEST), &config, &layers, "");
    let digest = put_created(&reg, "mem", "v1", OCI_MANIFEST, &body).await;
    assert_served(&reg, "mem", "v1", OCI_MANIFEST, &body).await;
    let index = index_manifest(Some(OCI_INDEX), &[Desc::of(OCI_MANIFEST, &body)], "");
    put_created(&reg, "mem", "all", OCI_INDEX, &index).await;
    assert_served(&reg, "mem", "all", OCI_INDEX, &index).await;
    let missing = image_manifest(Some(OCI_MANIFEST), &config, &[Desc::of(OCI_LAYER, b"nope")], "");
    expect_error(reg.put_manifest("mem", "x", OCI_MANIFEST, &missing).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    expect_error(reg.put_manifest("mem", "x", OCI_MANIFEST, b"{").await, 400, "MANIFEST_INVALID").await;
    assert_eq!(reg.delete(&format!("/v2/mem/manifests/{digest}")).await.status(), 202);
    expect_error(reg.get("/v2/mem/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
    reg.stop().await;
}
