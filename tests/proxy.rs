//! The pull-through cache (`proxy`): a berth in front of another berth on
//! loopback, reached through a forwarder that records every request the
//! cache sends upstream (its client sends one request per connection) and
//! that can be cut to make the upstream unreachable. Bytes and digests are
//! checked on every pull; htpasswd and token auth upstream; the ttl.

// The api tests' helpers; this suite uses a few of them.
#[allow(dead_code)]
#[path = "api/common.rs"]
mod common;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "support/token_issuer.rs"]
mod token_issuer;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use common::*;
use fake_http::{fake_http, request_path};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use token_issuer::TokenIssuer;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// A loopback forwarder to the upstream that records request lines.
struct Forwarder {
    url: String,
    lines: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Forwarder {
    async fn to(upstream: &str) -> Forwarder {
        let target: SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = lines.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, target, log.clone()));
            }
        });
        Forwarder { url, lines, task }
    }

    /// How many requests started with `prefix` (`"GET /v2/..."`).
    fn count(&self, prefix: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// Makes the upstream unreachable: connections are refused from now on.
    async fn cut(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Records the connection's request line, then copies both ways.
async fn relay(mut client: TcpStream, target: SocketAddr, log: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(2).any(|w| w == b"\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
    log.lock().unwrap().push(line);
    let Ok(mut upstream) = TcpStream::connect(target).await else { return };
    if upstream.write_all(&head).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

/// A proxy of `remote` with extra `proxy:` lines and top-level YAML.
async fn proxy_of(remote: &str, proxy_extra: &str, extra: &str) -> Registry {
    start_with(false, &format!("proxy:\n  remoteurl: {remote}\n{proxy_extra}{extra}")).await
}

/// The config and layer digests a manifest names.
fn blobs_of(manifest: &[u8]) -> Vec<String> {
    let m: Value = serde_json::from_slice(manifest).unwrap();
    let mut digests = vec![m["config"]["digest"].as_str().unwrap().to_owned()];
    digests.extend(m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_owned()));
    digests
}

/// Pulls `name:reference` and every blob of it, checking each against its
/// digest and the bytes `expected`; returns the manifest's digest.
async fn pull(reg: &Registry, name: &str, reference: &str, expected: &[u8]) -> String {
    let r = reg
        .req(Method::GET, &format!("/v2/{name}/manifests/{reference}"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{name}:{reference}");
    let digest = hdr(&r, "docker-content-digest").unwrap();
    assert_eq!(hdr(&r, "content-type").as_deref(), Some(OCI_MANIFEST));
    let body = r.bytes().await.unwrap();
    assert_eq!((&body[..], sha256(&body)), (expected, digest.clone()));
    for blob in blobs_of(&body) {
        let r = reg.get(&format!("/v2/{name}/blobs/{blob}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{blob}");
        assert_eq!(sha256(&r.bytes().await.unwrap()), blob);
    }
    digest
}

#[tokio::test]
async fn pulls_through_re_checks_tags_and_serves_the_cache_while_the_upstream_is_down() {
    let upstream = start().await;
    let (one, first) = upstream.push_image("lib/app", "v1", "one").await;
    let forwarder = Forwarder::to(&upstream.base).await;
    let proxy = proxy_of(&forwarder.url, "", "").await;

    assert_eq!(pull(&proxy, "lib/app", "v1", &first).await, one);
    for blob in blobs_of(&first) {
        assert!(proxy.blob_data(&blob).is_file(), "{blob} cached");
    }
    assert!(proxy.blob_data(&one).is_file());
    let catalog = json(proxy.get("/v2/_catalog").await).await;
    assert_eq!(catalog, serde_json::json!({"repositories": ["lib/app"]}));

    // The tag moves upstream: the next pull follows it.
    let (two, second) = upstream.push_image("lib/app", "v1", "two").await;
    assert_eq!(pull(&proxy, "lib/app", "v1", &second).await, two);
    let fetched = forwarder.count(&format!("GET /v2/lib/app/blobs/{}", blobs_of(&second)[0]));
    assert_eq!(fetched, 1);

    // Tags are listed as the upstream has them, uncached ones included.
    upstream.push_image("lib/app", "other", "three").await;
    let tags = json(proxy.get("/v2/lib/app/tags/list").await).await;
    assert_eq!(tags, serde_json::json!({"name": "lib/app", "tags": ["other", "v1"]}));

    forwarder.cut().await;
    let tags = json(proxy.get("/v2/lib/app/tags/list").await).await;
    assert_eq!(tags, serde_json::json!({"name": "lib/app", "tags": ["v1"]}), "the cached tags");
    assert_eq!(pull(&proxy, "lib/app", "v1", &second).await, two, "cached tag while the upstream is down");
    assert_eq!(pull(&proxy, "lib/app", &one, &first).await, one, "cached digest");
    let r = proxy.get("/v2/lib/app/manifests/v2").await;
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = proxy.get(&format!("/v2/lib/app/blobs/{}", sha256(b"never pulled"))).await;
    expect_error(r, 503, "UNAVAILABLE").await;
    proxy.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn concurrent_pulls_of_an_uncached_blob_fetch_it_from_the_upstream_once() {
    let upstream = start().await;
    let data: Vec<u8> = (0..24 << 20).map(|_| fastrand::u8(..)).collect();
    let digest = upstream.push_blob("big", &data).await;
    let forwarder = Forwarder::to(&upstream.base).await;
    let proxy = proxy_of(&forwarder.url, "", "").await;

    let path = format!("/v2/big/blobs/{digest}");
    // A HEAD asks the upstream's size and fetches nothing.
    let r = proxy.head(&path).await;
    assert_eq!((r.status(), hdr(&r, "content-length")), (StatusCode::OK, Some(data.len().to_string())));
    assert_eq!((forwarder.count(&format!("HEAD {path}")), forwarder.count(&format!("GET {path}"))), (1, 0));
    assert!(!proxy.blob_data(&digest).exists());
    let pulls = (0..12).map(|_| async {
        let r = proxy.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK);
        sha256(&r.bytes().await.unwrap())
    });
    for got in futures_util::future::join_all(pulls).await {
        assert_eq!(got, digest);
    }
    assert_eq!(forwarder.count(&format!("GET {path}")), 1, "{:#?}", forwarder.lines.lock().unwrap());
    assert_eq!(std::fs::read(proxy.blob_data(&digest)).unwrap(), data);
    // A range of the cached blob, served locally.
    let r = proxy.req(Method::GET, &path).header("Range", "bytes=10-19").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.bytes().await.unwrap()[..], &data[10..20]);
    assert_eq!(forwarder.count(&format!("GET {path}")), 1);
    proxy.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn a_range_of_an_uncached_blob_is_served_once_it_is_fetched() {
    let upstream = start().await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let digest = upstream.push_blob("r", &data).await;
    let proxy = proxy_of(&upstream.base, "", "").await;
    let r = proxy.req(Method::GET, &format!("/v2/r/blobs/{digest}")).header("Range", "bytes=5-9").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.bytes().await.unwrap()[..], &data[5..10]);
    assert_eq!(std::fs::read(proxy.blob_data(&digest)).unwrap(), data);
    proxy.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn pushes_and_deletes_are_refused_as_distribution_does_and_store_nothing() {
    let upstream = start().await;
    let (digest, _) = upstream.push_image("app", "v1", "one").await;
    let forwarder = Forwarder::to(&upstream.base).await;
    let proxy = proxy_of(&forwarder.url, "", "").await;
    let before = proxy.snapshot();

    expect_error(proxy.send(Method::POST, "/v2/app/blobs/uploads/").await, 405, "UNSUPPORTED").await;
    let put = proxy.put_manifest("app", "v2", OCI_MANIFEST, b"{}").await;
    expect_error(put, 405, "UNSUPPORTED").await;
    expect_error(proxy.delete(&format!("/v2/app/manifests/{digest}")).await, 405, "UNSUPPORTED").await;
    expect_error(proxy.delete(&format!("/v2/app/blobs/{digest}")).await, 405, "UNSUPPORTED").await;
    expect_error(proxy.delete("/v2/_berth/repositories/app").await, 405, "UNSUPPORTED").await;
    assert_eq!(proxy.snapshot(), before);
    assert!(forwarder.lines.lock().unwrap().is_empty(), "nothing asked upstream");
    proxy.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn bytes_that_do_not_match_their_digest_are_neither_stored_nor_served_whole() {
    let real = b"the real layer bytes".to_vec();
    let digest = sha256(&real);
    let fake = b"the fake layer bytes".to_vec();
    assert_eq!(real.len(), fake.len());
    let upstream = fake_http(move |_| ("200 OK".into(), fake.clone()));
    let proxy = proxy_of(&upstream, "", "").await;
    for _ in 0..2 {
        let r = proxy.get(&format!("/v2/lying/blobs/{digest}")).await;
        let whole = match r.status() {
            StatusCode::OK => r.bytes().await.ok(),
            _ => None,
        };
        assert_eq!(whole, None, "a body that does not match {digest} was served whole");
    }
    assert!(!proxy.blob_data(&digest).exists());
    assert!(!proxy.files().iter().any(|f| f.contains("/_layers/") || f.contains("/blobs/")), "{:#?}", proxy.files());
    proxy.stop().await;
}

#[tokio::test]
async fn cached_content_expires_after_the_ttl_and_is_fetched_again() {
    let upstream = start().await;
    let (digest, manifest) = upstream.push_image("app", "v1", "one").await;
    let forwarder = Forwarder::to(&upstream.base).await;
    let proxy = proxy_of(&forwarder.url, "  ttl: 1s\n", "berth:\n  gc:\n    grace: 0s\n").await;
    pull(&proxy, "app", "v1", &manifest).await;
    let layer = blobs_of(&manifest)[1].clone();
    assert!(proxy.blob_data(&layer).is_file());

    let mut waited = Duration::ZERO;
    while proxy.blob_data(&layer).exists() || proxy.blob_data(&digest).exists() {
        assert!(waited < Duration::from_secs(15), "still cached: {:#?}", proxy.files());
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited += Duration::from_millis(200);
    }
    assert!(!proxy.repo_dir("app").join("_manifests/tags/v1").exists());
    assert!(!proxy.files().iter().any(|f| f.contains("/_layers/")), "{:#?}", proxy.files());

    pull(&proxy, "app", "v1", &manifest).await;
    assert_eq!(forwarder.count(&format!("GET /v2/app/blobs/{layer}")), 2, "fetched again after expiring");
    proxy.stop().await;
    upstream.stop().await;
}

/// An upstream berth over `root` with auth (`auth` YAML lines).
async fn upstream_with(auth: &str, root: &std::path::Path) -> Registry {
    start_config(&format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\n{auth}storage:\n  filesystem:\n    rootdirectory: '{}'\n",
        root.display()
    ))
    .await
}

#[tokio::test]
async fn an_htpasswd_upstream_is_answered_with_the_proxy_credentials() {
    let plain = start().await;
    let (digest, manifest) = plain.push_image("lib/app", "v1", "one").await;
    let file = plain.tmp().join("htpasswd");
    std::fs::write(&file, format!("puller:{}\n", bcrypt::hash("pw", 4).unwrap())).unwrap();
    let auth = format!("auth:\n  htpasswd:\n    realm: r\n    path: '{}'\n", file.display());
    let upstream = upstream_with(&auth, &plain.tmp().join("root")).await;
    expect_error(upstream.get("/v2/lib/app/manifests/v1").await, 401, "UNAUTHORIZED").await;

    let wrong = proxy_of(&upstream.base, "  username: puller\n  password: nope\n", "").await;
    expect_error(wrong.get("/v2/lib/app/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
    let layer = blobs_of(&manifest)[1].clone();
    expect_error(wrong.get(&format!("/v2/lib/app/blobs/{layer}")).await, 503, "UNAVAILABLE").await;
    wrong.stop().await;

    let proxy = proxy_of(&upstream.base, "  username: puller\n  password: pw\n", "").await;
    assert_eq!(pull(&proxy, "lib/app", "v1", &manifest).await, digest);
    proxy.stop().await;
    upstream.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn a_token_upstream_gets_the_proxy_credentials_at_its_token_server() {
    let plain = start().await;
    let (digest, manifest) = plain.push_image("lib/app", "v1", "one").await;
    let issuer = TokenIssuer::new();
    let bundle = plain.tmp().join("bundle.pem");
    std::fs::write(&bundle, &issuer.root_pem).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let basic = format!("authorization: basic {}", STANDARD.encode("puller:pw")).to_ascii_lowercase();
    let realm = fake_http(move |request| {
        if !request.to_ascii_lowercase().contains(&basic) {
            return ("401 Unauthorized".into(), Vec::new());
        }
        let (token, scope) = issuer.answer("puller", request_path(request));
        log.lock().unwrap().push(scope);
        ("200 OK\r\nContent-Type: application/json".into(), token.into_bytes())
    });
    let auth = format!(
        "auth:\n  token:\n    realm: {realm}/token\n    service: registry\n    issuer: issuer\n    rootcertbundle: '{}'\n",
        bundle.display()
    );
    let upstream = upstream_with(&auth, &plain.tmp().join("root")).await;

    let wrong = proxy_of(&upstream.base, "  username: puller\n  password: nope\n", "").await;
    expect_error(wrong.get("/v2/lib/app/manifests/v1").await, 404, "MANIFEST_UNKNOWN").await;
    wrong.stop().await;
    assert!(asked.lock().unwrap().is_empty(), "no token for wrong credentials");

    let proxy = proxy_of(&upstream.base, "  username: puller\n  password: pw\n", "").await;
    assert_eq!(pull(&proxy, "lib/app", "v1", &manifest).await, digest);
    let asked = asked.lock().unwrap().clone();
    assert!(!asked.is_empty() && asked.iter().all(|s| s == "repository:lib/app:pull"), "{asked:?}");
    proxy.stop().await;
    upstream.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn bytes_cached_for_one_repository_serve_another_once_the_upstream_vouches_for_them() {
    let upstream = start().await;
    let (digest, manifest) = upstream.push_image("a", "v1", "shared").await;
    upstream.push_image("b", "v1", "shared").await;
    let forwarder = Forwarder::to(&upstream.base).await;
    let proxy = proxy_of(&forwarder.url, "", "").await;
    assert_eq!(pull(&proxy, "a", "v1", &manifest).await, digest);
    assert_eq!(pull(&proxy, "b", "v1", &manifest).await, digest);
    assert_eq!(forwarder.count("GET /v2/a/blobs/"), 2);
    assert_eq!(forwarder.count("GET /v2/b/blobs/"), 0, "{:#?}", forwarder.lines.lock().unwrap());
    assert_eq!(forwarder.count("HEAD /v2/b/blobs/"), 2, "the upstream says b has each blob");
    // A blob the upstream does not have in a repository is not served
    // from it, whatever other repositories hold.
    let layer = blobs_of(&manifest)[1].clone();
    expect_error(proxy.get(&format!("/v2/c/blobs/{layer}")).await, 404, "BLOB_UNKNOWN").await;
    proxy.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn a_remoteurl_that_is_not_an_http_url_stops_startup() {
    let yaml = "version: 0.1\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  inmemory:\nproxy:\n  remoteurl: ftp://upstream\n";
    let config = berth::config::Config::parse(yaml).unwrap();
    let error = berth::server::Server::start(&config).await.err().expect("refused");
    assert!(format!("{error:#}").contains("proxy.remoteurl"), "{error:#}");
}

#[tokio::test]
async fn a_tag_moved_upstream_to_a_manifest_it_cannot_deliver_keeps_its_cached_manifest() {
    let body = image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, b"{}"), &[Desc::of(OCI_LAYER, b"l")], "");
    let (digest, other) = (sha256(&body), sha256(b"a manifest the upstream lost"));
    let moved = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (served, flag, pointed) = (body.clone(), moved.clone(), digest.clone());
    let upstream = fake_http(move |request| {
        let path = request_path(request);
        let now = if flag.load(std::sync::atomic::Ordering::SeqCst) { other.clone() } else { pointed.clone() };
        let head = format!("200 OK\r\nContent-Type: {OCI_MANIFEST}\r\nDocker-Content-Digest: {now}");
        if path.ends_with("/manifests/v1") || path.ends_with(&pointed) {
            (head, served.clone())
        } else {
            (head, b"not the manifest asked for".to_vec())
        }
    });
    let proxy = proxy_of(&upstream, "", "").await;
    let r = proxy.get("/v2/app/manifests/v1").await;
    assert_eq!((r.status(), hdr(&r, "docker-content-digest")), (StatusCode::OK, Some(digest.clone())));
    assert_eq!(&r.bytes().await.unwrap()[..], &body[..]);

    moved.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = proxy.get("/v2/app/manifests/v1").await;
    assert_eq!((r.status(), hdr(&r, "docker-content-digest")), (StatusCode::OK, Some(digest.clone())));
    assert_eq!(&r.bytes().await.unwrap()[..], &body[..]);
    let lost = sha256(b"a manifest the upstream lost");
    expect_error(proxy.get(&format!("/v2/app/manifests/{lost}")).await, 503, "UNAVAILABLE").await;
    assert!(!proxy.blob_data(&lost).exists());
    proxy.stop().await;
}

#[tokio::test]
async fn the_catalog_index_names_what_the_cache_fetched() {
    let upstream = start().await;
    let (_, manifest) = upstream.push_image("lib/app", "v1", "one").await;
    let proxy = proxy_of(&upstream.base, "", "berth:\n  catalog:\n    index: true\n").await;
    // The first catalog request builds the (empty) index in the background.
    let empty = serde_json::json!({"repositories": []});
    assert_eq!(json(proxy.get("/v2/_catalog").await).await, empty);
    let mut waited = 0;
    while !proxy.files().iter().any(|f| f.ends_with("catalog-built")) {
        assert!(waited < 100, "no index built: {:#?}", proxy.files());
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    pull(&proxy, "lib/app", "v1", &manifest).await;
    let catalog = json(proxy.get("/v2/_catalog").await).await;
    assert_eq!(catalog, serde_json::json!({"repositories": ["lib/app"]}));
    proxy.stop().await;
    upstream.stop().await;
}
