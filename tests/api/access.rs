//! Who may do what: htpasswd and silly auth, read-only mode, URL settings
//! (prefix, host, relative URLs) and the debug listener.

use reqwest::Method;

use crate::common::*;

fn htpasswd_file(dir: &std::path::Path, user: &str, password: &str) -> std::path::PathBuf {
    let path = dir.join("htpasswd");
    std::fs::write(&path, format!("{user}:{}\n", bcrypt::hash(password, 4).unwrap())).unwrap();
    path
}

fn auth_header(resp: &reqwest::Response) -> String {
    resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn htpasswd_guards_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let file = htpasswd_file(dir.path(), "alice", "s3cret");
    let reg =
        start_with(true, &format!("auth:\n  htpasswd:\n    realm: Registry Realm\n    path: '{}'\n", file.display()))
            .await;
    for path in ["/v2/", "/v2/_catalog", "/v2/a/tags/list", "/v2/a/manifests/latest"] {
        let resp = reg.get(path).await;
        assert_eq!(resp.status(), 401, "{path}");
        assert_eq!(auth_header(&resp), r#"Basic realm="Registry Realm""#);
        expect_error(resp, 401, "UNAUTHORIZED").await;
    }
    let wrong = reg.req(Method::GET, "/v2/").basic_auth("alice", Some("nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown = reg.req(Method::GET, "/v2/").basic_auth("bob", Some("s3cret")).send().await.unwrap();
    assert_eq!(unknown.status(), 401);
    let ok = reg.req(Method::GET, "/v2/").basic_auth("alice", Some("s3cret")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let upload = reg.req(Method::POST, "/v2/a/blobs/uploads/").send().await.unwrap();
    assert_eq!(upload.status(), 401, "anonymous push refused");
    assert!(!reg.v2().join("repositories/a").exists(), "nothing created by a refused push");
    let upload =
        reg.req(Method::POST, "/v2/a/blobs/uploads/").basic_auth("alice", Some("s3cret")).send().await.unwrap();
    assert_eq!(upload.status(), 202);
    reg.stop().await;
}

#[tokio::test]
async fn a_missing_htpasswd_file_is_provisioned() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth/htpasswd");
    let reg = start_with(true, &format!("auth:\n  htpasswd:\n    realm: r\n    path: '{}'\n", file.display())).await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("docker:$2"), "{text}");
    assert_eq!(reg.get("/v2/").await.status(), 401);
    reg.stop().await;
}

#[tokio::test]
async fn silly_auth_challenges_with_scopes() {
    let reg = start_with(true, "auth:\n  silly:\n    realm: https://auth.example/token\n    service: reg\n").await;
    let resp = reg.get("/v2/a/b/tags/list").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        auth_header(&resp),
        r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull""#
    );
    let resp = reg.get("/v2/").await;
    assert_eq!(auth_header(&resp), r#"Bearer realm="https://auth.example/token",service="reg""#);
    let ok = reg.req(Method::GET, "/v2/").header("Authorization", "Bearer anything").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    reg.stop().await;
}

#[tokio::test]
async fn read_only_refuses_writes_and_serves_reads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let yaml = |ro: bool| {
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  delete:\n    enabled: true\n  maintenance:\n    readonly:\n      enabled: {ro}\nhttp:\n  addr: 127.0.0.1:0\n",
            root.display()
        )
    };
    let writable = start_config(&yaml(false)).await;
    let (digest, body) = writable.push_image("ro/img", "v1", "ro").await;
    writable.stop().await;

    let reg = start_config(&yaml(true)).await;
    let got = reg.get("/v2/ro/img/manifests/v1").await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap(), body);
    for (method, path) in [
        (Method::POST, "/v2/ro/img/blobs/uploads/".to_owned()),
        (Method::PUT, "/v2/ro/img/manifests/v2".to_owned()),
        (Method::DELETE, format!("/v2/ro/img/manifests/{digest}")),
    ] {
        let resp = reg.req(method.clone(), &path).send().await.unwrap();
        expect_error(resp, 405, "UNSUPPORTED").await;
    }
    assert_eq!(reg.get("/v2/ro/img/tags/list").await.status(), 200);
    let uploads = root.join("docker/registry/v2/repositories/ro/img/_uploads");
    assert_eq!(std::fs::read_dir(uploads).map(|d| d.count()).unwrap_or(0), 0, "no upload session opened");
    reg.stop().await;
}

#[tokio::test]
async fn prefix_and_relative_urls() {
    let reg = start_with(true, "http:\n  prefix: /reg/\n  relativeurls: true\n").await;
    assert_eq!(reg.get("/reg/v2/").await.status(), 200);
    assert_eq!(reg.get("/v2/").await.status(), 404);
    let resp = reg.req(Method::POST, "/reg/v2/a/blobs/uploads/").send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/reg/v2/a/blobs/uploads/"), "{location}");
    reg.stop().await;
}

#[tokio::test]
async fn configured_host_in_locations() {
    let reg = start_with(true, "http:\n  host: https://registry.example.com:8443\n").await;
    let resp = reg.req(Method::POST, "/v2/a/blobs/uploads/").send().await.unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("https://registry.example.com:8443/v2/a/blobs/uploads/"), "{location}");
    reg.stop().await;
}

#[tokio::test]
async fn debug_listener_serves_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let down = dir.path().join("down");
    let reg = start_with(
        true,
        &format!(
            "http:\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n      path: /metrics\nhealth:\n  file:\n    - file: '{}'\n      interval: 20ms\n",
            down.display()
        ),
    )
    .await;
    let debug = format!("http://{}", reg.debug_addr().expect("debug listener"));
    assert_eq!(reg.get("/v2/").await.status(), 200);
    assert_eq!(reg.get("/debug/health").await.status(), 404, "nothing of the debug listener on the main port");
    let health = reg.client.get(format!("{debug}/debug/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    std::fs::write(&down, "").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let health = reg.client.get(format!("{debug}/debug/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    expect_error(reg.get("/v2/").await, 503, "UNAVAILABLE").await;
    std::fs::remove_file(&down).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(reg.get("/v2/").await.status(), 200);

    let metrics = reg.client.get(format!("{debug}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"registry_http_requests_total{method="GET",code="200"}"#), "{metrics}");
    assert!(metrics.contains(r#"code="503""#), "{metrics}");
    reg.stop().await;
}
