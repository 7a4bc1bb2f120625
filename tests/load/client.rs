//! An HTTP client that pushes images the ways real clients upload blobs
//! (monolithic POST, POST then PUT, chunked PATCHes) and pulls them back,
//! checking every byte and digest. It records what the server acknowledged
//! and what was in flight, so a test can check both after a crash.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use bytes::Bytes;
use reqwest::{Method, RequestBuilder, Response};
use sha2::Digest as _;

use super::rng::Rng;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Why an operation did not complete.
#[derive(Debug)]
pub enum Fail {
    /// The connection failed: the server is gone.
    Cut(String),
    /// The server answered, but not as it should have.
    Bad(String),
}

pub type Res<T> = Result<T, Fail>;

/// How a blob is uploaded.
#[derive(Debug, Clone, Copy)]
pub enum Upload {
    /// `POST ?digest=` with the bytes.
    Monolithic,
    /// `POST`, then `PUT ?digest=` with the bytes.
    PostPut,
    /// `POST`, `PATCH` chunks with `Content-Range`, `PUT ?digest=`.
    Chunked,
}

impl Upload {
    pub fn pick(rng: &mut Rng) -> Upload {
        [Upload::Monolithic, Upload::PostPut, Upload::Chunked][rng.below(3) as usize]
    }
}

/// An upload session the client started and has not seen complete.
#[derive(Debug, Clone)]
pub struct Pending {
    pub repo: String,
    /// The last Location, from `/v2/` on.
    pub location: String,
    pub data: Bytes,
    pub digest: String,
    /// Bytes the server acknowledged (the last 202's Range).
    pub acked: usize,
    /// Bytes sent, acknowledged or not.
    pub sent: usize,
    /// The completing PUT was sent.
    pub finishing: bool,
}

/// A blob the server acknowledged.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub repo: String,
    pub digest: String,
    pub size: u64,
}

/// A manifest the server acknowledged, with the blobs it references.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub repo: String,
    pub tag: Option<String>,
    pub digest: String,
    pub media_type: &'static str,
    pub body: Bytes,
    pub blobs: Vec<BlobRef>,
    /// For an index: the manifests it lists.
    pub children: Vec<Pushed>,
}

/// What one client was told succeeded, and the upload it had in flight.
#[derive(Debug, Default)]
pub struct Ledger {
    pub blobs: Mutex<Vec<BlobRef>>,
    pub manifests: Mutex<Vec<Pushed>>,
    pub pending: Mutex<Option<Pending>>,
}

impl Ledger {
    fn track(&self, update: impl FnOnce(&mut Option<Pending>)) {
        update(&mut self.pending.lock().expect("ledger"));
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// A layer size: mostly small, some around a megabyte, a few larger than
/// the filesystem driver's 4 MiB write batch.
pub fn layer_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0 => 0,
        1..=70 => rng.between(1, 64 << 10) as usize,
        71..=96 => rng.between(64 << 10, 1 << 20) as usize,
        _ => rng.between(4 << 20, 6 << 20) as usize,
    }
}

/// A client of one server, counting its requests.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    requests: Arc<AtomicU64>,
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

impl Client {
    pub fn new(base: &str) -> Client {
        let http =
            reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Client { http, base: base.to_owned(), requests: Arc::new(AtomicU64::new(0)) }
    }

    /// The same client counting into `requests`.
    pub fn counting(mut self, requests: Arc<AtomicU64>) -> Client {
        self.requests = requests;
        self
    }

    /// A request to a path, or to a Location (rebased on this server, so an
    /// upload URL from before a restart reaches the new process).
    pub fn req(&self, method: Method, target: &str) -> RequestBuilder {
        let path = target.find("/v2/").map_or(target, |at| &target[at..]);
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub async fn send(&self, req: RequestBuilder) -> Res<Response> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        req.send().await.map_err(|e| Fail::Cut(chain(&e)))
    }

    /// Sends, and fails unless the answer has `status`.
    pub async fn expect(&self, req: RequestBuilder, status: u16, what: &str) -> Res<Response> {
        let r = self.send(req).await?;
        if r.status() == status {
            return Ok(r);
        }
        let got = r.status();
        let body = body(r).await?;
        Err(Fail::Bad(format!("{what}: {got}, not {status}: {}", String::from_utf8_lossy(&body))))
    }

    /// Uploads a blob; on success it is in the ledger.
    pub async fn push_blob(
        &self,
        repo: &str,
        data: Bytes,
        how: Upload,
        rng: &mut Rng,
        ledger: &Ledger,
    ) -> Res<BlobRef> {
        let digest = sha256(&data);
        let what = format!("upload of {digest} ({} bytes, {how:?}) to {repo}", data.len());
        let r = match how {
            Upload::Monolithic => {
                let req = self.req(Method::POST, &format!("/v2/{repo}/blobs/uploads/?digest={digest}"));
                self.expect(req.body(data.clone()), 201, &what).await?
            }
            Upload::PostPut | Upload::Chunked => self.session(repo, &digest, data.clone(), how, rng, ledger).await?,
        };
        if header(&r, "docker-content-digest") != digest {
            return Err(Fail::Bad(format!("{what}: Docker-Content-Digest {:?}", header(&r, "docker-content-digest"))));
        }
        let blob = BlobRef { repo: repo.to_owned(), digest, size: data.len() as u64 };
        ledger.blobs.lock().expect("ledger").push(blob.clone());
        Ok(blob)
    }

