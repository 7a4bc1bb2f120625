//! Shared helpers: a real server per test, pushes, manifest JSON, error
//! codes and snapshots of the storage root.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use berth::{
    config::Config,
    registry::{GcOptions, GcReport},
    server::{Server, open_registry},
};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A running berth, its client, and (filesystem driver) its temp directory:
/// the storage root is `<tmp>/root`, so anything written beside it escaped.
pub struct Registry {
    pub base: String,
    pub client: reqwest::Client,
    tmp: Option<tempfile::TempDir>,
    server: Server,
}

/// Filesystem driver, deletes enabled.
pub async fn start() -> Registry {
    launch(true, true, "").await
}

/// Filesystem driver with `storage.delete.enabled` and extra top-level YAML.
pub async fn start_with(delete: bool, extra: &str) -> Registry {
    launch(true, delete, extra).await
}

/// In-memory driver, deletes enabled.
pub async fn start_memory() -> Registry {
    launch(false, true, "").await
}

async fn launch(filesystem: bool, delete: bool, extra: &str) -> Registry {
    let tmp = filesystem.then(|| tempfile::tempdir().expect("tempdir"));
    let driver = match &tmp {
        Some(t) => format!("  filesystem:\n    rootdirectory: '{}'\n", t.path().join("root").display()),
        None => "  inmemory:\n".to_owned(),
    };
    // The access log would interleave with the test output.
    let yaml = format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nstorage:\n{driver}  delete:\n    enabled: {delete}\n{extra}"
    );
    let mut config = Config::parse(&yaml).unwrap_or_else(|e| panic!("config {yaml}: {e}"));
    config.addr = "127.0.0.1:0".into();
    let server = Server::start(&config).await.expect("server starts");
    let client =
        reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Registry { base: format!("http://{}", server.addr), client, tmp, server }
}

/// A server with deletes on, over `<dir>/root`, a root that outlives it;
/// returns it and the root's `docker/registry/v2`.
pub async fn start_on(dir: &tempfile::TempDir) -> (Registry, PathBuf) {
    let root = dir.path().join("root");
    let yaml = format!(
        "version: 0.1\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  delete:\n    enabled: true\n",
        root.display()
    );
    (start_config(&yaml).await, root.join("docker/registry/v2"))
}

/// Runs a garbage collection on a storage root, uncached, as
/// `berth garbage-collect` does; returns its report and its lines.
pub async fn collect_garbage(root: &Path, options: GcOptions) -> (GcReport, Vec<String>) {
    let yaml = format!("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n", root.display());
    let (registry, _) = open_registry(&Config::parse(&yaml).unwrap()).await.unwrap();
    let mut lines = Vec::new();
    let report = registry.garbage_collect(options, |l| lines.push(l)).await.unwrap();
    (report, lines)
}

/// A server from a whole config.yml (whose `http.addr` should be 127.0.0.1:0).
pub async fn start_config(yaml: &str) -> Registry {
    let config = Config::parse(yaml).unwrap_or_else(|e| panic!("config {yaml}: {e}"));
    let server = Server::start(&config).await.expect("server starts");
    let client =
        reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Registry { base: format!("http://{}", server.addr), client, tmp: None, server }
}

