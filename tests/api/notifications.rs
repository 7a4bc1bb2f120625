//! Notifications: a webhook endpoint inside the test records what berth
//! POSTs while a client pushes, pulls, mounts and deletes.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use reqwest::Method;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::common::{self, Desc, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256};

const EVENTS: &str = "application/vnd.docker.distribution.events.v1+json";

/// One POST the endpoint received, and the status it answered.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: http::HeaderMap,
    body: Value,
    status: u16,
}

/// A webhook endpoint on loopback that records every request. It answers
/// with `status` after `delay_ms`, which a test can change.
pub(crate) struct Hook {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Hook {
    pub(crate) async fn start() -> Hook {
        Hook::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), 200)
    }

    fn serve(listener: TcpListener, status: u16) -> Hook {
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (log, answer, delay) = (received.clone(), status.clone(), delay_ms.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (log, answer, delay) = (log.clone(), answer.clone(), delay.clone());
                let service = service_fn(move |req: Request<Incoming>| {
                    let (log, answer, delay) = (log.clone(), answer.clone(), delay.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        tokio::time::sleep(Duration::from_millis(delay.load(Ordering::SeqCst))).await;
                        let status = answer.load(Ordering::SeqCst);
                        log.lock().unwrap().push(Received {
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                            status,
                        });
                        let mut response = Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Hook { addr, received, status, delay_ms, task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The events of the requests to `path` that the endpoint accepted.
    pub(crate) fn accepted(&self, path: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|r| r.path == path && r.status < 300)
            .flat_map(|r| r.body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until `path` has accepted `n` events.
    async fn wait_for(&self, path: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let events = self.accepted(path);
            if events.len() >= n {
                return events;
            }
            assert!(Instant::now() < deadline, "{path}: waited for {n} events, got {:#?}", self.all());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

/// A config.yml on the in-memory driver, deletes on, with `notifications`.
fn config(notifications: &str) -> String {
    format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nstorage:\n  inmemory:\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n\
         notifications:\n{notifications}"
    )
}

/// One endpoint, retrying fast.
fn endpoint(name: &str, url: &str, extra: &str) -> String {
    format!(
        "    - name: {name}\n      url: {url}\n      timeout: 1s\n      threshold: 2\n      backoff: 100ms\n{extra}"
    )
}

fn action(e: &Value) -> (&str, &str) {
    (e["action"].as_str().unwrap(), e["target"]["mediaType"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn events_for_push_pull_mount_and_delete() {
    let hook = Hook::start().await;
    let headers = "      headers:\n        Authorization: [Bearer hook-token]\n        X-Multi: [one, two]\n";
    let reg =
        common::start_config(&config(&format!("  endpoints:\n{}", endpoint("hook", &hook.url("/events"), headers))))
            .await;
    let (name, other) = ("notify/app", "notify/other");
    let (manifest, body) = reg.push_image(name, "v1", "notify").await;
    let config_blob = r#"{"architecture":"amd64","os":"linux","seed":"notify"}"#;
    let layer = Desc::of(OCI_LAYER, b"layer bytes of notify");
    reg.push_manifest(name, "v2", OCI_MANIFEST, &body).await;
    let pulled = reg
        .req(Method::GET, &format!("/v2/{name}/manifests/v1"))
        .basic_auth("alice", Some("x"))
        .header("User-Agent", "notify-test/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    assert_eq!(reg.head(&format!("/v2/{name}/manifests/{manifest}")).await.status(), 200);
    assert_eq!(reg.get(&format!("/v2/{name}/blobs/{}", layer.digest)).await.status(), 200);
    let mount = reg.send(Method::POST, &format!("/v2/{other}/blobs/uploads/?mount={}&from={name}", layer.digest)).await;
    assert_eq!(mount.status(), 201);
    assert_eq!(reg.delete(&format!("/v2/{name}/manifests/v2")).await.status(), 202);
    assert_eq!(reg.delete(&format!("/v2/{name}/manifests/{manifest}")).await.status(), 202);
    assert_eq!(reg.delete(&format!("/v2/{name}/blobs/{}", layer.digest)).await.status(), 202);
    assert_eq!(reg.delete(&format!("/v2/_berth/repositories/{other}")).await.status(), 202);

    let events = hook.wait_for("/events", 13).await;
    let actions: Vec<(&str, &str)> = events.iter().map(action).collect();
    let octet = "application/octet-stream";
    assert_eq!(
        actions,
        [
            ("push", octet),
            ("push", octet),
            ("push", OCI_MANIFEST),
            ("push", OCI_MANIFEST),
            ("pull", OCI_MANIFEST),
            ("pull", OCI_MANIFEST),
            ("pull", octet),
            ("mount", octet),
            ("delete", ""),
            ("delete", ""),
            ("delete", ""),
            ("delete", ""),
            ("delete", ""),
        ]
    );
    let target = |i: usize| events[i]["target"].clone();
    let base = &reg.base;

    // Blob push: the descriptor, its length and URL.
    assert_eq!(
        target(0),
        serde_json::json!({
            "mediaType": octet, "size": config_blob.len(), "digest": sha256(config_blob.as_bytes()),
            "length": config_blob.len(), "repository": name,
            "url": format!("{base}/v2/{name}/blobs/{}", sha256(config_blob.as_bytes())),
        })
    );
    assert_eq!(target(1)["digest"], layer.digest.as_str());
    // Manifest push by tag: the tag, the URL by digest, no references.
    assert_eq!(
        target(2),
        serde_json::json!({
            "mediaType": OCI_MANIFEST, "size": body.len(), "digest": manifest, "length": body.len(),
            "repository": name, "url": format!("{base}/v2/{name}/manifests/{manifest}"), "tag": "v1",
        })
    );
    assert_eq!(target(3)["tag"], "v2");
    // Pull by tag carries the tag; HEAD by digest is a pull without one.
    assert_eq!(target(4)["tag"], "v1");
    assert_eq!(target(4)["digest"], manifest.as_str());
    assert_eq!(events[4]["request"]["method"], "GET");
    assert_eq!(events[4]["request"]["useragent"], "notify-test/1.0");
    assert_eq!(events[4]["actor"]["name"], "alice");
    assert_eq!(events[5]["request"]["method"], "HEAD");
    assert!(target(5).get("tag").is_none());
    assert_eq!(target(6)["size"], layer.size);
    // Mount: the new repository and where it came from.
    assert_eq!(target(7)["repository"], other);
    assert_eq!(target(7)["fromRepository"], name);
    assert_eq!(target(7)["url"], format!("{base}/v2/{other}/blobs/{}", layer.digest));
    // Deletes: the tag, then the manifest and the tag it took along, then the blob.
    assert_eq!(target(8), serde_json::json!({"repository": name, "tag": "v2"}));
    assert_eq!(target(9), serde_json::json!({"digest": manifest, "repository": name}));
    assert_eq!(target(10), serde_json::json!({"repository": name, "tag": "v1"}));
    assert_eq!(target(11), serde_json::json!({"digest": layer.digest, "repository": name}));
    // Repository delete (berth's route): distribution's repository-deleted event.
    assert_eq!(target(12), serde_json::json!({"repository": other}));

    // Request, actor and source on every event; one source per process.
    let instance = events[0]["source"]["instanceID"].as_str().unwrap().to_owned();
    let mut ids = std::collections::HashSet::new();
    for e in &events {
        assert!(ids.insert(e["id"].as_str().unwrap().to_owned()), "event ids are unique");
        assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(e["request"]["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(e["request"]["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
        assert_eq!(e["request"]["host"], reg.base.trim_start_matches("http://"));
        assert!(e.get("actor").is_some());
        assert_eq!(e["source"]["instanceID"], instance.as_str());
        assert!(e["source"]["addr"].as_str().is_some_and(|a| !a.is_empty()));
    }
    assert!(events[0]["actor"].get("name").is_none(), "no user without credentials");

    // One envelope per POST, with the media type and the configured headers.
    for r in hook.all() {
        assert_eq!(r.headers.get("content-type").unwrap(), EVENTS);
        assert_eq!(r.headers.get("authorization").unwrap(), "Bearer hook-token");
        let multi: Vec<_> = r.headers.get_all("x-multi").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(multi, ["one", "two"]);
        assert_eq!(r.body["events"].as_array().unwrap().len(), 1);
    }
    reg.stop().await;
    hook.stop();
}

/// Pushes `n` distinct blobs, each request timed; returns their digests.
async fn push_blobs(reg: &common::Registry, name: &str, n: usize) -> Vec<String> {
    let mut digests = Vec::new();
    for i in 0..n {
        let data = format!("blob {i} of {name}");
        let started = Instant::now();
        let digest = if i % 2 == 0 {
            reg.push_blob(name, data.as_bytes()).await
        } else {
            reg.push_blob_chunked(name, data.as_bytes(), 4).await
        };
        assert!(started.elapsed() < Duration::from_secs(1), "a push waited on the endpoint: {:?}", started.elapsed());
        digests.push(digest);
    }
    digests
}

fn digests(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["target"]["digest"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn failing_endpoint_gets_the_queued_events_in_order_once_it_recovers() {
    let hook = Hook::start().await;
    hook.status.store(500, Ordering::SeqCst);
    let reg = common::start_config(&config(&format!("  endpoints:\n{}", endpoint("hook", &hook.url("/e"), "")))).await;
    let pushed = push_blobs(&reg, "notify/down", 4).await;
    // Wait for the breaker to open: the first event is being retried.
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.all().len() < 3 {
        assert!(Instant::now() < deadline, "no delivery attempts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(hook.accepted("/e").is_empty());
    hook.status.store(200, Ordering::SeqCst);
    let events = hook.wait_for("/e", 4).await;
    assert_eq!(digests(&events), pushed);
    // Retries repeat the same event (same id), and nothing is delivered twice.
    let all = hook.all();
    let tries = all.iter().filter(|r| r.body["events"][0]["id"] == events[0]["id"]).count();
    assert_eq!(tries, all.iter().filter(|r| r.status == 500).count() + 1);

    let metrics = reg.client.get(format!("http://{}/metrics", reg.debug_addr().unwrap())).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    for line in [
        r#"registry_notifications_events_total{type="Events",endpoint="hook"} 4"#,
        r#"registry_notifications_events_total{type="Successes",endpoint="hook"} 4"#,
        r#"registry_notifications_pending{endpoint="hook"} 0"#,
        r#"registry_notifications_status_total{code="500 Internal Server Error",endpoint="hook"}"#,
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    reg.stop().await;
    hook.stop();
}

#[tokio::test]
async fn endpoint_that_is_not_listening_gets_the_events_once_it_listens() {
    // A free loopback port with nobody on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/late");
    let reg = common::start_config(&config(&format!("  endpoints:\n{}", endpoint("late", &url, "")))).await;
    let pushed = push_blobs(&reg, "notify/late", 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hook = Hook::serve(TcpListener::bind(("127.0.0.1", port)).await.unwrap(), 200);
    let events = hook.wait_for("/late", 3).await;
    assert_eq!(digests(&events), pushed);
    reg.stop().await;
    hook.stop();
}

#[tokio::test]
async fn endpoints_filter_events_and_references_are_included_when_asked() {
    let hook = Hook::start().await;
    let octet = "application/octet-stream";
    let endpoints = [
        endpoint(
            "manifests-only",
            &hook.url("/a"),
            &format!("      ignoredmediatypes: [{octet}]\n      ignore:\n        actions: [pull]\n"),
        ),
        endpoint("blobs-only", &hook.url("/b"), &format!("      ignore:\n        mediatypes: [{OCI_MANIFEST}]\n")),
        endpoint("off", &hook.url("/off"), "      disabled: true\n"),
    ];
    let yaml = config(&format!("  events:\n    includereferences: true\n  endpoints:\n{}", endpoints.concat()));
    let reg = common::start_config(&yaml).await;
    let name = "notify/filter";
    let (manifest, _) = reg.push_image(name, "latest", "filter").await;
    let layer = Desc::of(OCI_LAYER, b"layer bytes of filter");
    let config_blob = Desc::of(OCI_CONFIG, br#"{"architecture":"amd64","os":"linux","seed":"filter"}"#);
    assert_eq!(reg.get(&format!("/v2/{name}/manifests/latest")).await.status(), 200);
    assert_eq!(reg.get(&format!("/v2/{name}/blobs/{}", layer.digest)).await.status(), 200);
    // Last, an event both endpoints take: everything before it has been sent.
    assert_eq!(reg.delete(&format!("/v2/{name}/blobs/{}", layer.digest)).await.status(), 202);

    let a = hook.wait_for("/a", 2).await;
    let actions: Vec<(&str, &str)> = a.iter().map(action).collect();
    assert_eq!(actions, [("push", OCI_MANIFEST), ("delete", "")]);
    let references = &a[0]["target"]["references"];
    assert_eq!(
        references,
        &serde_json::json!([
            {"mediaType": OCI_CONFIG, "size": config_blob.size, "digest": config_blob.digest},
            {"mediaType": OCI_LAYER, "size": layer.size, "digest": layer.digest},
        ])
    );
    assert_eq!(a[0]["target"]["digest"], manifest.as_str());

    let b = hook.wait_for("/b", 4).await;
    let actions: Vec<(&str, &str)> = b.iter().map(action).collect();
    assert_eq!(actions, [("push", octet), ("push", octet), ("pull", octet), ("delete", "")]);
    assert!(hook.all().iter().all(|r| r.path != "/off"), "a disabled endpoint gets nothing");
    reg.stop().await;
    hook.stop();
}

#[tokio::test]
async fn shutdown_delivers_what_is_queued_and_gives_up_after_a_bound() {
    let slow = Hook::start().await;
    slow.delay_ms.store(300, Ordering::SeqCst);
    let reg = common::start_config(&config(&format!("  endpoints:\n{}", endpoint("slow", &slow.url("/s"), "")))).await;
    let pushed = push_blobs(&reg, "notify/flush", 4).await;
    assert!(slow.accepted("/s").len() < 4, "the endpoint is slower than the pushes");
    reg.stop().await;
    assert_eq!(digests(&slow.accepted("/s")), pushed, "queued events are delivered before shutdown returns");
    slow.stop();

    // An endpoint that never accepts holds a shutdown up for a bounded time only.
    let dead = Hook::start().await;
    dead.status.store(503, Ordering::SeqCst);
    let reg = common::start_config(&config(&format!("  endpoints:\n{}", endpoint("dead", &dead.url("/d"), "")))).await;
    push_blobs(&reg, "notify/dead", 1).await;
    let started = Instant::now();
    reg.stop().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(4) && took < Duration::from_secs(7), "shutdown took {took:?}");
    assert!(dead.accepted("/d").is_empty());
    dead.stop();
}

/// A tag deleted through the web UI's confirmation form sends the event a
/// `DELETE /v2/<name>/manifests/<tag>` sends.
#[tokio::test]
async fn a_delete_from_the_web_ui_sends_the_api_event() {
    let hook = Hook::start().await;
    let reg =
        common::start_config(&config(&format!("  endpoints:\n{}", endpoint("hook", &hook.url("/events"), "")))).await;
    reg.push_image("ui/app", "v1", "ui").await;
    let confirm = reg.get("/ui/r/ui/app/-/delete?tag=v1").await.text().await.unwrap();
    let token = confirm.split("name=\"token\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let posted = reg
        .req(Method::POST, "/ui/r/ui/app/-/delete")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", reg.base.as_str())
        .body(format!("tag=v1&token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303);
    // Two blob pushes and a manifest push, then the delete; the pages send none.
    let events = hook.wait_for("/events", 4).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    assert_eq!(events[3]["action"], "delete");
    assert_eq!(events[3]["target"], serde_json::json!({"repository": "ui/app", "tag": "v1"}));
    reg.stop().await;
    hook.stop();
}

/// A promotion is announced as a push of each moved tag, with berth's
/// field saying how and from where; an immutable refusal as `deny`.
#[tokio::test]
async fn events_for_tag_moves_and_immutable_refusals() {
    let hook = Hook::start().await;
    let rules =
        "berth:\n  tags:\n    immutable:\n      - name: releases\n        repository: '**'\n        tags: 'v\\d+'\n";
    let yaml = format!(
        "{}{rules}",
        config(&format!(
            "  endpoints:\n{}",
            endpoint("hook", &hook.url("/events"), "      ignore:\n        actions: [pull]\n")
        ))
    );
    let reg = common::start_config(&yaml).await;
    let (old, _) = reg.push_image("ev", "latest", "old").await;
    let (new, body) = reg.push_image("ev", "v1", "new").await;
    let promote = serde_json::json!({"via": "promote", "expect": {"latest": old}, "set": {"latest": new}});
    let r = reg.req(Method::POST, "/v2/_berth/tags/ev").body(promote.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        reg.put_manifest("ev", "v1", OCI_MANIFEST, &reg.push_image("ev", "other", "o").await.1).await.status(),
        403
    );
    assert_eq!(reg.put_manifest("ev", "v1", OCI_MANIFEST, &body).await.status(), 201, "same digest is no refusal");
    // 2 blobs + manifest, three times; the promotion; the refusal; the re-push.
    let events = hook.wait_for("/events", 12).await;
    let promoted = &events[6];
    assert_eq!(promoted["action"], "push");
    assert_eq!(promoted["target"]["tag"], "latest");
    assert_eq!(promoted["target"]["digest"], serde_json::json!(new));
    assert_eq!(promoted["target"]["mediaType"], OCI_MANIFEST);
    assert_eq!(promoted["berth"], serde_json::json!({"operation": "promote", "previous": old}));
    let denied = events.iter().find(|e| e["action"] == "deny").expect("a deny event");
    assert_eq!(denied["target"]["repository"], "ev");
    assert_eq!(denied["target"]["tag"], "v1");
    assert_eq!(denied["berth"], serde_json::json!({"operation": "push", "rule": "releases"}));
    assert!(
        events
            .iter()
            .filter(|e| e["action"] == "push")
            .all(|e| e.get("berth").is_none() || e["target"]["tag"] == "latest")
    );
    reg.stop().await;
    hook.stop();
}