    /// POST, the chunks, and the completing PUT, tracked in `ledger.pending`.
    async fn session(
        &self,
        repo: &str,
        digest: &str,
        data: Bytes,
        how: Upload,
        rng: &mut Rng,
        ledger: &Ledger,
    ) -> Res<Response> {
        let what = format!("session upload of {digest} to {repo}");
        let r = self.expect(self.req(Method::POST, &format!("/v2/{repo}/blobs/uploads/")), 202, &what).await?;
        let mut location = header(&r, "location");
        let pending = Pending {
            repo: repo.to_owned(),
            location: location.clone(),
            data: data.clone(),
            digest: digest.to_owned(),
            acked: 0,
            sent: 0,
            finishing: false,
        };
        ledger.track(|p| *p = Some(pending));
        let mut offset = 0;
        while matches!(how, Upload::Chunked) && offset < data.len() {
            let end = offset + rng.between(1, (data.len() - offset) as u64 + 1) as usize;
            ledger.track(|p| p.as_mut().expect("pending").sent = end);
            location = self.patch(&location, &data, offset, end, &what).await?;
            ledger.track(|p| {
                let p = p.as_mut().expect("pending");
                (p.acked, p.location) = (end, location.clone());
            });
            offset = end;
        }
        ledger.track(|p| {
            let p = p.as_mut().expect("pending");
            (p.sent, p.finishing) = (data.len(), true);
        });
        let put = self.req(Method::PUT, &format!("{location}&digest={digest}"));
        let put = if offset < data.len() { put.body(data.slice(offset..)) } else { put };
        let r = self.expect(put, 201, &what).await?;
        ledger.track(|p| *p = None);
        Ok(r)
    }

    /// PATCHes `data[start..end]` and checks the Range it gets; returns
    /// the next Location.
    pub async fn patch(&self, location: &str, data: &Bytes, start: usize, end: usize, what: &str) -> Res<String> {
        let req = self
            .req(Method::PATCH, location)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{start}-{}", end - 1))
            .body(data.slice(start..end));
        let r = self.expect(req, 202, &format!("PATCH {start}-{end} of {what}")).await?;
        if header(&r, "range") != format!("0-{}", end - 1) {
            return Err(Fail::Bad(format!("{what}: PATCH to {end} answered Range {}", header(&r, "range"))));
        }
        Ok(header(&r, "location"))
    }

    /// PUTs a manifest by tag, or by digest when `tag` is None.
    pub async fn push_manifest(&self, repo: &str, tag: Option<String>, index: bool, body: Vec<u8>) -> Res<Pushed> {
        let media_type = if index { OCI_INDEX } else { OCI_MANIFEST };
        let digest = sha256(&body);
        let reference = tag.clone().unwrap_or_else(|| digest.clone());
        let req = self
            .req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("Content-Type", media_type)
            .body(body.clone());
        let what = format!("manifest PUT {repo}:{reference}");
        let r = self.expect(req, 201, &what).await?;
        if header(&r, "docker-content-digest") != digest {
            return Err(Fail::Bad(format!("{what}: Docker-Content-Digest {}", header(&r, "docker-content-digest"))));
        }
        let (blobs, children) = (Vec::new(), Vec::new());
        Ok(Pushed { repo: repo.to_owned(), tag, digest, media_type, body: body.into(), blobs, children })
    }

