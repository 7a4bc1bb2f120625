//! `/v2/<name>/blobs/<digest>`: GET, HEAD, ranges, DELETE (end-2, end-10).

use reqwest::Method;

use crate::common::*;

const DATA: &[u8] = b"0123456789";

#[tokio::test]
async fn get_and_head_serve_exact_bytes_and_headers() {
    let reg = start().await;
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let digest = reg.push_blob("lib/app", &data).await;

    let r = reg.get(&format!("/v2/lib/app/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "content-length"), Some(data.len().to_string()));
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(hdr(&r, "content-type").as_deref(), Some("application/octet-stream"));
    assert_eq!(hdr(&r, "docker-distribution-api-version").as_deref(), Some("registry/2.0"));
    assert_eq!(r.bytes().await.unwrap(), data);

    let r = reg.head(&format!("/v2/lib/app/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "content-length"), Some(data.len().to_string()));
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(hdr(&r, "content-type").as_deref(), Some("application/octet-stream"));
    assert!(r.bytes().await.unwrap().is_empty());

    // The empty blob.
    let empty = reg.push_blob("lib/app", b"").await;
    let r = reg.get(&format!("/v2/lib/app/blobs/{empty}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "content-length").as_deref(), Some("0"));
    assert_eq!(hdr(&r, "docker-content-digest"), Some(empty));
    assert!(r.bytes().await.unwrap().is_empty());
    reg.stop().await;
}

#[tokio::test]
async fn range_requests() {
    let reg = start().await;
    let digest = reg.push_blob("r", DATA).await;
    let path = format!("/v2/r/blobs/{digest}");
    for (range, content_range, body) in [
        ("bytes=2-5", "bytes 2-5/10", &b"2345"[..]),
        ("bytes=0-0", "bytes 0-0/10", b"0"),
        ("bytes=7-", "bytes 7-9/10", b"789"),
        ("bytes=8-100", "bytes 8-9/10", b"89"),
        ("bytes=-3", "bytes 7-9/10", b"789"),
        ("bytes=-100", "bytes 0-9/10", DATA),
    ] {
        let r = reg.req(Method::GET, &path).header("Range", range).send().await.unwrap();
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(hdr(&r, "content-range").as_deref(), Some(content_range), "{range}");
        assert_eq!(hdr(&r, "content-length"), Some(body.len().to_string()), "{range}");
        assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()), "{range}");
        assert_eq!(r.bytes().await.unwrap(), body, "{range}");
    }
    for range in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
        let r = reg.req(Method::GET, &path).header("Range", range).send().await.unwrap();
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(hdr(&r, "content-range").as_deref(), Some("bytes */10"), "{range}");
    }
    reg.stop().await;
}

#[tokio::test]
async fn delete_when_enabled() {
    let reg = start().await;
    let digest = reg.push_blob("a", DATA).await;
    reg.push_blob("b", DATA).await;
    let link_dir = reg.repo_dir("a").join(format!("_layers/sha256/{}", hex_of(&digest)));
    assert!(link_dir.join("link").is_file());

    let r = reg.delete(&format!("/v2/a/blobs/{digest}")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(hdr(&r, "content-length").as_deref(), Some("0"));
    expect_error(reg.get(&format!("/v2/a/blobs/{digest}")).await, 404, "BLOB_UNKNOWN").await;
    assert_eq!(reg.head(&format!("/v2/a/blobs/{digest}")).await.status(), 404);
    assert!(!link_dir.exists(), "the repository link is gone");
    // Other repositories keep it, so its bytes stay.
    assert!(reg.blob_data(&digest).is_file());
    assert_eq!(reg.get(&format!("/v2/b/blobs/{digest}")).await.bytes().await.unwrap(), DATA);

    expect_error(reg.delete(&format!("/v2/a/blobs/{digest}")).await, 404, "BLOB_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn delete_when_disabled_is_unsupported() {
    let reg = start_with(false, "").await;
    let digest = reg.push_blob("a", DATA).await;
    expect_error(reg.delete(&format!("/v2/a/blobs/{digest}")).await, 405, "UNSUPPORTED").await;
    assert!(reg.repo_dir("a").join(format!("_layers/sha256/{}/link", hex_of(&digest))).is_file());
    assert_eq!(reg.get(&format!("/v2/a/blobs/{digest}")).await.bytes().await.unwrap(), DATA);
    reg.stop().await;
}

#[tokio::test]
async fn unknown_blob_is_blob_unknown() {
    let reg = start().await;
    let digest = reg.push_blob("owner", DATA).await;
    let missing = sha256(b"never pushed");
    expect_error(reg.get(&format!("/v2/owner/blobs/{missing}")).await, 404, "BLOB_UNKNOWN").await;
    // A blob is visible only in the repositories it was pushed or mounted to.
    expect_error(reg.get(&format!("/v2/other/blobs/{digest}")).await, 404, "BLOB_UNKNOWN").await;
    let r = reg.head(&format!("/v2/other/blobs/{digest}")).await;
    assert_eq!(r.status(), 404);
    assert!(r.bytes().await.unwrap().is_empty());
    assert!(!reg.repo_dir("other").exists());
    reg.stop().await;
}

#[tokio::test]
async fn invalid_digest_is_digest_invalid() {
    let reg = start().await;
    reg.push_blob("a", DATA).await;
    let before = reg.snapshot();
    let upper = sha256(DATA).to_uppercase().replace("SHA256", "sha256");
    for bad in ["sha256:xyz", "sha256:abc", "md5:0123456789abcdef0123456789abcdef", "notadigest", upper.as_str()] {
        expect_error(reg.get(&format!("/v2/a/blobs/{bad}")).await, 400, "DIGEST_INVALID").await;
        expect_error(reg.delete(&format!("/v2/a/blobs/{bad}")).await, 400, "DIGEST_INVALID").await;
        assert_eq!(reg.head(&format!("/v2/a/blobs/{bad}")).await.status(), 400, "{bad}");
    }
    assert_eq!(reg.snapshot(), before);
    reg.stop().await;
}

#[tokio::test]
async fn sha512_blobs() {
    let reg = start().await;
    let data = b"a blob addressed by sha512";
    let digest = sha512(data);
    let r = reg
        .req(Method::POST, &format!("/v2/a/blobs/uploads/?digest={digest}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(hdr(&r, "location"), Some(reg.url(&format!("/v2/a/blobs/{digest}"))));

    let r = reg.get(&format!("/v2/a/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(r.bytes().await.unwrap(), &data[..]);
    assert_eq!(std::fs::read(reg.blob_data(&digest)).unwrap(), data);
    assert!(reg.blob_data(&digest).starts_with(reg.v2().join("blobs/sha512")));
    // Stored under sha512 only.
    expect_error(reg.get(&format!("/v2/a/blobs/{}", sha256(data))).await, 404, "BLOB_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn blobs_on_the_inmemory_driver() {
    let reg = start_memory().await;
    let digest = reg.push_blob("m", DATA).await;
    let chunked = reg.push_blob_chunked("m", b"chunked in memory", 5).await;
    let r = reg.get(&format!("/v2/m/blobs/{chunked}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), &b"chunked in memory"[..]);
    let r = reg.req(Method::GET, &format!("/v2/m/blobs/{digest}")).header("Range", "bytes=-4").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(hdr(&r, "content-range").as_deref(), Some("bytes 6-9/10"));
    assert_eq!(r.bytes().await.unwrap(), &b"6789"[..]);
    assert_eq!(reg.delete(&format!("/v2/m/blobs/{digest}")).await.status(), 202);
    expect_error(reg.get(&format!("/v2/m/blobs/{digest}")).await, 404, "BLOB_UNKNOWN").await;
    reg.stop().await;
}
