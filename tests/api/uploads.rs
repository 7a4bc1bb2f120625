//! `/v2/<name>/blobs/uploads/`: sessions, chunks, mounts (end-4a/b, end-5,
//! end-6, end-11, end-13).

use bytes::Bytes;
use reqwest::Method;

use crate::common::*;

/// The session id at the end of an upload Location's path.
fn session_id(location: &str) -> String {
    let path = location.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn post_starts_a_session() {
    let reg = start().await;
    let r = reg.send(Method::POST, "/v2/lib/app/blobs/uploads/").await;
    assert_eq!(r.status(), 202);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-0"));
    assert_eq!(hdr(&r, "content-length").as_deref(), Some("0"));
    let location = hdr(&r, "location").unwrap();
    let id = hdr(&r, "docker-upload-uuid").unwrap();
    assert!(location.starts_with(&reg.url("/v2/lib/app/blobs/uploads/")), "{location}");
    assert_eq!(session_id(&location), id);
    assert!(reg.repo_dir("lib/app").join(format!("_uploads/{id}/startedat")).is_file());

    let r = reg.get(&location).await;
    assert_eq!(r.status(), 204);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-0"));
    assert_eq!(hdr(&r, "docker-upload-uuid"), Some(id));
    reg.stop().await;
}

#[tokio::test]
async fn monolithic_post_with_digest() {
    let reg = start().await;
    let data = b"monolithic";
    let digest = sha256(data);
    let r = reg
        .req(Method::POST, &format!("/v2/a/blobs/uploads/?digest={digest}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "location"), Some(reg.url(&format!("/v2/a/blobs/{digest}"))));
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(reg.get(&format!("/v2/a/blobs/{digest}")).await.bytes().await.unwrap(), &data[..]);
    // No session is left behind.
    let uploads = reg.repo_dir("a").join("_uploads");
    assert!(!uploads.exists() || std::fs::read_dir(uploads).unwrap().next().is_none());
    reg.stop().await;
}

#[tokio::test]
async fn monolithic_post_with_wrong_digest_stores_nothing() {
    let reg = start().await;
    let files = reg.files();
    let wrong = sha256(b"something else");
    let r = reg
        .req(Method::POST, &format!("/v2/fresh/blobs/uploads/?digest={wrong}"))
        .body(b"actual bytes".to_vec())
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    assert_eq!(reg.files(), files, "no file written");
    assert!(!reg.v2().join("blobs").exists());
    assert!(!reg.repo_dir("fresh").join("_layers").exists());
    assert!(!reg.repo_dir("fresh").join("_manifests").exists());
    let catalog = json(reg.get("/v2/_catalog").await).await;
    assert_eq!(catalog["repositories"], serde_json::json!([]));
    reg.stop().await;
}

#[tokio::test]
async fn mount_from_a_repository_that_has_the_blob() {
    let reg = start().await;
    let digest = reg.push_blob("src", b"shared layer").await;
    let r = reg.send(Method::POST, &format!("/v2/dst/blobs/uploads/?mount={digest}&from=src")).await;
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "location"), Some(reg.url(&format!("/v2/dst/blobs/{digest}"))));
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(reg.get(&format!("/v2/dst/blobs/{digest}")).await.bytes().await.unwrap(), &b"shared layer"[..]);
    let link = reg.repo_dir("dst").join(format!("_layers/sha256/{}/link", hex_of(&digest)));
    assert_eq!(std::fs::read_to_string(link).unwrap(), digest);
    assert!(!reg.repo_dir("dst").join("_uploads").exists(), "a mount opens no session");
    reg.stop().await;
}

#[tokio::test]
async fn mount_from_a_repository_without_the_blob_opens_a_session() {
    let reg = start().await;
    let data = b"only in elsewhere";
    let digest = reg.push_blob("elsewhere", data).await;
    reg.push_blob("src", b"something").await;
    for query in
        [format!("mount={digest}&from=src"), format!("mount={digest}&from=nosuchrepo"), format!("mount={digest}")]
    {
        let r = reg.send(Method::POST, &format!("/v2/dst/blobs/uploads/?{query}")).await;
        assert_eq!(r.status(), 202, "{query}");
        assert_eq!(hdr(&r, "range").as_deref(), Some("0-0"));
        let location = hdr(&r, "location").unwrap();
        assert_eq!(session_id(&location), hdr(&r, "docker-upload-uuid").unwrap());
        expect_error(reg.get(&format!("/v2/dst/blobs/{digest}")).await, 404, "BLOB_UNKNOWN").await;
        assert_eq!(reg.delete(&location).await.status(), 204);
    }
    let location = reg.start_upload("dst").await;
    let r = reg.req(Method::PUT, &with_param(&location, "digest", &digest)).body(data.to_vec()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(reg.get(&format!("/v2/dst/blobs/{digest}")).await.status(), 200);
    reg.stop().await;
}

#[tokio::test]
async fn chunked_upload_with_content_range() {
    let reg = start().await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut location = reg.start_upload("c").await;
    let id = session_id(&location);
    let mut offset = 0;
    for piece in data.chunks(30_000) {
        let r = reg.patch(&location, piece, Some((offset, piece.len()))).await;
        assert_eq!(r.status(), 202, "chunk at {offset}");
        offset += piece.len();
        assert_eq!(hdr(&r, "range"), Some(format!("0-{}", offset - 1)));
        assert_eq!(hdr(&r, "docker-upload-uuid"), Some(id.clone()));
        assert_eq!(hdr(&r, "content-length").as_deref(), Some("0"));
        location = hdr(&r, "location").unwrap();
        assert_eq!(session_id(&location), id);

        let status = reg.get(&location).await;
        assert_eq!(status.status(), 204);
        assert_eq!(hdr(&status, "range"), Some(format!("0-{}", offset - 1)));
    }
    let digest = sha256(&data);
    let r = reg.send(Method::PUT, &with_param(&location, "digest", &digest)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "location"), Some(reg.url(&format!("/v2/c/blobs/{digest}"))));
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(reg.get(&format!("/v2/c/blobs/{digest}")).await.bytes().await.unwrap(), data);
    assert!(!reg.repo_dir("c").join(format!("_uploads/{id}")).exists());
    // The session is over.
    expect_error(reg.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(reg.patch(&location, b"more", None).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn put_without_digest_is_digest_invalid_and_keeps_the_session() {
    let reg = start().await;
    let location = reg.start_upload("n").await;
    let r = reg.patch(&location, b"kept", Some((0, 4))).await;
    let location = hdr(&r, "location").unwrap();
    expect_error(reg.send(Method::PUT, &location).await, 400, "DIGEST_INVALID").await;
    expect_error(reg.send(Method::PUT, &with_param(&location, "digest", "sha256:nothex")).await, 400, "DIGEST_INVALID")
        .await;
    assert!(!reg.v2().join("blobs").exists());
    let r = reg.get(&location).await;
    assert_eq!(r.status(), 204);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-3"));
    let r = reg.send(Method::PUT, &with_param(&location, "digest", &sha256(b"kept"))).await;
    assert_eq!(r.status(), 201);
    reg.stop().await;
}

#[tokio::test]
async fn a_chunk_cut_short_appends_nothing() {
    use tokio::io::AsyncWriteExt;
    let reg = start().await;
    let location = reg.start_upload("cut").await;
    let id = session_id(&location);
    let r = reg.patch(&location, b"0123", Some((0, 4))).await;
    let location = hdr(&r, "location").unwrap();
    // Promise 100 bytes, send 10, hang up.
    let target = location.strip_prefix(&reg.base).unwrap();
    let addr = reg.base.strip_prefix("http://").unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head =
        format!("PATCH {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Range: 4-103\r\nContent-Length: 100\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"abcdefghij").await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let r = reg.get(&location).await;
    assert_eq!(r.status(), 204);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-3"), "the cut chunk is not kept");
    assert_eq!(std::fs::read(reg.repo_dir("cut").join(format!("_uploads/{id}/data"))).unwrap(), b"0123");
    let r = reg.patch(&location, b"4567", Some((4, 4))).await;
    assert_eq!(r.status(), 202);
    let digest = sha256(b"01234567");
    let r = reg.send(Method::PUT, &with_param(&hdr(&r, "location").unwrap(), "digest", &digest)).await;
    assert_eq!(r.status(), 201);
    reg.stop().await;
}

#[tokio::test]
async fn out_of_order_and_overlapping_chunks_are_416() {
    let reg = start().await;
    let location = reg.start_upload("c").await;
    let id = session_id(&location);
    let data_file = reg.repo_dir("c").join(format!("_uploads/{id}/data"));
    let r = reg.patch(&location, b"0123456789", Some((0, 10))).await;
    assert_eq!(r.status(), 202);
    let location = hdr(&r, "location").unwrap();

    for start in [20, 5, 0, 11] {
        let r = reg.patch(&location, b"abcdefghij", Some((start, 10))).await;
        assert_eq!(hdr(&r, "range").as_deref(), Some("0-9"), "chunk at {start}");
        expect_error(r, 416, "RANGE_INVALID").await;
        assert_eq!(std::fs::read(&data_file).unwrap(), b"0123456789", "nothing appended");
        let status = reg.get(&location).await;
        assert_eq!(status.status(), 204);
        assert_eq!(hdr(&status, "range").as_deref(), Some("0-9"));
    }
    let r = reg.patch(&location, b"abcdefghij", Some((10, 10))).await;
    assert_eq!(r.status(), 202);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-19"));
    let digest = sha256(b"0123456789abcdefghij");
    let r = reg.send(Method::PUT, &with_param(&hdr(&r, "location").unwrap(), "digest", &digest)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(reg.get(&format!("/v2/c/blobs/{digest}")).await.bytes().await.unwrap(), &b"0123456789abcdefghij"[..]);
    reg.stop().await;
}

#[tokio::test]
async fn streamed_patch_without_content_range() {
    let reg = start().await;
    let location = reg.start_upload("s").await;
    let parts: Vec<Result<Bytes, std::io::Error>> =
        vec![Ok(Bytes::from_static(b"streamed ")), Ok(Bytes::from_static(b"in ")), Ok(Bytes::from_static(b"pieces;"))];
    let r = reg
        .req(Method::PATCH, &location)
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(parts)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-18"));
    // A second PATCH without Content-Range (Content-Length only) appends.
    let r = reg.patch(&hdr(&r, "location").unwrap(), b" then plain;", None).await;
    assert_eq!(r.status(), 202);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-30"));
    // The PUT carries the last chunk.
    let all = b"streamed in pieces; then plain; and the end";
    let digest = sha256(all);
    let r = reg
        .req(Method::PUT, &with_param(&hdr(&r, "location").unwrap(), "digest", &digest))
        .body(b" and the end".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(reg.get(&format!("/v2/s/blobs/{digest}")).await.bytes().await.unwrap(), &all[..]);
    reg.stop().await;
}

#[tokio::test]
async fn put_with_the_whole_blob_after_post() {
    let reg = start().await;
    let location = reg.start_upload("p").await;
    let digest = sha256(b"post then put");
    let r =
        reg.req(Method::PUT, &with_param(&location, "digest", &digest)).body(b"post then put".to_vec()).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(reg.get(&format!("/v2/p/blobs/{digest}")).await.bytes().await.unwrap(), &b"post then put"[..]);
    reg.stop().await;
}

#[tokio::test]
async fn digest_mismatch_on_put_stores_nothing() {
    let reg = start().await;
    let location = reg.start_upload("m").await;
    let id = session_id(&location);
    let r = reg.patch(&location, b"first half ", Some((0, 11))).await;
    assert_eq!(r.status(), 202);
    let location = hdr(&r, "location").unwrap();
    let wrong = sha256(b"first half second half");
    let r = reg.req(Method::PUT, &with_param(&location, "digest", &wrong)).body(b"2nd half".to_vec()).send().await;
    expect_error(r.unwrap(), 400, "DIGEST_INVALID").await;

    assert!(!reg.v2().join("blobs").exists(), "no blob data for any digest");
    assert!(!reg.repo_dir("m").join("_layers").exists());
    assert!(!reg.repo_dir("m").join(format!("_uploads/{id}")).exists());
    expect_error(reg.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(reg.get(&format!("/v2/m/blobs/{wrong}")).await, 404, "BLOB_UNKNOWN").await;
    let actual = sha256(b"first half 2nd half");
    expect_error(reg.get(&format!("/v2/m/blobs/{actual}")).await, 404, "BLOB_UNKNOWN").await;
    reg.stop().await;
}

#[tokio::test]
async fn delete_cancels_the_session() {
    let reg = start().await;
    let location = reg.start_upload("d").await;
    let id = session_id(&location);
    let r = reg.patch(&location, b"abc", Some((0, 3))).await;
    assert_eq!(r.status(), 202);
    let r = reg.delete(&location).await;
    assert_eq!(r.status(), 204);
    assert!(!reg.repo_dir("d").join(format!("_uploads/{id}")).exists());
    expect_error(reg.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(reg.patch(&location, b"def", Some((3, 3))).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(reg.delete(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let put = with_param(&location, "digest", &sha256(b"abc"));
    expect_error(reg.send(Method::PUT, &put).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert!(!reg.v2().join("blobs").exists());
    reg.stop().await;
}

#[tokio::test]
async fn tampered_state_is_blob_upload_invalid() {
    let reg = start().await;
    let location = reg.start_upload("t").await;
    let other = reg.start_upload("other").await;
    let id = session_id(&location);
    let (path, state) = location.split_once("?_state=").unwrap();
    let flipped = format!("{}{}", if state.starts_with('A') { 'B' } else { 'A' }, &state[1..]);
    let foreign_state = other.split_once("?_state=").unwrap().1;
    let data_file = reg.repo_dir("t").join(format!("_uploads/{id}/data"));
    for bad in [
        format!("{path}?_state={flipped}"),
        format!("{path}?_state=garbage!"),
        path.to_owned(),
        format!("{path}?_state={foreign_state}"),
        // The right state, replayed against another repository.
        location.replace("/v2/t/", "/v2/other/"),
    ] {
        expect_error(reg.get(&bad).await, 404, "BLOB_UPLOAD_INVALID").await;
        expect_error(reg.patch(&bad, b"evil", Some((0, 4))).await, 404, "BLOB_UPLOAD_INVALID").await;
        expect_error(reg.patch(&bad, b"evil", None).await, 404, "BLOB_UPLOAD_INVALID").await;
        let put = reg.req(Method::PUT, &with_param(&bad, "digest", &sha256(b"evil"))).body(b"evil".to_vec());
        expect_error(put.send().await.unwrap(), 404, "BLOB_UPLOAD_INVALID").await;
        expect_error(reg.delete(&bad).await, 404, "BLOB_UPLOAD_INVALID").await;
    }
    assert!(!data_file.exists(), "nothing appended");
    assert!(!reg.v2().join("blobs").exists());
    let r = reg.get(&location).await;
    assert_eq!(r.status(), 204);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-0"));
    reg.stop().await;
}

#[tokio::test]
async fn patch_whose_lengths_disagree_is_size_invalid() {
    let reg = start().await;
    let location = reg.start_upload("z").await;
    let id = session_id(&location);
    // Content-Range declares 10 bytes, Content-Length (set by the client) 5.
    let r = reg.patch(&location, b"12345", Some((0, 10))).await;
    expect_error(r, 400, "SIZE_INVALID").await;
    let data_file = reg.repo_dir("z").join(format!("_uploads/{id}/data"));
    assert!(!data_file.exists() || std::fs::metadata(&data_file).unwrap().len() == 0, "nothing appended");
    let r = reg.get(&location).await;
    assert_eq!(r.status(), 204);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-0"));
    reg.stop().await;
}

#[tokio::test]
async fn sha512_digest_on_put() {
    let reg = start().await;
    let data: Vec<u8> = b"sha512 in three chunks".to_vec();
    let mut location = reg.start_upload("five").await;
    let mut offset = 0;
    for piece in data.chunks(8) {
        let r = reg.patch(&location, piece, Some((offset, piece.len()))).await;
        assert_eq!(r.status(), 202);
        offset += piece.len();
        location = hdr(&r, "location").unwrap();
    }
    let digest = sha512(&data);
    let r = reg.send(Method::PUT, &with_param(&location, "digest", &digest)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    let r = reg.get(&format!("/v2/five/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(r.bytes().await.unwrap(), data);
    assert_eq!(std::fs::read(reg.blob_data(&digest)).unwrap(), data);
    assert!(!reg.blob_data(&sha256(&data)).exists());

    // A wrong sha512 is refused like a wrong sha256.
    let location = reg.start_upload("five").await;
    let wrong = sha512(b"not it");
    let r = reg.req(Method::PUT, &with_param(&location, "digest", &wrong)).body(data.clone()).send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    assert!(!reg.blob_data(&wrong).exists());
    reg.stop().await;
}

#[tokio::test]
async fn uploads_on_the_inmemory_driver() {
    let reg = start_memory().await;
    let digest = reg.push_blob_chunked("mem", b"0123456789abcdef", 4).await;
    let r = reg.send(Method::POST, &format!("/v2/dst/blobs/uploads/?mount={digest}&from=mem")).await;
    assert_eq!(r.status(), 201);
    assert_eq!(reg.get(&format!("/v2/dst/blobs/{digest}")).await.bytes().await.unwrap(), &b"0123456789abcdef"[..]);

    let location = reg.start_upload("mem").await;
    let r = reg.patch(&location, b"abc", Some((0, 3))).await;
    let location = hdr(&r, "location").unwrap();
    let r = reg.patch(&location, b"xyz", Some((7, 3))).await;
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-2"));
    expect_error(r, 416, "RANGE_INVALID").await;
    let wrong = sha256(b"wrong");
    expect_error(reg.send(Method::PUT, &with_param(&location, "digest", &wrong)).await, 400, "DIGEST_INVALID").await;
    expect_error(reg.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(reg.get(&format!("/v2/mem/blobs/{}", sha256(b"abc"))).await, 404, "BLOB_UNKNOWN").await;
    reg.stop().await;
}
