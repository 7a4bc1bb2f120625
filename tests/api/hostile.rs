//! The hostile-input matrix (issue 7): requests no honest client sends,
//! each a row of (method, raw request target, headers, body, expected status,
//! expected OCI code). Requests go over a raw TcpStream, so `..`, `%2e%2e`
//! and `//` reach berth as written, and bodies can be shorter or longer than
//! their `Content-Length`.
//!
//! After every row: nothing was stored, changed or removed (every path, and
//! every file's bytes, in the temp directory are as before), no answer
//! carries the canary planted beside the storage root (a file and a whole
//! fake registry tree with a tagged image), and the server still answers
//! `GET /v2/` (a panic would drop the connection or answer 500).

use std::{collections::BTreeMap, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{common::*, token_issuer::TokenIssuer};

/// Bytes planted outside the storage root; no answer may contain them.
const CANARY: &[u8] = b"CANARY 7f3a: bytes outside the storage root";

/// An answer read off the wire; status 0 when the server hung up without
/// answering.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn codes(&self) -> Vec<String> {
        codes_of(&self.body)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// How the request's body is sent.
#[derive(Clone, Copy, PartialEq)]
enum Send {
    /// With its `Content-Length` (unless the row's headers set one).
    Whole,
    /// Then the write half is shut: a body shorter than declared ends there.
    HalfClose,
}

/// One hostile request and what berth must answer.
struct Row {
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    send: Send,
    status: u16,
    /// `None` where no OCI body can come: HEAD, or hyper refusing the
    /// framing before any handler runs.
    code: Option<&'static str>,
}

fn row(method: &'static str, target: impl Into<String>, status: u16, code: Option<&'static str>) -> Row {
    Row { method, target: target.into(), headers: Vec::new(), body: Vec::new(), send: Send::Whole, status, code }
}

impl Row {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Row {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Row {
        self.body = body.into();
        self
    }

    fn half_close(mut self) -> Row {
        self.send = Send::HalfClose;
        self
    }
}

/// A registry with a canary beside its root.
struct Hostile {
    reg: Registry,
    addr: String,
    /// The `Authorization` of the liveness check, when auth is on.
    alive_auth: Option<String>,
}

impl Hostile {
    async fn new() -> Hostile {
        Hostile::with(start().await)
    }

    fn with(reg: Registry) -> Hostile {
        plant_canary(reg.tmp());
        let addr = reg.base.strip_prefix("http://").expect("http base").to_owned();
        Hostile { reg, addr, alive_auth: None }
    }

    /// Writes one request as given and reads until the server closes.
    async fn send(&self, r: &Row) -> Answer {
        let mut head = format!("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", r.method, r.target, self.addr);
        let sets_length =
            r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length") || k.starts_with("Transfer"));
        if !sets_length {
            head.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
        }
        for (k, v) in &r.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut s = tokio::net::TcpStream::connect(&self.addr).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("write head");
        // The server may answer (and close) before the whole body is read.
        let _ = s.write_all(&r.body).await;
        if r.send == Send::HalfClose {
            let _ = s.shutdown().await;
        }
        read_answer(&mut s).await
    }

    /// Runs each row and checks its answer and that nothing changed.
    async fn check(&self, rows: &[Row]) {
        for r in rows {
            let mut what = format!("{} {} {:?}", r.method, r.target, r.headers);
            what.truncate(300);
            let tail = &r.body[r.body.len().saturating_sub(100)..];
            what.push_str(&format!(" body of {} bytes ending {:?}", r.body.len(), String::from_utf8_lossy(tail)));
            let before = contents(self.reg.tmp());
            let a = self.send(r).await;
            let body = String::from_utf8_lossy(&a.body);
            assert_eq!(a.status, r.status, "{what}: {body}");
            if let Some(code) = r.code {
                assert_eq!(a.codes(), [code], "{what}");
            }
            assert!(!contains(&a.body, CANARY) && !a.head.contains("CANARY"), "{what}: the canary leaked");
            let after = contents(self.reg.tmp());
            let changed: Vec<_> = after.iter().filter(|(path, data)| before.get(*path) != Some(data)).collect();
            let removed: Vec<_> = before.keys().filter(|path| !after.contains_key(*path)).collect();
            assert!(changed.is_empty() && removed.is_empty(), "{what}: stored {changed:?}, removed {removed:?}");
            self.assert_alive(&what).await;
        }
    }

    /// `GET /v2/` still answers: no handler panicked the server down.
    async fn assert_alive(&self, after: &str) {
        let mut alive = row("GET", "/v2/", 200, None);
        alive.headers.extend(self.alive_auth.iter().map(|a| ("Authorization", a.clone())));
        let a = self.send(&alive).await;
        assert_eq!((a.status, a.body.as_slice()), (200, &b"{}"[..]), "GET /v2/ after {after}");
    }
}

/// A canary file and a fake registry tree (tagged manifest `evil:latest`,
/// its blob) beside the root, where a traversal would land.
fn plant_canary(tmp: &std::path::Path) {
    let digest = sha256(CANARY);
    let hex = hex_of(&digest);
    let v2 = tmp.join("canary/docker/registry/v2");
    let repo = v2.join("repositories/evil");
    for (path, bytes) in [
        (v2.join(format!("blobs/sha256/{}/{hex}/data", &hex[..2])), CANARY),
        (repo.join(format!("_layers/sha256/{hex}/link")), digest.as_bytes()),
        (repo.join(format!("_manifests/revisions/sha256/{hex}/link")), digest.as_bytes()),
        (repo.join("_manifests/tags/latest/current/link"), digest.as_bytes()),
        (tmp.join("canary.txt"), CANARY),
    ] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Every path below `top` (directories end in `/`) with, for files, the
/// digest of their bytes: a link that moved shows as well as a new file.
fn contents(top: &std::path::Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![top.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(top).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(format!("{rel}/"), String::new());
                pending.push(path);
            } else {
                out.insert(rel, sha256(&std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn read_answer(s: &mut tokio::net::TcpStream) -> Answer {
    let mut buf = Vec::new();
    // A reset after the answer (unread body bytes) is not a failure.
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 16384];
        while let Ok(n) = s.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    });
    read.await.expect("the server answers or hangs up within 5 s");
    parse_answer(&buf)
}

/// The first HTTP answer in `buf`, its body de-chunked.
fn parse_answer(buf: &[u8]) -> Answer {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Answer { status: 0, head: String::from_utf8_lossy(buf).into_owned(), body: Vec::new() };
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut a = Answer { status, head, body: Vec::new() };
    let rest = &buf[end + 4..];
    a.body = match a.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(n) => rest[..n.min(rest.len())].to_vec(),
        None if a.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) => dechunk(rest),
        None => rest.to_vec(),
    };
    a
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let data = &rest[eol + 2..];
        out.extend_from_slice(&data[..size.min(data.len())]);
        rest = &data[(size + 2).min(data.len())..];
    }
    out
}

/// The request target of a `Location` the server returned.
fn target_of(reg: &Registry, location: &str) -> String {
    location.strip_prefix(&reg.base).expect("absolute Location").to_owned()
}

/// `..`, `//`, `%2e%2e`, absolute paths, upper case, over-long names: all
/// NAME_INVALID before anything touches storage, the canary's fake tree
/// included.
#[tokio::test]
async fn hostile_repository_names() {
    let h = Hostile::new().await;
    let digest = h.reg.push_blob("ok", b"existing").await;
    let to_canary = "../../../../../canary/docker/registry/v2/repositories/evil";
    let bad = |target: String| row("GET", target, 400, Some("NAME_INVALID"));
    let mut rows = vec![
        bad(format!("/v2/{to_canary}/manifests/latest")),
        bad(format!("/v2/{to_canary}/tags/list")),
        bad(format!("/v2/{}/manifests/latest", to_canary.replace('/', "%2F"))),
        bad(format!("/v2/{}/blobs/{digest}", to_canary.replace("..", "%2e%2e"))),
        bad(format!("/v2/{}/tags/list", to_canary.replace("..", "%252e%252e"))),
        bad("/v2//canary/tags/list".into()),
        bad("/v2//etc/passwd/manifests/latest".into()),
        bad("/v2/a//b/tags/list".into()),
        bad("/v2/a/./b/tags/list".into()),
        bad("/v2/a/%2e/b/tags/list".into()),
        bad("/v2/_catalog/../evil/tags/list".into()),
        bad("/v2/Evil/tags/list".into()),
        bad("/v2/evil/Sub/manifests/latest".into()),
        bad("/v2/a%00b/tags/list".into()),
        bad("/v2/a%0a/tags/list".into()),
        bad(format!("/v2/{}/tags/list", "a".repeat(256))),
        bad(format!("/v2/{}/tags/list", ["abc"; 65].join("/"))),
        bad(format!("http://{}/v2/{to_canary}/tags/list", h.addr)),
        row("PUT", format!("/v2/{to_canary}/manifests/latest"), 400, Some("NAME_INVALID")).body(b"{}".to_vec()),
        row("DELETE", format!("/v2/{to_canary}/blobs/{digest}"), 400, Some("NAME_INVALID")),
        row("POST", format!("/v2/{to_canary}/blobs/uploads/"), 400, Some("NAME_INVALID")),
        row("POST", format!("/v2/ok/blobs/uploads/?mount={digest}&from={to_canary}"), 400, Some("NAME_INVALID")),
        row("POST", format!("/v2/ok/blobs/uploads/?mount={digest}&from=%2Fetc"), 400, Some("NAME_INVALID")),
        row("DELETE", format!("/v2/_berth/repositories/{to_canary}"), 400, Some("NAME_INVALID")),
        // Not API paths at all.
        row("GET", "//v2/evil/tags/list", 404, None),
        row("GET", "/v2/../canary.txt", 404, None),
        row("GET", "/../canary.txt", 404, None),
        // Refused by the HTTP parser before routing.
        row("GET", format!("/v2/{}/tags/list", "a".repeat(100_000)), 414, None),
        row("GET", "/v2/a\\..\\..\\canary/tags/list", 400, None),
        row("GET", "/v2/a b/tags/list", 400, None),
    ];
    // An upload id that walks out of `_uploads`.
    for id in ["..%2F..%2F..%2F..%2F..%2Fcanary", "..", "%2e%2e"] {
        rows.push(row("PATCH", format!("/v2/ok/blobs/uploads/{id}?_state=x"), 404, Some("BLOB_UPLOAD_INVALID")));
    }
    h.check(&rows).await;
    h.reg.stop().await;
}

/// The tag-lifecycle routes: traversal in names and tags, bodies that are
/// not a move, moves at manifests that are not there or lie beside the root.
#[tokio::test]
async fn hostile_tag_moves_and_history() {
    let h = Hostile::new().await;
    let (digest, _) = h.reg.push_image("ok", "t", "hostile-moves").await;
    let to_canary = "../../../../../canary/docker/registry/v2/repositories/evil";
    let canary_digest = sha256(CANARY);
    let post = |target: String, body: String, status, code| row("POST", target, status, Some(code)).body(body);
    let set = |tag: &str, d: &str| format!(r#"{{"via":"copy","set":{{"{tag}":"{d}"}}}}"#);
    let rows = vec![
        post(format!("/v2/_berth/tags/{to_canary}"), set("x", &digest), 400, "NAME_INVALID"),
        post(format!("/v2/_berth/tags/{}", to_canary.replace("..", "%2e%2e")), set("x", &digest), 400, "NAME_INVALID"),
        post("/v2/_berth/tags/ok".into(), set("../../evil", &digest), 400, "TAG_INVALID"),
        post("/v2/_berth/tags/ok".into(), set("x/../../t", &digest), 400, "TAG_INVALID"),
        post("/v2/_berth/tags/ok".into(), set(&"x".repeat(129), &digest), 400, "TAG_INVALID"),
        post("/v2/_berth/tags/ok".into(), set("x", "sha256:../../../../canary"), 400, "DIGEST_INVALID"),
        post("/v2/_berth/tags/ok".into(), set("x", &canary_digest), 404, "MANIFEST_UNKNOWN"),
        post("/v2/_berth/tags/evil".into(), set("x", &canary_digest), 404, "NAME_UNKNOWN"),
        post("/v2/_berth/tags/ok".into(), nested(10_000), 400, "BAD_REQUEST"),
        post("/v2/_berth/tags/ok".into(), String::new(), 400, "BAD_REQUEST"),
        post("/v2/_berth/tags/ok".into(), "\u{0}\u{ff}".into(), 400, "BAD_REQUEST"),
        post(
            "/v2/_berth/tags/ok".into(),
            format!(r#"{{"via":"copy","set":{{"x":"{digest}"}},"via":7}}"#),
            400,
            "BAD_REQUEST",
        ),
        post(
            "/v2/_berth/tags/ok".into(),
            format!(r#"{{"via":"copy","set":{{"x":"{digest}"}},"expect":[]}}"#),
            400,
            "BAD_REQUEST",
        ),
        row("POST", "/v2/_berth/tags/ok", 400, Some("BAD_REQUEST")).body(vec![b' '; 2 * 1024 * 1024]),
        row("GET", format!("/v2/_berth/history/{to_canary}/latest"), 400, Some("NAME_INVALID")),
        row("GET", "/v2/_berth/history/evil/latest", 404, Some("MANIFEST_UNKNOWN")),
        row("GET", "/v2/_berth/history/ok/..", 400, Some("TAG_INVALID")),
        row("GET", "/v2/_berth/history/ok/%2e%2e", 400, Some("TAG_INVALID")),
        row("GET", "/v2/_berth/history/ok/%2F", 400, Some("TAG_INVALID")),
        row("DELETE", "/v2/_berth/history/ok/t", 405, Some("UNSUPPORTED")),
    ];
    h.check(&rows).await;
    h.reg.stop().await;
}

/// Malformed tags and digests, unknown algorithms, in every place a
/// reference or digest goes.
#[tokio::test]
async fn hostile_references_and_digests() {
    let h = Hostile::new().await;
    let (_, manifest) = h.reg.push_image("ok", "v1", "refs").await;
    let blob = h.reg.push_blob("ok", b"a blob").await;
    let location = target_of(&h.reg, &h.reg.start_upload("ok").await);
    let hex = hex_of(&blob).to_owned();
    let tags = ["-bad", ".hidden", "a%2Fb", "latest%00", "v1%0a", "..", &"t".repeat(129)];
    let digests = [
        format!("sha256:{}", &hex[..63]),
        format!("sha256:{hex}0"),
        format!("sha256:{}", hex.to_uppercase()),
        format!("SHA256:{hex}"),
        format!("sha384:{}", "a".repeat(96)),
        format!("md5:{}", &hex[..32]),
        format!("sha256+b64:{hex}"),
        format!("sha512:{hex}"),
        format!(":{hex}"),
        "sha256:".into(),
        "sha256:..%2F..%2F..%2F..%2Fcanary.txt".into(),
        format!("sha256:{}%00", &hex[..63]),
        "latest".into(),
    ];
    let mut rows = Vec::new();
    for tag in tags {
        for method in ["GET", "PUT", "DELETE"] {
            let r = row(method, format!("/v2/ok/manifests/{tag}"), 400, Some("TAG_INVALID"));
            rows.push(r.header("Content-Type", OCI_MANIFEST).body(manifest.clone()));
        }
        rows.push(row("HEAD", format!("/v2/ok/manifests/{tag}"), 400, None));
    }
    for d in &digests {
        let invalid = |method, target: String| row(method, target, 400, Some("DIGEST_INVALID"));
        if d != "latest" {
            for method in ["GET", "PUT", "DELETE"] {
                let r = invalid(method, format!("/v2/ok/manifests/{d}"));
                rows.push(r.header("Content-Type", OCI_MANIFEST).body(manifest.clone()));
            }
        }
        rows.extend([
            invalid("GET", format!("/v2/ok/blobs/{d}")),
            invalid("DELETE", format!("/v2/ok/blobs/{d}")),
            row("HEAD", format!("/v2/ok/blobs/{d}"), 400, None),
            invalid("GET", format!("/v2/ok/referrers/{d}")),
            invalid("POST", format!("/v2/ok/blobs/uploads/?digest={d}")).body(b"a blob".to_vec()),
            invalid("POST", format!("/v2/other/blobs/uploads/?mount={d}&from=ok")),
            // The session survives a bad digest on its PUT.
            invalid("PUT", with_param(&location, "digest", d)).body(b"a blob".to_vec()),
        ]);
    }
    h.check(&rows).await;
    let r = h.reg.get(&location).await;
    assert_eq!((r.status().as_u16(), hdr(&r, "range").as_deref()), (204, Some("0-0")));
    h.reg.stop().await;
}

/// `Content-Range` that goes backwards, overlaps, skips ahead, overflows or
/// lies about the length, and bodies that end before their
/// `Content-Length`: nothing is appended, and the session still completes.
#[tokio::test]
async fn hostile_content_ranges_and_short_bodies() {
    let h = Hostile::new().await;
    let location = h.reg.start_upload("up").await;
    let r = h.reg.patch(&location, b"0123", Some((0, 4))).await;
    assert_eq!(r.status(), 202);
    let session = target_of(&h.reg, &hdr(&r, "location").unwrap());
    let patch = |range: &str, body: &[u8], status, code| {
        row("PATCH", session.clone(), status, code).header("Content-Range", range).body(body.to_vec())
    };
    let range = |range: &str| patch(range, b"4567", 416, Some("RANGE_INVALID"));
    let max = u64::MAX;
    let rows = vec![
        range("7-4"),
        range("0-3"),
        range("2-5"),
        range("8-11"),
        range("4-3"),
        range("-4-7"),
        range("4 - 7"),
        range("0x4-0x7"),
        range("4-7,8-9"),
        range(""),
        range("bytes 4-7/2"),
        patch(&format!("4-{max}"), b"4567", 400, Some("SIZE_INVALID")),
        range(&format!("0-{max}")),
        patch(&format!("{max}-{max}"), b"4", 416, Some("RANGE_INVALID")),
        range("4-99999999999999999999"),
        // Content-Range and Content-Length disagree.
        patch("4-7", b"45", 400, Some("SIZE_INVALID")),
        patch("4-5", b"4567", 400, Some("SIZE_INVALID")),
        // A chunked body longer or shorter than the range says.
        patch("4-7", b"2\r\n45\r\n0\r\n\r\n", 400, Some("SIZE_INVALID")).header("Transfer-Encoding", "chunked"),
        patch("4-5", b"4\r\n4567\r\n0\r\n\r\n", 400, Some("SIZE_INVALID")).header("Transfer-Encoding", "chunked"),
        // The body ends before its Content-Length.
        patch("4-7", b"45", 404, Some("BLOB_UPLOAD_INVALID")).header("Content-Length", "4").half_close(),
        row("PATCH", session.clone(), 404, Some("BLOB_UPLOAD_INVALID"))
            .header("Content-Length", "4")
            .body(b"45".to_vec())
            .half_close(),
        // Framing the HTTP parser refuses.
        patch("4-7", b"4567", 400, None).header("Content-Length", "abc"),
        patch("4-7", b"4567", 400, None).header("Content-Length", "-4"),
        patch("4-7", b"4567", 400, None).header("Content-Length", "4").header("Content-Length", "5"),
    ];
    h.check(&rows).await;
    // The session took none of it: the next chunk and the PUT complete it.
    let r = h.reg.patch(&h.reg.url(&session), b"4567", Some((4, 4))).await;
    assert_eq!((r.status().as_u16(), hdr(&r, "range").as_deref()), (202, Some("0-7")));
    let digest = sha256(b"01234567");
    let r = h.reg.send(reqwest::Method::PUT, &with_param(&hdr(&r, "location").unwrap(), "digest", &digest)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(std::fs::read(h.reg.blob_data(&digest)).unwrap(), b"01234567");
    h.reg.stop().await;
}

/// Monolithic uploads, last chunks and manifests whose bodies end early,
/// run past `Content-Length`, or whose lengths disagree.
#[tokio::test]
async fn hostile_body_lengths() {
    let h = Hostile::new().await;
    let (_, manifest) = h.reg.push_image("ok", "v1", "lengths").await;
    // A session holding bytes already: a cut last chunk must leave them.
    let r = h.reg.patch(&h.reg.start_upload("ok").await, b"01", Some((0, 2))).await;
    let session = target_of(&h.reg, &hdr(&r, "location").unwrap());
    let data = b"0123456789";
    let digest = sha256(data);
    let post = |status, code| row("POST", format!("/v2/ok/blobs/uploads/?digest={digest}"), status, code);
    let put = |status, code| row("PUT", with_param(&session, "digest", &digest), status, code);
    let manifest_put =
        |status, code| row("PUT", "/v2/ok/manifests/v2", status, code).header("Content-Type", OCI_MANIFEST);
    let length = |n: usize| n.to_string();
    let rows = vec![
        // Shorter than declared, then the client stops sending.
        post(404, Some("BLOB_UPLOAD_INVALID")).header("Content-Length", length(10)).body(&data[..6]).half_close(),
        put(404, Some("BLOB_UPLOAD_INVALID")).header("Content-Length", length(10)).body(&data[..6]).half_close(),
        manifest_put(400, Some("MANIFEST_INVALID"))
            .header("Content-Length", length(manifest.len()))
            .body(&manifest[..manifest.len() / 2])
            .half_close(),
        // Longer than declared: only the declared bytes are the body.
        post(400, Some("DIGEST_INVALID")).header("Content-Length", length(6)).body(data.to_vec()),
        manifest_put(400, Some("MANIFEST_INVALID"))
            .header("Content-Length", length(manifest.len() - 2))
            .body(manifest.clone()),
        // Content-Range and Content-Length disagree, or the range does not
        // start a blob.
        post(400, Some("SIZE_INVALID")).header("Content-Range", "0-3").body(data.to_vec()),
        post(416, Some("RANGE_INVALID")).header("Content-Range", "4-13").body(data.to_vec()),
        post(400, Some("SIZE_INVALID"))
            .header("Content-Range", "0-9")
            .header("Transfer-Encoding", "chunked")
            .body(b"4\r\n0123\r\n0\r\n\r\n".to_vec()),
        // Declared too large for a manifest: refused before reading.
        manifest_put(413, Some("MANIFEST_INVALID"))
            .header("Content-Length", length(4 * 1024 * 1024 + 1))
            .body(manifest.clone())
            .half_close(),
    ];
    h.check(&rows).await;
    let r = h.reg.get(&session).await;
    assert_eq!((r.status().as_u16(), hdr(&r, "range").as_deref()), (204, Some("0-1")), "the session is intact");
    h.reg.stop().await;
}

/// Bytes past `Content-Length` on a kept-alive connection are the next
/// request, never part of the chunk or blob: the chunk holds exactly the
/// declared bytes and the garbage gets the parser's 400.
#[tokio::test]
async fn bytes_past_content_length_do_not_join_the_upload() {
    let h = Hostile::new().await;
    let location = h.reg.start_upload("up").await;
    let r = h.reg.patch(&location, b"0123", Some((0, 4))).await;
    let session = target_of(&h.reg, &hdr(&r, "location").unwrap());
    let id = hdr(&r, "docker-upload-uuid").unwrap();
    let mono = sha256(b"abcd");
    for (target, body, range) in
        [(session.clone(), "4567", Some("4-7")), (format!("/v2/up/blobs/uploads/?digest={mono}"), "abcd", None)]
    {
        let method = if range.is_some() { "PATCH" } else { "POST" };
        let range = range.map(|r| format!("Content-Range: {r}\r\n")).unwrap_or_default();
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\n{range}Content-Length: 4\r\n\r\n{body}\x00\x01 efgh not http\r\n\r\n",
            h.addr
        );
        let mut s = tokio::net::TcpStream::connect(&h.addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
        let mut answers = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answers)).await;
        let answers = String::from_utf8_lossy(&answers);
        let statuses: Vec<&str> = answers.match_indices("HTTP/1.1 ").map(|(i, _)| &answers[i + 9..i + 12]).collect();
        let first = if method == "PATCH" { "202" } else { "201" };
        assert_eq!(statuses, [first, "400"], "{method}: {answers}");
        h.assert_alive(method).await;
    }
    let data = std::fs::read(h.reg.repo_dir("up").join(format!("_uploads/{id}/data"))).unwrap();
    assert_eq!(data, b"01234567");
    assert_eq!(std::fs::read(h.reg.blob_data(&mono)).unwrap(), b"abcd");
    for tail in [&b"abcd\x00\x01 efgh not http\r\n\r\n"[..], b"abcd\x00\x01 efgh", b"4567\x00"] {
        assert!(!h.reg.blob_data(&sha256(tail)).exists());
    }
    h.reg.stop().await;
}

/// A config and a layer in `name`, as descriptors.
async fn image_blobs(reg: &Registry, name: &str, seed: &str) -> (Desc, Desc) {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
    let layer = format!("layer of {seed}");
    reg.push_blob(name, config.as_bytes()).await;
    reg.push_blob(name, layer.as_bytes()).await;
    (Desc::of(OCI_CONFIG, config.as_bytes()), Desc::of(OCI_LAYER, layer.as_bytes()))
}

/// `depth` arrays inside each other.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Manifests that are not JSON, too deep, too large, malformed in their
/// fields, or that reference what the repository does not hold: another
/// repository's blob, a manifest where a blob belongs and the reverse, a
/// child not pushed yet, the canary's blob.
#[tokio::test]
async fn hostile_manifests() {
    let h = Hostile::new().await;
    let (config, layer) = image_blobs(&h.reg, "ok", "m").await;
    let (pushed, _) = h.reg.push_image("ok", "v1", "pushed").await;
    let elsewhere = b"a layer only in another repository";
    h.reg.push_blob("other", elsewhere).await;
    let image = |config: &Desc, layers: &[Desc], extra: &str| image_manifest(Some(OCI_MANIFEST), config, layers, extra);
    let valid_with = |extra: &str| image(&config, std::slice::from_ref(&layer), extra);
    let valid = valid_with("");
    let text = String::from_utf8(valid.clone()).unwrap();
    let with_size = |size: &str| text.replacen(&format!("\"size\" : {}", layer.size), &format!("\"size\" : {size}"), 1);
    let index = |children: &[Desc]| index_manifest(Some(OCI_INDEX), children, "");
    let as_manifest = |d: &Desc| Desc { media_type: OCI_MANIFEST.into(), ..d.clone() };
    let canary = Desc { media_type: OCI_LAYER.into(), digest: sha256(CANARY), size: CANARY.len() };
    let not_pushed = valid_with(r#", "annotations": {"never": "pushed"}"#);
    let subject =
        |digest: &str| format!(r#", "subject": {{"mediaType": "{OCI_MANIFEST}", "digest": "{digest}", "size": 1}}"#);
    let many_keys: String = (0..100_000).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",");
    let mut deep_index = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":"#);
    for _ in 0..1000 {
        deep_index.push_str(r#"[{"mediaType":"x","manifests":"#);
    }
    deep_index.push_str(&"[]}]".repeat(1000));
    deep_index.push('}');
    let long_type = "x".repeat(10_000);
    let invalid: Vec<(&str, Vec<u8>)> = vec![
        (OCI_MANIFEST, vec![0xff, 0xfe, 0x00, 0x01, 0x80]),
        (OCI_MANIFEST, [&b"\xef\xbb\xbf"[..], &valid].concat()),
        (OCI_MANIFEST, [&valid[..], b"x"].concat()),
        (OCI_MANIFEST, [&valid[..], b"{}"].concat()),
        (OCI_MANIFEST, valid[..valid.len() / 2].to_vec()),
        (OCI_MANIFEST, valid_with(&format!(", \"x\": {}", nested(1000)))),
        (OCI_MANIFEST, valid_with(&format!(", \"x\": {}", nested(100_000)))),
        (OCI_INDEX, deep_index.into_bytes()),
        (OCI_MANIFEST, format!("{{{many_keys}}}").into_bytes()),
        (OCI_MANIFEST, valid_with(r#", "annotations": {"a": 1}"#)),
        (OCI_MANIFEST, valid_with(r#", "annotations": {"a": {"b": "c"}}"#)),
        (OCI_MANIFEST, valid_with(&subject("v1"))),
        (OCI_MANIFEST, valid_with(&subject(&format!("sha384:{}", "a".repeat(96))))),
        (OCI_MANIFEST, with_size("-1").into_bytes()),
        (OCI_MANIFEST, with_size("1.5").into_bytes()),
        (OCI_MANIFEST, with_size("1e400").into_bytes()),
        (OCI_MANIFEST, with_size("NaN").into_bytes()),
        (OCI_MANIFEST, with_size("\"12\"").into_bytes()),
        (OCI_MANIFEST, with_size("18446744073709551616").into_bytes()),
        (OCI_MANIFEST, with_size(&(layer.size + 1).to_string()).into_bytes()),
        (&long_type, valid.clone()),
    ];
    let unknown: Vec<(&str, Vec<u8>)> = vec![
        (OCI_MANIFEST, image(&Desc::of(OCI_CONFIG, elsewhere), std::slice::from_ref(&layer), "")),
        (OCI_MANIFEST, image(&config, &[Desc::of(OCI_LAYER, elsewhere)], "")),
        (OCI_MANIFEST, image(&config, &[Desc { media_type: OCI_LAYER.into(), ..pushed_desc(&h, &pushed).await }], "")),
        (OCI_MANIFEST, image(&config, std::slice::from_ref(&canary), "")),
        (OCI_INDEX, index(&[as_manifest(&layer)])),
        (OCI_INDEX, index(&[Desc::of(OCI_MANIFEST, &not_pushed)])),
        (OCI_INDEX, index(&[as_manifest(&canary)])),
        // Duplicate keys: the last one counts, as in Go (distribution).
        (OCI_MANIFEST, valid_with(&format!(r#", "layers": [{}]"#, canary.json()))),
    ];
    let mut rows = Vec::new();
    for (content_type, body) in invalid {
        let r = row("PUT", "/v2/ok/manifests/t", 400, Some("MANIFEST_INVALID"));
        rows.push(r.header("Content-Type", content_type).body(body));
    }
    for (content_type, body) in unknown {
        for target in ["/v2/ok/manifests/t".to_owned(), format!("/v2/ok/manifests/{}", sha256(&body))] {
            let r = row("PUT", target, 400, Some("MANIFEST_BLOB_UNKNOWN"));
            rows.push(r.header("Content-Type", content_type).body(body.clone()));
        }
    }
    // Too large, declared or streamed.
    let large = [&valid[..], &vec![b' '; 4 * 1024 * 1024]].concat();
    rows.push(
        row("PUT", "/v2/ok/manifests/t", 413, Some("MANIFEST_INVALID"))
            .header("Content-Type", OCI_MANIFEST)
            .body(large.clone()),
    );
    let chunked = [format!("{:x}\r\n", large.len()).as_bytes(), &large, b"\r\n0\r\n\r\n"].concat();
    let r = row("PUT", "/v2/ok/manifests/t", 413, Some("MANIFEST_INVALID")).header("Transfer-Encoding", "chunked");
    rows.push(r.header("Content-Type", OCI_MANIFEST).body(chunked));
    h.check(&rows).await;
    expect_error(h.reg.get("/v2/ok/manifests/t").await, 404, "MANIFEST_UNKNOWN").await;
    h.reg.stop().await;
}

/// The descriptor of a manifest pushed to `ok`.
async fn pushed_desc(h: &Hostile, digest: &str) -> Desc {
    let body = h.reg.get(&format!("/v2/ok/manifests/{digest}")).await.bytes().await.unwrap();
    Desc::of(OCI_MANIFEST, &body)
}

/// A manifest with a key twice, or with a field of a shape berth's
/// validation ignores, means the same to every reader: validation, the
/// served Content-Type and garbage collection (which must not take blobs
/// the stored manifest references).
#[tokio::test]
async fn duplicate_keys_and_odd_fields_mean_the_same_to_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, _) = start_on(&dir).await;
    let (config, layer) = image_blobs(&reg, "dup", "twice").await;
    let (odd_config, odd_layer) = image_blobs(&reg, "dup", "odd").await;
    let missing = Desc::of(OCI_LAYER, b"never pushed");
    let twice = image_manifest(Some(OCI_MANIFEST), &config, &[missing], &format!(r#", "layers": [{}]"#, layer.json()));
    let odd = image_manifest(Some(OCI_MANIFEST), &odd_config, std::slice::from_ref(&odd_layer), r#", "fsLayers": 1"#);
    reg.push_manifest("dup", "twice", OCI_MANIFEST, &twice).await;
    reg.push_manifest("dup", "odd", OCI_MANIFEST, &odd).await;
    let index = format!(
        r#"{{"mediaType": "{OCI_MANIFEST}", "schemaVersion": 2, "manifests": [{}], "mediaType": "{OCI_INDEX}"}}"#,
        Desc::of(OCI_MANIFEST, &twice).json()
    );
    reg.push_manifest("dup", "index", OCI_INDEX, index.as_bytes()).await;
    let r = reg.get("/v2/dup/manifests/index").await;
    assert_eq!(hdr(&r, "content-type").as_deref(), Some(OCI_INDEX), "served as the type it was validated as");
    assert_eq!(r.bytes().await.unwrap(), index.as_bytes());
    reg.stop().await;

    let root = dir.path().join("root");
    let (report, lines) = collect_garbage(&root, berth::registry::GcOptions::default()).await;
    assert!(report.blobs.is_empty() && report.layer_links == 0, "{lines:#?}");
    let (reg, _) = start_on(&dir).await;
    for d in [&config, &layer, &odd_config, &odd_layer] {
        let r = reg.get(&format!("/v2/dup/blobs/{}", d.digest)).await;
        assert_eq!((r.status().as_u16(), sha256(&r.bytes().await.unwrap())), (200, d.digest.clone()));
    }
    reg.stop().await;
}

/// `Bearer <jwt>` granting `access` (`[(name, actions)]`).
fn bearer(issuer: &TokenIssuer, access: &[(&str, &[&str])]) -> String {
    format!("Bearer {}", issuer.token("tester", access))
}

/// A cross-repository mount needs pull on the source (distribution's
/// access records): without it the answer is 401 insufficient_scope, no
/// session opens and nothing becomes readable in the target.
#[tokio::test]
async fn mount_from_a_repository_the_token_cannot_read() {
    let issuer = TokenIssuer::new();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, &issuer.root_pem).unwrap();
    let auth = format!(
        "auth:\n  token:\n    realm: https://auth.example/token\n    service: registry\n    issuer: issuer\n    rootcertbundle: '{}'\n",
        bundle.display()
    );
    let mut h = Hostile::with(start_with(true, &auth).await);
    let owner = bearer(&issuer, &[("src", &["pull", "push"])]);
    let data = b"a secret layer";
    let digest = sha256(data);
    let r = h.reg.req(reqwest::Method::POST, &format!("/v2/src/blobs/uploads/?digest={digest}"));
    assert_eq!(r.header("Authorization", &owner).body(data.to_vec()).send().await.unwrap().status(), 201);
    let dst = bearer(&issuer, &[("dst", &["pull", "push"])]);
    h.alive_auth = Some(dst.clone());
    let mount = format!("/v2/dst/blobs/uploads/?mount={digest}&from=src");
    let denied = |token: String| row("POST", mount.clone(), 401, Some("UNAUTHORIZED")).header("Authorization", token);
    let star: &[&str] = &["*"];
    let rows = vec![
        denied(dst.clone()),
        denied(bearer(&issuer, &[("dst", &["pull", "push"]), ("src", &["push"])])),
        denied(bearer(&issuer, &[("dst", star), ("src", &["delete"])])),
        denied(bearer(&issuer, &[("dst", &["pull", "push"]), ("src/sub", &["pull"]), ("sr", &["pull"])])),
        denied(bearer(&issuer, &[("dst", &["pull", "push"]), ("SRC", &["pull"])])),
        // The source spelt so that it might match something else.
        row("POST", format!("/v2/dst/blobs/uploads/?mount={digest}&from=src%2F"), 401, Some("UNAUTHORIZED"))
            .header("Authorization", dst.clone()),
        row("GET", format!("/v2/src/blobs/{digest}"), 401, Some("UNAUTHORIZED")).header("Authorization", dst.clone()),
        row("GET", format!("/v2/dst/blobs/{digest}"), 404, Some("BLOB_UNKNOWN")).header("Authorization", dst.clone()),
    ];
    h.check(&rows).await;
    let r = h.reg.req(reqwest::Method::POST, &mount).header("Authorization", &dst).send().await.unwrap();
    let challenge = hdr(&r, "www-authenticate").unwrap();
    assert!(challenge.contains("repository:src:pull") && challenge.contains("insufficient_scope"), "{challenge}");
    // With pull on the source, the same mount links the blob.
    let both = bearer(&issuer, &[("dst", &["pull", "push"]), ("src", &["pull"])]);
    let r = h.reg.req(reqwest::Method::POST, &mount).header("Authorization", &both).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = h.reg.req(reqwest::Method::GET, &format!("/v2/dst/blobs/{digest}")).header("Authorization", &dst);
    assert_eq!(r.send().await.unwrap().bytes().await.unwrap(), &data[..]);
    h.reg.stop().await;
}
