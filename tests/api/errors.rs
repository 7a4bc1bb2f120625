//! The base endpoint (end-1), paths that are not routes, and the shape of
//! error answers.

use reqwest::Method;
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn base_endpoint() {
    let reg = start().await;
    for path in ["/v2/", "/v2"] {
        let r = reg.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(hdr(&r, "docker-distribution-api-version").as_deref(), Some("registry/2.0"));
        assert_eq!(hdr(&r, "content-type").as_deref(), Some("application/json; charset=utf-8"));
        assert_eq!(json(r).await, serde_json::json!({}));
    }
    let r = reg.head("/v2/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "docker-distribution-api-version").as_deref(), Some("registry/2.0"));
    reg.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let reg = start().await;
    let before = reg.snapshot();
    for path in ["/", "/v1/", "/v2/x", "/v2/a/unknown/x", "/v2/a/tags/other", "/v3/a/tags/list", "/v2/a/blob/x"] {
        for method in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
            let r = reg.send(method.clone(), path).await;
            assert_eq!(r.status(), 404, "{method} {path}");
            assert_eq!(hdr(&r, "docker-distribution-api-version").as_deref(), Some("registry/2.0"));
        }
    }
    assert_eq!(reg.snapshot(), before);
    reg.stop().await;
}

#[tokio::test]
async fn methods_a_route_does_not_have_are_405() {
    let reg = start().await;
    let digest = reg.push_blob("a", b"x").await;
    let before = reg.snapshot();
    for (method, path) in [
        (Method::POST, "/v2/".to_owned()),
        (Method::DELETE, "/v2/_catalog".to_owned()),
        (Method::PUT, "/v2/a/tags/list".to_owned()),
        (Method::PUT, format!("/v2/a/blobs/{digest}")),
        (Method::POST, format!("/v2/a/manifests/{digest}")),
        (Method::PATCH, "/v2/a/blobs/uploads/".to_owned()),
        (Method::DELETE, format!("/v2/a/referrers/{digest}")),
    ] {
        let r = reg.send(method.clone(), &path).await;
        assert_eq!(r.status(), 405, "{method} {path}");
    }
    assert_eq!(reg.snapshot(), before);
    reg.stop().await;
}

#[tokio::test]
async fn error_bodies_have_the_spec_shape() {
    let reg = start().await;
    let r = reg.get(&format!("/v2/a/blobs/{}", sha256(b"nope"))).await;
    assert_eq!(r.status(), 404);
    assert!(hdr(&r, "content-type").unwrap().starts_with("application/json"));
    assert_eq!(hdr(&r, "docker-distribution-api-version").as_deref(), Some("registry/2.0"));
    let raw = text(r).await;
    assert!(raw.starts_with(r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"#), "distribution's field order: {raw}");
    let body: Value = serde_json::from_str(&raw).unwrap();
    let errors = body["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], "BLOB_UNKNOWN");
    assert!(errors[0]["message"].is_string());
    assert!(matches!(errors[0].get("detail"), None | Some(Value::Object(_) | Value::String(_) | Value::Null)));
    expect_error(reg.get("/v2/a/manifests/-bad").await, 400, "TAG_INVALID").await;
    reg.stop().await;
}
