//! `/v2/<name>/referrers/<digest>` (end-12a/b) and the `subject` field.

use reqwest::Response;
use serde_json::{Value, json};

use crate::common::*;

const SBOM: &str = "application/vnd.example.sbom.v1+json";
const SIG_CONFIG: &str = "application/vnd.example.signature.config.v1+json";

/// An artifact with a subject: A has an explicit artifactType and an empty
/// config; B has none, so its config media type is its artifact type.
struct Artifacts {
    subject: String,
    a: Vec<u8>,
    b: Vec<u8>,
}

async fn push_artifacts(reg: &Registry, name: &str, subject: &Desc) -> Artifacts {
    reg.push_blob(name, b"{}").await;
    let sbom = br#"{"packages":[]}"#;
    reg.push_blob(name, sbom).await;
    let sig_config = br#"{"signed":true}"#;
    reg.push_blob(name, sig_config).await;
    let a = image_manifest(
        Some(OCI_MANIFEST),
        &Desc::empty(),
        &[Desc::of(SBOM, sbom)],
        &format!(
            r#", "artifactType": "{SBOM}", "subject": {}, "annotations": {{"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "com.example.kind": "sbom"}}"#,
            subject.json()
        ),
    );
    let b = image_manifest(
        Some(OCI_MANIFEST),
        &Desc::of(SIG_CONFIG, sig_config),
        &[Desc::empty()],
        &format!(r#",   "subject":{},"annotations":{{"com.example.kind":"signature"}}"#, subject.json()),
    );
    for body in [&a, &b] {
        let r = reg.put_manifest(name, &sha256(body), OCI_MANIFEST, body).await;
        assert_eq!(r.status(), 201);
        assert_eq!(hdr(&r, "oci-subject"), Some(subject.digest.clone()), "PUT answers OCI-Subject");
        assert_eq!(hdr(&r, "docker-content-digest"), Some(sha256(body)));
    }
    Artifacts { subject: subject.digest.clone(), a, b }
}

/// A query value as clients send it (`/` and `+` escaped).
fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The body of a referrers answer, after checking its envelope.
async fn referrers(r: Response) -> Vec<Value> {
    assert_eq!(r.status(), 200, "{}", r.url());
    assert_eq!(hdr(&r, "content-type").as_deref(), Some(OCI_INDEX));
    let body = json(r).await;
    assert_eq!(body["schemaVersion"], 2);
    assert_eq!(body["mediaType"], OCI_INDEX);
    let mut list = body["manifests"].as_array().expect("manifests array").clone();
    list.sort_by_key(|d| d["digest"].as_str().unwrap_or_default().to_owned());
    list
}

fn expected(entries: &[(&[u8], &str, Value)]) -> Vec<Value> {
    let mut list: Vec<Value> = entries
        .iter()
        .map(|(body, artifact_type, annotations)| {
            json!({
                "mediaType": OCI_MANIFEST,
                "digest": sha256(body),
                "size": body.len(),
                "artifactType": artifact_type,
                "annotations": annotations,
            })
        })
        .collect();
    list.sort_by_key(|d| d["digest"].as_str().unwrap().to_owned());
    list
}

/// Only the fields the spec requires of a referrers descriptor.
fn essentials(list: Vec<Value>) -> Vec<Value> {
    list.into_iter()
        .map(|d| {
            let keys = ["mediaType", "digest", "size", "artifactType", "annotations"];
            Value::Object(keys.iter().filter_map(|k| d.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect())
        })
        .collect()
}

fn a_annotations() -> Value {
    json!({"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "com.example.kind": "sbom"})
}

#[tokio::test]
async fn empty_list_when_nothing_refers() {
    let reg = start().await;
    let (digest, _) = reg.push_image("app", "v1", "seed").await;
    for subject in [digest, sha256(b"never pushed")] {
        let r = reg.get(&format!("/v2/app/referrers/{subject}")).await;
        assert_eq!(hdr(&r, "oci-filters-applied"), None);
        assert_eq!(referrers(r).await, Vec::<Value>::new());
    }
    reg.stop().await;
}

#[tokio::test]
async fn artifacts_with_a_subject_are_listed() {
    let reg = start().await;
    let (digest, body) = reg.push_image("app", "v1", "seed").await;
    let art = push_artifacts(&reg, "app", &Desc::of(OCI_MANIFEST, &body)).await;
    assert_eq!(art.subject, digest);

    let r = reg.get(&format!("/v2/app/referrers/{digest}")).await;
    assert_eq!(hdr(&r, "oci-filters-applied"), None);
    let list = referrers(r).await;
    assert_eq!(
        essentials(list),
        expected(&[(&art.a, SBOM, a_annotations()), (&art.b, SIG_CONFIG, json!({"com.example.kind": "signature"}))])
    );
    // The subject itself refers to nothing, and other repositories see nothing.
    assert_eq!(referrers(reg.get(&format!("/v2/app/referrers/{}", sha256(&art.a))).await).await, Vec::<Value>::new());
    reg.push_image("other", "v1", "seed").await;
    assert_eq!(referrers(reg.get(&format!("/v2/other/referrers/{digest}")).await).await, Vec::<Value>::new());
    reg.stop().await;
}

#[tokio::test]
async fn artifact_type_filter() {
    let reg = start().await;
    let (digest, body) = reg.push_image("app", "v1", "seed").await;
    let art = push_artifacts(&reg, "app", &Desc::of(OCI_MANIFEST, &body)).await;
    for (filter, want) in [
        (SBOM, expected(&[(&art.a, SBOM, a_annotations())])),
        (SIG_CONFIG, expected(&[(&art.b, SIG_CONFIG, json!({"com.example.kind": "signature"}))])),
        ("application/vnd.example.none", vec![]),
    ] {
        let r = reg.get(&format!("/v2/app/referrers/{digest}?artifactType={}", encode(filter))).await;
        assert_eq!(hdr(&r, "oci-filters-applied").as_deref(), Some("artifactType"), "{filter}");
        assert_eq!(essentials(referrers(r).await), want, "{filter}");
    }
    reg.stop().await;
}

#[tokio::test]
async fn subject_may_be_pushed_after_its_referrers() {
    let reg = start().await;
    let (config, layer) = (br#"{"later":true}"#, b"later layer");
    let subject_body =
        image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, config), &[Desc::of(OCI_LAYER, layer)], "");
    let subject = Desc::of(OCI_MANIFEST, &subject_body);
    let art = push_artifacts(&reg, "late", &subject).await;
    expect_error(reg.get(&format!("/v2/late/manifests/{}", subject.digest)).await, 404, "MANIFEST_UNKNOWN").await;
    let list = referrers(reg.get(&format!("/v2/late/referrers/{}", subject.digest)).await).await;
    let digests: Vec<&str> = list.iter().map(|d| d["digest"].as_str().unwrap()).collect();
    let mut want = vec![sha256(&art.a), sha256(&art.b)];
    want.sort();
    assert_eq!(digests, want);

    reg.push_blob("late", config).await;
    reg.push_blob("late", layer).await;
    reg.push_manifest("late", "v1", OCI_MANIFEST, &subject_body).await;
    let list = referrers(reg.get(&format!("/v2/late/referrers/{}", subject.digest)).await).await;
    assert_eq!(list.len(), 2);
    reg.stop().await;
}

#[tokio::test]
async fn deleting_a_referrer_removes_it() {
    let reg = start().await;
    let (digest, body) = reg.push_image("app", "v1", "seed").await;
    let art = push_artifacts(&reg, "app", &Desc::of(OCI_MANIFEST, &body)).await;
    let r = reg.delete(&format!("/v2/app/manifests/{}", sha256(&art.a))).await;
    assert_eq!(r.status(), 202);
    let list = referrers(reg.get(&format!("/v2/app/referrers/{digest}")).await).await;
    assert_eq!(essentials(list), expected(&[(&art.b, SIG_CONFIG, json!({"com.example.kind": "signature"}))]));
    let list = referrers(reg.get(&format!("/v2/app/referrers/{digest}?artifactType={}", encode(SBOM))).await).await;
    assert_eq!(list, Vec::<Value>::new());
    reg.stop().await;
}

#[tokio::test]
async fn index_with_a_subject_is_a_referrer() {
    let reg = start().await;
    let (digest, body) = reg.push_image("app", "v1", "seed").await;
    let (child, child_body) = reg.push_image("app", "child", "child seed").await;
    let index = index_manifest(
        Some(OCI_INDEX),
        &[Desc::of(OCI_MANIFEST, &child_body)],
        &format!(
            r#","artifactType":"application/vnd.example.bundle","subject":{}"#,
            Desc::of(OCI_MANIFEST, &body).json()
        ),
    );
    let r = reg.put_manifest("app", "bundle", OCI_INDEX, &index).await;
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "oci-subject"), Some(digest.clone()));
    let list = referrers(reg.get(&format!("/v2/app/referrers/{digest}")).await).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["mediaType"], OCI_INDEX);
    assert_eq!(list[0]["digest"], sha256(&index));
    assert_eq!(list[0]["size"], index.len());
    assert_eq!(list[0]["artifactType"], "application/vnd.example.bundle");
    assert_ne!(child, digest);
    reg.stop().await;
}

