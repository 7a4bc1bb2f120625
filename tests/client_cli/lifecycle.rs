//! `berth tag copy|promote|history|rollback` against a real server: the tags
//! are checked through the API afterwards (bytes and digests), a lost race
//! is provoked deterministically by a proxy that moves a tag between the
//! client's reads and its POST, and usage errors send nothing.

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::{Arc, Mutex},
};

use reqwest::Method;

use super::*;

/// Every manifest type, so the digest answered is the stored one.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// The digest and bytes a tag or digest serves, from `GET` through the API.
async fn served(reg: &Registry, name: &str, reference: &str) -> (String, Vec<u8>) {
    let r = reg.req(Method::GET, &format!("/v2/{name}/manifests/{reference}")).header("Accept", ACCEPT).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), 200, "{name}:{reference}");
    let digest = hdr(&r, "docker-content-digest").unwrap();
    let bytes = r.bytes().await.unwrap().to_vec();
    assert_eq!(sha256(&bytes), digest, "the bytes served hash to their digest");
    (digest, bytes)
}

/// The status of `HEAD` on a tag: 404 when it does not exist.
async fn head_status(reg: &Registry, name: &str, tag: &str) -> u16 {
    reg.head(&format!("/v2/{name}/manifests/{tag}")).await.status().as_u16()
}

/// The history route's JSON.
async fn history_json(reg: &Registry, name: &str, tag: &str) -> Value {
    let r = reg.get(&format!("/v2/_berth/history/{name}/{tag}")).await;
    assert_eq!(r.status(), 200);
    json(r).await
}

/// Three images in `app`: `beta`, `latest` and `other` (pushed in that
/// order); their digests and bytes.
pub(super) async fn three_images(reg: &Registry) -> [(String, Vec<u8>); 3] {
    [
        reg.push_image("app", "beta", "b").await,
        reg.push_image("app", "latest", "l").await,
        reg.push_image("app", "other", "o").await,
    ]
}

#[tokio::test]
async fn copy_by_tag_and_by_digest() {
    let reg = start().await;
    let [(beta, beta_bytes), (latest, latest_bytes), _] = three_images(&reg).await;

    let copied = berth(&reg.base, &["tag", "copy", "app:beta", "rc"], &[], "").await;
    assert_eq!(copied.lines(), [format!("app:rc -> {beta} (was new)")]);
    assert_eq!(served(&reg, "app", "rc").await, (beta.clone(), beta_bytes));

    let by_digest = berth(&reg.base, &["tag", "copy", &format!("app@{latest}"), "app:rc"], &[], "").await;
    assert_eq!(by_digest.lines(), [format!("app:rc -> {latest} (was {beta})")]);
    assert_eq!(served(&reg, "app", "rc").await, (latest.clone(), latest_bytes));
    let history = history_json(&reg, "app", "rc").await;
    let vias: Vec<_> = history["history"].as_array().unwrap().iter().map(|e| (&e["digest"], &e["via"])).collect();
    assert_eq!(vias, [(&json!(latest), &json!("copy")), (&json!(beta), &json!("copy"))]);

    let missing = format!("app@{}", sha256(b"not pushed"));
    berth(&reg.base, &["tag", "copy", &missing, "rc"], &[], "").await.fails_with("MANIFEST_UNKNOWN");
    berth(&reg.base, &["tag", "copy", "app:nope", "rc"], &[], "").await.fails_with("MANIFEST_UNKNOWN");
    assert_eq!(served(&reg, "app", "rc").await.0, latest, "failed copies change nothing");
    reg.stop().await;
}

