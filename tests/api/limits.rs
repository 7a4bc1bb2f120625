//! `berth.limits`: slow clients are cut off without cutting off slow
//! uploads, oversized headers and manifests are refused, and what request
//! bodies may hold in memory is bounded per client and in total.

use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::common::*;

/// A server whose limits are `limits` (YAML lines under `berth.limits`).
async fn start_limited(limits: &str) -> Registry {
    let indented: String = limits.lines().map(|l| format!("    {l}\n")).collect();
    start_with(true, &format!("berth:\n  limits:\n{indented}")).await
}

fn addr(r: &Registry) -> String {
    r.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection or `within` passes;
/// returns what arrived and whether it closed.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

#[tokio::test]
async fn headers_sent_too_slowly_are_cut_off() {
    let r = start_limited("headertimeout: 1s").await;
    let mut s = TcpStream::connect(addr(&r)).await.unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    // A header byte every 200 ms keeps the connection busy forever unless
    // the deadline covers the whole head, not each read.
    let trickle = async {
        for _ in 0..40 {
            if s.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), trickle).await.unwrap();
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(1)).await;
    assert!(closed, "the server still holds a connection whose headers never ended");
    assert!(started.elapsed() < Duration::from_secs(9), "cut off after {:?}", started.elapsed());
    assert_eq!(r.get("/v2/").await.status(), 200);
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let r = start_limited("headertimeout: 1s").await;
    let mut s = TcpStream::connect(addr(&r)).await.unwrap();
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection outlived headertimeout");
}