impl Registry {
    /// The debug listener's address, when configured.
    pub fn debug_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.debug_addr
    }

    pub async fn stop(self) {
        let Registry { client, tmp, server, .. } = self;
        drop(client);
        server.shutdown().await;
        drop(tmp);
    }

    /// An absolute URL for a path, or a Location as returned.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(&self, method: Method, path: &str) -> Response {
        self.req(method, path).send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path).await
    }

    pub async fn head(&self, path: &str) -> Response {
        self.send(Method::HEAD, path).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path).await
    }

    /// A request written by hand, for paths an URL library would normalise
    /// (`..`, `%2e%2e`). Returns the status and the body.
    pub async fn raw(&self, method: &str, target: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(self.server.addr).await.expect("connect");
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.server.addr
        );
        s.write_all(head.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{text}"));
        (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
    }

    /// POST: a new upload session; returns its Location.
    pub async fn start_upload(&self, name: &str) -> String {
        let r = self.send(Method::POST, &format!("/v2/{name}/blobs/uploads/")).await;
        assert_eq!(r.status(), 202, "start upload in {name}");
        hdr(&r, "location").expect("Location")
    }

    /// Monolithic upload (`POST ?digest=`); returns the digest.
    pub async fn push_blob(&self, name: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let r = self
            .req(Method::POST, &format!("/v2/{name}/blobs/uploads/?digest={digest}"))
            .body(data.to_vec())
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 201, "push blob to {name}: {}", text(r).await);
        digest
    }

    /// POST, one PATCH with `Content-Range` per chunk, PUT `?digest=`.
    pub async fn push_blob_chunked(&self, name: &str, data: &[u8], chunk: usize) -> String {
        let mut location = self.start_upload(name).await;
        let mut offset = 0;
        for piece in data.chunks(chunk) {
            let r = self.patch(&location, piece, Some((offset, piece.len()))).await;
            assert_eq!(r.status(), 202, "PATCH {offset}");
            offset += piece.len();
            assert_eq!(hdr(&r, "range"), Some(format!("0-{}", offset - 1)));
            location = hdr(&r, "location").expect("Location");
        }
        let digest = sha256(data);
        let r = self.send(Method::PUT, &with_param(&location, "digest", &digest)).await;
        assert_eq!(r.status(), 201, "PUT {digest}");
        assert_eq!(hdr(&r, "docker-content-digest").as_deref(), Some(digest.as_str()));
        digest
    }

    /// PATCH a chunk, with `Content-Range: start-end` when `range` is given.
    pub async fn patch(&self, location: &str, data: &[u8], range: Option<(usize, usize)>) -> Response {
        let mut req = self.req(Method::PATCH, location).header("Content-Type", "application/octet-stream");
        if let Some((start, len)) = range {
            req = req.header("Content-Range", format!("{start}-{}", start + len - 1));
        }
        req.body(data.to_vec()).send().await.expect("PATCH")
    }

    pub async fn put_manifest(&self, name: &str, reference: &str, media_type: &str, body: &[u8]) -> Response {
        self.req(Method::PUT, &format!("/v2/{name}/manifests/{reference}"))
            .header("Content-Type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .expect("PUT manifest")
    }

    /// Pushes a manifest that must be accepted; returns its digest.
    pub async fn push_manifest(&self, name: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let r = self.put_manifest(name, reference, media_type, body).await;
        assert_eq!(r.status(), 201, "push manifest {name}:{reference}: {}", text(r).await);
        let digest = sha256(body);
        assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
        digest
    }

    /// Pushes a config and a layer (unique to `seed`) and an OCI manifest
    /// naming them under `reference`; returns the manifest's digest and bytes.
    pub async fn push_image(&self, name: &str, reference: &str, seed: &str) -> (String, Vec<u8>) {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
        let layer = format!("layer bytes of {seed}");
        self.push_blob(name, config.as_bytes()).await;
        self.push_blob(name, layer.as_bytes()).await;
        let body = image_manifest(
            Some(OCI_MANIFEST),
            &Desc::of(OCI_CONFIG, config.as_bytes()),
            &[Desc::of(OCI_LAYER, layer.as_bytes())],
            "",
        );
        (self.push_manifest(name, reference, OCI_MANIFEST, &body).await, body)
    }

    /// The temp directory holding the storage root.
    pub fn tmp(&self) -> &Path {
        self.tmp.as_ref().expect("a filesystem registry").path()
    }

    /// `<root>/docker/registry/v2`.
    pub fn v2(&self) -> PathBuf {
        self.tmp().join("root/docker/registry/v2")
    }

    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').expect("digest");
        self.v2().join(format!("blobs/{alg}/{}/{hex}/data", &hex[..2]))
    }

    pub fn repo_dir(&self, name: &str) -> PathBuf {
        self.v2().join("repositories").join(name)
    }

    /// Every path below the temp directory (directories end in `/`).
    pub fn snapshot(&self) -> BTreeSet<String> {
        walk(self.tmp(), false)
    }

    /// Every regular file below the temp directory.
    pub fn files(&self) -> BTreeSet<String> {
        walk(self.tmp(), true)
    }
}