#[tokio::test]
async fn promote_moves_every_tag_from_one_snapshot() {
    let reg = start().await;
    let [(beta, beta_bytes), (latest, latest_bytes), _] = three_images(&reg).await;
    let before = reg.snapshot();

    let counting = proxy(&reg.base, |_| {});
    let missing = berth(&counting.url, &["tag", "promote", "app", "archive=latest", "latest=nope"], &[], "").await;
    missing.fails_with("berth: tag promote: the source tag app:nope does not exist; nothing changed");
    let seen = counting.seen.lock().unwrap().clone();
    assert!(!seen.is_empty() && seen.iter().all(|line| !line.starts_with("POST")), "{seen:?}");
    assert_eq!(reg.snapshot(), before, "a missing source stores nothing");

    let promoted = berth(&reg.base, &["tag", "promote", "app", "archive=latest", "latest=beta"], &[], "").await;
    assert_eq!(
        promoted.lines(),
        [format!("app:archive -> {latest} (was new)"), format!("app:latest -> {beta} (was {latest})")]
    );
    assert_eq!(served(&reg, "app", "archive").await, (latest.clone(), latest_bytes));
    assert_eq!(served(&reg, "app", "latest").await, (beta.clone(), beta_bytes));
    assert_eq!(served(&reg, "app", "beta").await.0, beta, "the source stays");
    let history = history_json(&reg, "app", "latest").await;
    assert_eq!(history["current"], json!(beta));
    assert_eq!((&history["history"][0]["via"], &history["history"][1]["via"]), (&json!("promote"), &json!("push")));

    // From one snapshot, two tags can swap.
    let swapped = berth(&reg.base, &["tag", "promote", "app", "archive=latest", "latest=archive"], &[], "").await;
    assert_eq!(
        swapped.lines(),
        [format!("app:archive -> {beta} (was {latest})"), format!("app:latest -> {latest} (was {beta})")]
    );
    assert_eq!((served(&reg, "app", "archive").await.0, served(&reg, "app", "latest").await.0), (beta, latest));
    reg.stop().await;
}

/// A proxy in front of a registry: it forwards each request (one per
/// connection, as berth's client sends them) and records its request line,
/// after calling `before` with that line.
struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

fn proxy(upstream: &str, before: impl Fn(&str) + Send + 'static) -> Proxy {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen, upstream) = (Arc::new(Mutex::new(Vec::new())), upstream.trim_start_matches("http://").to_owned());
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut client in listener.incoming().map_while(Result::ok) {
            let request = read_request(&mut client);
            let line = String::from_utf8_lossy(&request[..request.iter().position(|b| *b == b'\r').unwrap()]);
            before(&line);
            log.lock().unwrap().push(line.into_owned());
            let _ = client.write_all(&exchange(&upstream, &request));
        }
    });
    Proxy { url, seen }
}

/// A request's head and its `Content-Length` body, with `Connection: close`
/// added so that the answer ends with the connection.
fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = text.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    let mut request = head[..head.len() - 2].to_vec();
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    request.extend(body);
    request
}

/// Sends raw request bytes to `addr`; the whole answer.
fn exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    let mut upstream = TcpStream::connect(addr).unwrap();
    upstream.write_all(request).unwrap();
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).unwrap();
    answer
}