#[tokio::test]
async fn a_body_that_goes_quiet_is_cut_off_and_stores_nothing() {
    let r = start_limited("bodytimeout: 1s").await;
    let data = vec![7u8; 1000];
    let location = r.start_upload("quiet/repo").await;
    let path = location.trim_start_matches(&r.base).to_owned();
    let before = r.files();
    let mut s = TcpStream::connect(addr(&r)).await.unwrap();
    let digest = sha256(&data);
    let put = format!("PUT {path}&digest={digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    s.write_all(put.as_bytes()).await.unwrap();
    s.write_all(&data[..100]).await.unwrap();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(closed, "a silent body held the request open: {answer:?}");
    assert!(!answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(r.head(&format!("/v2/quiet/repo/blobs/{digest}")).await.status(), 404);
    let blobs: Vec<_> = r.files().difference(&before).filter(|f| f.contains("/blobs/")).cloned().collect();
    assert!(blobs.is_empty(), "{blobs:?}");
}

#[tokio::test]
async fn a_slow_upload_that_keeps_sending_is_never_cut_off() {
    let r = start_limited("bodytimeout: 1s\nheadertimeout: 1s").await;
    let data: Vec<u8> = (0..30u8).collect();
    let digest = sha256(&data);
    let location = r.start_upload("slow/repo").await;
    let url = format!("{}&digest={digest}", r.url(&location));
    // 30 bytes, one every 150 ms: 4.5 s in all, longer than both timeouts.
    let body = futures_util::stream::unfold(0usize, {
        let data = data.clone();
        move |i| {
            let data = data.clone();
            async move {
                if i == data.len() {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
                Some((Ok::<_, std::io::Error>(vec![data[i]]), i + 1))
            }
        }
    });
    let started = Instant::now();
    let resp = r
        .client
        .put(url)
        .header("Content-Length", data.len())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", text(resp).await);
    assert!(started.elapsed() > Duration::from_secs(4));
    let got = r.get(&format!("/v2/slow/repo/blobs/{digest}")).await.bytes().await.unwrap();
    assert_eq!(&got[..], &data[..]);
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let r = start_limited("maxheaderbytes: 8192").await;
    let mut s = TcpStream::connect(addr(&r)).await.unwrap();
    let big = "a".repeat(20_000);
    let head = format!("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let _ = s.write_all(head.as_bytes()).await;
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    assert!(closed);
    let fits = r.req(Method::GET, "/v2/").header("X-Small", "a".repeat(4000)).send().await.unwrap();
    assert_eq!(fits.status(), 200);
}

#[tokio::test]
async fn manifests_above_the_configured_size_are_413_and_stored_nowhere() {
    let r = start_limited("manifestsize: 2048\nmemory: 65536\nclientmemory: 65536").await;
    let config = Desc::of(OCI_CONFIG, b"{}");
    r.push_blob("small/repo", b"{}").await;
    let fits = image_manifest(Some(OCI_MANIFEST), &config, &[], "");
    assert!(fits.len() < 2048);
    assert_eq!(r.put_manifest("small/repo", "fits", OCI_MANIFEST, &fits).await.status(), 201);
    let padding = format!(r#","annotations":{{"pad":"{}"}}"#, "p".repeat(3000));
    let big = image_manifest(Some(OCI_MANIFEST), &config, &[], &padding);
    let before = r.snapshot();
    expect_error(r.put_manifest("small/repo", "big", OCI_MANIFEST, &big).await, 413, "MANIFEST_INVALID").await;
    // Without Content-Length the limit holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.chunks(512).map(|c| Ok(c.to_vec())).collect();
    let streamed = r
        .req(Method::PUT, "/v2/small/repo/manifests/big")
        .header("Content-Type", OCI_MANIFEST)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    expect_error(streamed, 413, "MANIFEST_INVALID").await;
    assert_eq!(r.snapshot(), before);
    assert_eq!(r.head("/v2/small/repo/manifests/big").await.status(), 404);
}

#[tokio::test]
async fn one_client_waits_for_its_share_of_memory_then_goes_on() {
    // One 8 KiB share: a stalled upload of 8 KiB holds all of it.
    let r = start_limited("manifestsize: 4096\nmemory: 65536\nclientmemory: 8192\nbodytimeout: 20s").await;
    let config = Desc::of(OCI_CONFIG, b"{}");
    r.push_blob("mem/repo", b"{}").await;
    let data = vec![1u8; 8192];
    let digest = sha256(&data);
    let location = r.start_upload("mem/repo").await;
    let path = location.trim_start_matches(&r.base).to_owned();
    let mut stalled = TcpStream::connect(addr(&r)).await.unwrap();
    let put = format!("PUT {path}&digest={digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 8192\r\n\r\n");
    stalled.write_all(put.as_bytes()).await.unwrap();
    stalled.write_all(&data[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let manifest = image_manifest(Some(OCI_MANIFEST), &config, &[], "");
    let waiting = r.put_manifest("mem/repo", "waits", OCI_MANIFEST, &manifest);
    tokio::pin!(waiting);
    assert!(
        tokio::time::timeout(Duration::from_millis(700), &mut waiting).await.is_err(),
        "a manifest was read while the client's share was held"
    );
    stalled.write_all(&data[10..]).await.unwrap();
    let (answer, _) = read_until_closed(&mut stalled, Duration::from_millis(500)).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(waiting.await.status(), 201);
    assert_eq!(r.get("/v2/mem/repo/manifests/waits").await.bytes().await.unwrap(), manifest);
}

#[tokio::test]
async fn a_request_that_never_gets_memory_is_429_and_stores_nothing() {
    let r = start_limited("manifestsize: 4096\nmemory: 65536\nclientmemory: 8192\nbodytimeout: 1s").await;
    let config = Desc::of(OCI_CONFIG, b"{}");
    r.push_blob("busy/repo", b"{}").await;
    let location = r.start_upload("busy/repo").await;
    let path = location.trim_start_matches(&r.base).to_owned();
    // A body that keeps trickling holds the share without timing out.
    let mut holder = TcpStream::connect(addr(&r)).await.unwrap();
    let head = format!("PATCH {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 8192\r\n\r\n");
    holder.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..30 {
            if holder.write_all(b"z").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        holder
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = r.snapshot();
    let manifest = image_manifest(Some(OCI_MANIFEST), &config, &[], "");
    let refused = r.put_manifest("busy/repo", "late", OCI_MANIFEST, &manifest).await;
    assert_eq!(hdr(&refused, "retry-after").as_deref(), Some("5"));
    expect_error(refused, 429, "TOOMANYREQUESTS").await;
    assert_eq!(r.snapshot(), before);
    drop(trickle.await.unwrap());
    assert_eq!(r.put_manifest("busy/repo", "late", OCI_MANIFEST, &manifest).await.status(), 201);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_one_to_close() {
    let r = start_limited("maxconnections: 2").await;
    let first = TcpStream::connect(addr(&r)).await.unwrap();
    let _second = TcpStream::connect(addr(&r)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = r.get("/v2/");
    tokio::pin!(third);
    assert!(
        tokio::time::timeout(Duration::from_millis(700), &mut third).await.is_err(),
        "a third connection was served"
    );
    drop(first);
    let answered = tokio::time::timeout(Duration::from_secs(5), third).await.expect("served once one closed");
    assert_eq!(answered.status(), 200);
}