/// The spec forbids a 404 from the referrers API: an unknown repository has
/// no referrers. Answering must not create the repository on disk.
#[tokio::test]
async fn referrers_of_an_unknown_repository_are_empty_and_create_nothing() {
    let reg = start().await;
    let (digest, _) = reg.push_image("app", "v1", "seed").await;
    let before = reg.snapshot();
    for name in ["nosuch", "app/sub", "deep/er/name"] {
        let r = reg.get(&format!("/v2/{name}/referrers/{digest}")).await;
        assert_eq!(referrers(r).await, Vec::<Value>::new(), "{name}");
        assert!(!reg.repo_dir(name).exists(), "GET created {}", reg.repo_dir(name).display());
    }
    assert_eq!(reg.snapshot(), before, "a GET stores nothing");
    reg.stop().await;
}

#[tokio::test]
async fn invalid_subject_digest_is_digest_invalid() {
    let reg = start().await;
    reg.push_image("app", "v1", "seed").await;
    expect_error(reg.get("/v2/app/referrers/sha256:zz").await, 400, "DIGEST_INVALID").await;
    expect_error(reg.get("/v2/app/referrers/latest").await, 400, "DIGEST_INVALID").await;
    reg.stop().await;
}

#[tokio::test]
async fn referrers_on_the_inmemory_driver() {
    let reg = start_memory().await;
    let (digest, body) = reg.push_image("mem", "v1", "seed").await;
    let art = push_artifacts(&reg, "mem", &Desc::of(OCI_MANIFEST, &body)).await;
    let list = referrers(reg.get(&format!("/v2/mem/referrers/{digest}")).await).await;
    assert_eq!(
        essentials(list),
        expected(&[(&art.a, SBOM, a_annotations()), (&art.b, SIG_CONFIG, json!({"com.example.kind": "signature"}))])
    );
    assert_eq!(reg.delete(&format!("/v2/mem/manifests/{}", sha256(&art.b))).await.status(), 202);
    let r = reg.get(&format!("/v2/mem/referrers/{digest}?artifactType={}", encode(SIG_CONFIG))).await;
    assert_eq!(hdr(&r, "oci-filters-applied").as_deref(), Some("artifactType"));
    assert_eq!(referrers(r).await, Vec::<Value>::new());
    reg.stop().await;
}