/// A manifest PUT by tag, as raw bytes.
fn put_request(name: &str, tag: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "PUT /v2/{name}/manifests/{tag} HTTP/1.1\r\nHost: x\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

/// A proxy that pushes `manifest` to `app:TAG` just before it forwards a POST.
fn racing_proxy(reg: &Registry, tag: &str, manifest: &[u8]) -> Proxy {
    let (upstream, put) = (reg.base.trim_start_matches("http://").to_owned(), put_request("app", tag, manifest));
    proxy(&reg.base, move |line| {
        if line.starts_with("POST ") {
            let answer = exchange(&upstream, &put);
            assert!(answer.starts_with(b"HTTP/1.1 201"), "{}", String::from_utf8_lossy(&answer));
        }
    })
}

#[tokio::test]
async fn a_tag_moved_between_the_read_and_the_write_changes_nothing() {
    let reg = start().await;
    let [(beta, _), (latest, _), (other, other_bytes)] = three_images(&reg).await;

    // Through the route: an expect that is no longer true.
    let stale = json!({ "via": "promote", "expect": { "latest": beta, "archive": null },
                        "set": { "archive": beta, "latest": beta } });
    let r = reg.req(Method::POST, "/v2/_berth/tags/app").body(stale.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let body = json(r).await;
    assert_eq!(body["errors"][0]["code"], "TAG_MOVED");
    assert_eq!(body["errors"][0]["detail"], json!({ "tag": "latest", "expected": beta, "actual": latest }));
    assert_eq!(head_status(&reg, "app", "archive").await, 404);

    // Through the CLI: the proxy re-points latest just before the POST.
    let racer = racing_proxy(&reg, "latest", &other_bytes);
    let lost = berth(&racer.url, &["tag", "promote", "app", "archive=latest", "latest=beta"], &[], "").await;
    lost.fails_with(&format!(
        "berth: tag promote: tag latest moved since it was read (expected {latest}, now {other}); nothing changed\n"
    ));
    assert_eq!(served(&reg, "app", "latest").await.0, other, "the racing push stays");
    assert_eq!(head_status(&reg, "app", "archive").await, 404, "archive was not created");
    let seen = racer.seen.lock().unwrap().clone();
    assert_eq!(seen.last().unwrap(), "POST /v2/_berth/tags/app HTTP/1.1", "{seen:?}");

    // A copy onto a tag created meanwhile: it was read as absent.
    let racer = racing_proxy(&reg, "fresh", &other_bytes);
    let lost = berth(&racer.url, &["tag", "copy", "app:beta", "fresh"], &[], "").await;
    lost.fails_with(&format!("tag fresh moved since it was read (expected absent, now {other}); nothing changed"));
    assert_eq!(served(&reg, "app", "fresh").await.0, other);
    reg.stop().await;
}

#[tokio::test]
async fn history_lines_and_json() {
    let reg = start().await;
    let [(beta, _), (latest, _), _] = three_images(&reg).await;
    berth(&reg.base, &["tag", "copy", "app:beta", "latest"], &[], "").await.lines();
    berth(&reg.base, &["tag", "copy", "app:other", "latest"], &[], "").await.lines();
    let other = served(&reg, "app", "other").await.0;
    berth(&reg.base, &["tag", "copy", "app:beta", "latest"], &[], "").await.lines();

    let route = history_json(&reg, "app", "latest").await;
    assert_eq!(berth(&reg.base, &["tag", "history", "app:latest", "--json"], &[], "").await.json(), route);
    let entries = route["history"].as_array().unwrap();
    let digests: Vec<_> = entries.iter().map(|e| e["digest"].as_str().unwrap()).collect();
    assert_eq!(digests, [&beta, &other, &beta, &latest], "newest first");
    let text = berth(&reg.base, &["tag", "history", "app:latest"], &[], "").await;
    let width = entries.iter().map(|e| e["at"].as_str().unwrap().len()).max().unwrap();
    let expected: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mark = if i == 0 { '*' } else { ' ' };
            format!(
                "{mark} {:<width$}  {}  {}  -",
                e["at"].as_str().unwrap(),
                e["digest"].as_str().unwrap(),
                e["via"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(text.lines(), expected);
    assert!(text.lines()[3].ends_with("  push  -"), "{text:?}");

    berth(&reg.base, &["tag", "history", "app:nope"], &[], "").await.fails_with("berth: tag history: MANIFEST_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn rollback_to_the_previous_digest_or_a_named_one() {
    let reg = start().await;
    let [(beta, beta_bytes), (latest, latest_bytes), _] = three_images(&reg).await;
    berth(&reg.base, &["tag", "copy", "app:beta", "latest"], &[], "").await.lines();

    let back = berth(&reg.base, &["tag", "rollback", "app:latest"], &[], "").await;
    assert_eq!(back.lines(), [format!("app:latest -> {latest} (was {beta})")]);
    assert_eq!(served(&reg, "app", "latest").await, (latest.clone(), latest_bytes));
    let history = history_json(&reg, "app", "latest").await;
    assert_eq!((&history["history"][0]["via"], &history["history"][0]["digest"]), (&json!("rollback"), &json!(latest)));

    let named = berth(&reg.base, &["tag", "rollback", "app:latest", &beta], &[], "").await;
    assert_eq!(named.lines(), [format!("app:latest -> {beta} (was {latest})")]);
    assert_eq!(served(&reg, "app", "latest").await, (beta.clone(), beta_bytes));

    let stranger = served(&reg, "app", "other").await.0;
    let refused = berth(&reg.base, &["tag", "rollback", "app:latest", &stranger], &[], "").await;
    refused.fails_with(&format!("berth: tag rollback: {stranger} is not in the history of app:latest"));
    let never_moved = berth(&reg.base, &["tag", "rollback", "app:other"], &[], "").await;
    never_moved.fails_with("app:other has no earlier digest to roll back to");
    assert_eq!(served(&reg, "app", "latest").await.0, beta, "refused rollbacks change nothing");
    berth(&reg.base, &["tag", "rollback", "app:latest", "sha256:xyz"], &[], "").await.fails_with("\"sha256:xyz\"");
    reg.stop().await;
}

#[tokio::test]
async fn moves_with_htpasswd_record_the_user() {
    let plain = start().await;
    let [(beta, _), (latest, _), _] = three_images(&plain).await;
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("htpasswd");
    std::fs::write(&passwords, format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    // A second server on the first one's storage root, with htpasswd.
    let secure = start_config(&format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\nauth:\n  htpasswd:\n    realm: berth\n    path: '{}'\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n",
        passwords.display(),
        plain.tmp().join("root").display()
    ))
    .await;
    let login = ["-u", "alice", "--password-stdin"];
    let promote = ["tag", "promote", "app", "archive=latest", "latest=beta"];

    berth(&secure.base, &promote, &[], "").await.fails_with("asks for credentials");
    berth(&secure.base, &[&promote[..], &login[..]].concat(), &[], "wrong\n").await.fails_with("UNAUTHORIZED");
    let promoted = berth(&secure.base, &[&promote[..], &login[..]].concat(), &[], "s3cret\n").await;
    assert_eq!(promoted.lines()[1], format!("app:latest -> {beta} (was {latest})"));
    let history =
        berth(&secure.base, &["tag", "history", "app:archive", "-u", "alice", "--password-stdin"], &[], "s3cret\n")
            .await;
    assert_eq!(history.lines().len(), 1);
    assert!(
        history.lines()[0].starts_with("* ") && history.lines()[0].ends_with(&format!("{latest}  promote  alice")),
        "{history:?}"
    );
    let env = [("BERTH_USERNAME", "alice"), ("BERTH_PASSWORD", "s3cret")];
    let back = berth(&secure.base, &["tag", "rollback", "app:latest"], &env, "").await;
    assert_eq!(back.lines(), [format!("app:latest -> {latest} (was {beta})")]);
    secure.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn an_immutable_tag_is_not_moved() {
    let rules =
        "berth:\n  tags:\n    immutable:\n      - name: releases\n        repository: \"**\"\n        tags: 'v\\d+'\n";
    let reg = start_with(true, rules).await;
    let [_, (latest, _), _] = three_images(&reg).await;
    let created = berth(&reg.base, &["tag", "copy", "app:latest", "v1"], &[], "").await;
    assert_eq!(created.lines(), [format!("app:v1 -> {latest} (was new)")], "a first copy creates it");
    let refused = berth(&reg.base, &["tag", "promote", "app", "v1=beta", "rc=beta"], &[], "").await;
    refused.fails_with(
        "berth: tag promote: DENIED: tag v1 of app is immutable (berth.tags.immutable rule \"releases\")\n",
    );
    assert_eq!(served(&reg, "app", "v1").await.0, latest);
    assert_eq!(head_status(&reg, "app", "rc").await, 404, "all or nothing");
    reg.stop().await;
}

#[tokio::test]
async fn usage_errors_send_nothing() {
    let reg = start().await;
    reg.push_image("app", "latest", "l").await;
    let counting = proxy(&reg.base, |_| {});
    let url = counting.url.as_str();
    let cases: [(&[&str], &str); 7] = [
        (&["tag", "promote", "app", "archive"], "\"archive\": expected DST=SRC, two tags, such as archive=latest"),
        (&["tag", "promote", "app", "archive=app:latest"], "expected DST=SRC"),
        (&["tag", "promote", "app", "a=latest", "a=latest"], "the tag a is assigned twice"),
        (&["tag", "promote", "Bad!", "a=latest"], "\"Bad!\""),
        (&["tag", "copy", "app:latest", "other:latest"], "\"other:latest\": a copy stays in app; to copy into other"),
        (&["tag", "copy", "app", "v1"], "expected NAME:TAG or NAME@DIGEST"),
        (
            &["tag", "history", "app@sha256:0000000000000000000000000000000000000000000000000000000000000000"],
            "expected NAME:TAG",
        ),
    ];
    for (args, message) in cases {
        berth(url, args, &[], "").await.fails_with(message);
    }
    let missing = berth(url, &["tag", "promote", "app"], &[], "").await;
    assert!(!missing.ok && missing.stderr.contains("DST=SRC"), "{missing:?}");
    assert_eq!(counting.seen.lock().unwrap().len(), 0, "nothing was sent");
    reg.stop().await;
}