fn walk(top: &Path, files_only: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut pending = vec![top.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(top).expect("below top").display().to_string();
            if path.is_dir() {
                pending.push(path);
                if !files_only {
                    out.insert(format!("{rel}/"));
                }
            } else {
                out.insert(rel);
            }
        }
    }
    out
}

/// Appends a query parameter to a URL that may already have a query.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

pub fn hdr(r: &Response, name: &str) -> Option<String> {
    r.headers().get(name).map(|v| v.to_str().expect("ASCII header").to_owned())
}

pub async fn text(r: Response) -> String {
    String::from_utf8_lossy(&r.bytes().await.expect("body")).into_owned()
}

pub async fn json(r: Response) -> Value {
    let body = r.bytes().await.expect("body");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
}

/// The `code`s of an OCI error body.
pub fn codes_of(body: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {}", String::from_utf8_lossy(body)));
    let errors = v["errors"].as_array().unwrap_or_else(|| panic!("no errors array: {v}"));
    errors.iter().map(|e| e["code"].as_str().expect("code").to_owned()).collect()
}

/// Asserts the status and the single error code of a response.
pub async fn expect_error(r: Response, status: u16, code: &str) {
    let (method_url, got) = (r.url().to_string(), r.status().as_u16());
    let body = r.bytes().await.expect("body");
    assert_eq!(got, status, "{method_url}: {}", String::from_utf8_lossy(&body));
    assert_eq!(codes_of(&body), [code], "{method_url}");
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

pub fn sha512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(data)))
}

/// The encoded part of a digest.
pub fn hex_of(digest: &str) -> &str {
    digest.split_once(':').expect("digest").1
}

/// A content descriptor.
#[derive(Debug, Clone)]
pub struct Desc {
    pub media_type: String,
    pub digest: String,
    pub size: usize,
}

impl Desc {
    pub fn of(media_type: &str, data: &[u8]) -> Desc {
        Desc { media_type: media_type.into(), digest: sha256(data), size: data.len() }
    }

    /// `{}` as the OCI empty descriptor.
    pub fn empty() -> Desc {
        Desc::of(OCI_EMPTY, b"{}")
    }

    /// As JSON, with odd key order and spacing (served bytes must be these).
    pub fn json(&self) -> String {
        format!(r#"{{ "size" : {}, "digest":"{}",  "mediaType": "{}"}}"#, self.size, self.digest, self.media_type)
    }
}

/// An image manifest with odd whitespace and key order; `extra` is inserted
/// as-is after the standard fields (start it with a comma).
pub fn image_manifest(media_type: Option<&str>, config: &Desc, layers: &[Desc], extra: &str) -> Vec<u8> {
    let layers: Vec<String> = layers.iter().map(Desc::json).collect();
    let mt = media_type.map(|m| format!(",\n \"mediaType\" :\"{m}\"")).unwrap_or_default();
    format!(
        "{{\n\t\"layers\" : [ {} ],\n   \"config\":{},\"schemaVersion\":   2{mt}{extra}\n}}\n",
        layers.join(" ,\n      "),
        config.json()
    )
    .into_bytes()
}

/// An index (or Docker manifest list) in the same style.
pub fn index_manifest(media_type: Option<&str>, manifests: &[Desc], extra: &str) -> Vec<u8> {
    let manifests: Vec<String> = manifests.iter().map(Desc::json).collect();
    let mt = media_type.map(|m| format!("  \"mediaType\":  \"{m}\",\n")).unwrap_or_default();
    format!("{{{mt}\"manifests\":[{}],  \"schemaVersion\" :2{extra}}}", manifests.join(","),).into_bytes()
}