    /// Pushes a config, 1–3 random layers and `shared` (a layer other
    /// images also use, skipped when a HEAD finds it), then the manifest.
    pub async fn push_image(
        &self,
        repo: &str,
        tag: Option<String>,
        shared: Option<&Bytes>,
        rng: &mut Rng,
        ledger: &Ledger,
    ) -> Res<Pushed> {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{}}}", rng.next_u64());
        let how = Upload::pick(rng);
        let mut blobs = vec![self.push_blob(repo, config.into(), how, rng, ledger).await?];
        for _ in 0..rng.between(1, 4) {
            let size = layer_size(rng);
            let data = rng.bytes(size);
            let how = Upload::pick(rng);
            blobs.push(self.push_blob(repo, data.into(), how, rng, ledger).await?);
        }
        if let Some(shared) = shared {
            blobs.push(self.ensure_blob(repo, shared, rng, ledger).await?);
        }
        let mut pushed = self.push_manifest(repo, tag, false, image_manifest(&blobs)).await?;
        pushed.blobs = blobs;
        ledger.manifests.lock().expect("ledger").push(pushed.clone());
        Ok(pushed)
    }

    /// Pushes two images by digest and an index listing them.
    pub async fn push_index(&self, repo: &str, tag: Option<String>, rng: &mut Rng, ledger: &Ledger) -> Res<Pushed> {
        let mut children = Vec::new();
        for _ in 0..2 {
            children.push(self.push_image(repo, None, None, rng, ledger).await?);
        }
        let mut pushed = self.push_manifest(repo, tag, true, index_manifest(&children)).await?;
        pushed.children = children;
        ledger.manifests.lock().expect("ledger").push(pushed.clone());
        Ok(pushed)
    }

    /// A blob by HEAD, as docker checks before uploading; uploaded if absent.
    async fn ensure_blob(&self, repo: &str, data: &Bytes, rng: &mut Rng, ledger: &Ledger) -> Res<BlobRef> {
        let digest = sha256(data);
        let r = self.send(self.req(Method::HEAD, &format!("/v2/{repo}/blobs/{digest}"))).await?;
        match r.status().as_u16() {
            200 if header(&r, "content-length") == data.len().to_string() => {
                Ok(BlobRef { repo: repo.to_owned(), digest, size: data.len() as u64 })
            }
            404 => {
                let how = Upload::pick(rng);
                self.push_blob(repo, data.clone(), how, rng, ledger).await
            }
            _ => Err(Fail::Bad(format!("HEAD {repo} {digest}: {} {r:?}", r.status()))),
        }
    }

    /// GETs a manifest by digest (and by tag, if it has one) and everything
    /// it references, checking bytes, digests and media types.
    pub async fn verify(&self, pushed: &Pushed) -> Res<()> {
        let mut references = vec![pushed.digest.clone()];
        references.extend(pushed.tag.clone());
        for reference in references {
            let what = format!("GET manifest {}:{reference}", pushed.repo);
            let req = self.req(Method::GET, &format!("/v2/{}/manifests/{reference}", pushed.repo));
            let r = self.expect(req.header("Accept", pushed.media_type), 200, &what).await?;
            let (digest, media_type) = (header(&r, "docker-content-digest"), header(&r, "content-type"));
            let got = body(r).await?;
            if got != pushed.body || digest != pushed.digest || media_type != pushed.media_type {
                return Err(Fail::Bad(format!("{what}: {digest} {media_type} {} bytes", got.len())));
            }
        }
        for blob in &pushed.blobs {
            self.verify_blob(blob).await?;
        }
        for child in &pushed.children {
            Box::pin(self.verify(child)).await?;
        }
        Ok(())
    }

    /// GETs a blob: its bytes must hash to its digest, and be all there.
    pub async fn verify_blob(&self, blob: &BlobRef) -> Res<()> {
        let what = format!("GET blob {} {}", blob.repo, blob.digest);
        let r =
            self.expect(self.req(Method::GET, &format!("/v2/{}/blobs/{}", blob.repo, blob.digest)), 200, &what).await?;
        let header_digest = header(&r, "docker-content-digest");
        let got = body(r).await?;
        if sha256(&got) != blob.digest || got.len() as u64 != blob.size || header_digest != blob.digest {
            let hash = sha256(&got);
            return Err(Fail::Bad(format!("{what}: {} bytes hashing to {hash}, header {header_digest}", got.len())));
        }
        Ok(())
    }

    /// DELETE of a manifest by tag or digest, then a GET that must find nothing.
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Res<()> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        self.expect(self.req(Method::DELETE, &path), 202, &format!("DELETE {repo}:{reference}")).await?;
        let r =
            self.send(self.req(Method::GET, &path).header("Accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))).await?;
        expect_code(r, 404, "MANIFEST_UNKNOWN", &format!("GET after DELETE {repo}:{reference}")).await
    }
}

/// Fails unless the answer is an OCI error with this status and code.
pub async fn expect_code(r: Response, status: u16, code: &str, what: &str) -> Res<()> {
    let got = r.status().as_u16();
    let text = String::from_utf8_lossy(&body(r).await?).into_owned();
    if got != status || !text.contains(&format!("\"code\":\"{code}\"")) {
        return Err(Fail::Bad(format!("{what}: {got} {text}, not {status} {code}")));
    }
    Ok(())
}

/// A response header, or "" when absent.
pub fn header(r: &Response, name: &str) -> String {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

pub async fn body(r: Response) -> Res<Bytes> {
    r.bytes().await.map_err(|e| Fail::Cut(chain(&e)))
}

fn descriptor(media_type: &str, digest: &str, size: u64) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
}

/// An image manifest: the first blob is the config, the rest are layers.
fn image_manifest(blobs: &[BlobRef]) -> Vec<u8> {
    let layers: Vec<String> = blobs[1..].iter().map(|b| descriptor(OCI_LAYER, &b.digest, b.size)).collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{},"layers":[{}]}}"#,
        descriptor(OCI_CONFIG, &blobs[0].digest, blobs[0].size),
        layers.join(",")
    )
    .into_bytes()
}

fn index_manifest(children: &[Pushed]) -> Vec<u8> {
    let listed: Vec<String> =
        children.iter().map(|c| descriptor(c.media_type, &c.digest, c.body.len() as u64)).collect();
    format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#, listed.join(",")).into_bytes()
}
