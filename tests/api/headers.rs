//! Response headers: the API version everywhere, and `http.headers` from the
//! configuration.

use reqwest::Method;

use crate::common::*;

const EXTRA: &str = "http:\n  headers:\n    X-Content-Type-Options: [nosniff]\n    X-Multi: [one, two]\n";

#[tokio::test]
async fn configured_headers_are_on_every_response() {
    let reg = start_with(true, EXTRA).await;
    let digest = reg.push_blob("a", b"data").await;
    let responses = [
        reg.get("/v2/").await,
        reg.get(&format!("/v2/a/blobs/{digest}")).await,
        reg.head(&format!("/v2/a/blobs/{digest}")).await,
        reg.get(&format!("/v2/a/blobs/{}", sha256(b"missing"))).await,
        reg.send(Method::POST, "/v2/a/blobs/uploads/").await,
        reg.get("/v2/_catalog").await,
        reg.get("/nothing/here").await,
        reg.get("/v2/UPPER/tags/list").await,
    ];
    for r in responses {
        let what = format!("{} {}", r.status(), r.url());
        assert_eq!(hdr(&r, "x-content-type-options").as_deref(), Some("nosniff"), "{what}");
        let multi: Vec<&str> = r.headers().get_all("x-multi").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(multi, ["one", "two"], "{what}");
        assert_eq!(hdr(&r, "docker-distribution-api-version").as_deref(), Some("registry/2.0"), "{what}");
    }
    reg.stop().await;
}

#[tokio::test]
async fn no_extra_headers_without_configuration() {
    let reg = start().await;
    let r = reg.get("/v2/").await;
    assert_eq!(hdr(&r, "x-content-type-options"), None);
    assert_eq!(hdr(&r, "x-multi"), None);
    reg.stop().await;
}
