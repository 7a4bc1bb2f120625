//! Repository names, references and upload ids that try to leave the
//! storage root: refused, and nothing is created anywhere.

use crate::common::*;

#[tokio::test]
async fn traversal_and_invalid_names_are_refused_and_create_nothing() {
    let reg = start().await;
    let digest = reg.push_blob("ok", b"existing").await;
    let before = reg.snapshot();
    let long = "a".repeat(256);
    let long_nested = format!("{}/{}", "a".repeat(128), "b".repeat(127));
    let names = [
        "..",
        "../evil",
        "a/../../evil",
        "../../../../../../tmp/evil",
        "%2e%2e",
        "%2e%2e/evil",
        "%2E%2E/%2e%2e/evil",
        "a/%2e%2e/%2e%2e/evil",
        "a%2F..%2F..%2Fevil",
        ".",
        "./a",
        "a//b",
        "/a",
        "a/",
        "Upper",
        "a/Upper",
        "_uploads",
        "a/_layers",
        "a..b",
        "a%00b",
        long.as_str(),
        long_nested.as_str(),
    ];
    for name in names {
        for (method, path) in [
            ("POST", format!("/v2/{name}/blobs/uploads/")),
            ("POST", format!("/v2/{name}/blobs/uploads/?digest={digest}")),
            ("PUT", format!("/v2/{name}/manifests/latest")),
            ("GET", format!("/v2/{name}/manifests/latest")),
            ("DELETE", format!("/v2/{name}/manifests/{digest}")),
            ("GET", format!("/v2/{name}/blobs/{digest}")),
            ("DELETE", format!("/v2/{name}/blobs/{digest}")),
            ("GET", format!("/v2/{name}/tags/list")),
            ("GET", format!("/v2/{name}/referrers/{digest}")),
            ("PATCH", format!("/v2/{name}/blobs/uploads/00000000-0000-0000-0000-000000000000?_state=x")),
        ] {
            let (status, body) = reg.raw(method, &path).await;
            assert_eq!(status, 400, "{method} {path}: {body}");
            assert_eq!(codes_of(body.as_bytes()), ["NAME_INVALID"], "{method} {path}");
        }
    }
    // A mount whose source name is a traversal.
    for from in ["..%2F..%2Fevil", "%2e%2e", "Upper", long.as_str()] {
        let (status, body) = reg.raw("POST", &format!("/v2/ok2/blobs/uploads/?mount={digest}&from={from}")).await;
        assert_eq!(status, 400, "from={from}: {body}");
        assert_eq!(codes_of(body.as_bytes()), ["NAME_INVALID"], "from={from}");
    }
    assert_eq!(reg.snapshot(), before, "nothing created in the root");
    assert_eq!(std::fs::read_dir(reg.tmp()).unwrap().count(), 1, "nothing beside the root");
    reg.stop().await;
}

#[tokio::test]
async fn traversal_in_references_digests_and_upload_ids_creates_nothing() {
    let reg = start().await;
    let digest = reg.push_blob("ok", b"existing").await;
    let location = reg.start_upload("ok").await;
    let state = location.split_once("_state=").unwrap().1.to_owned();
    let before = reg.snapshot();
    for (method, path, allowed) in [
        ("PUT", "/v2/ok/manifests/..%2F..%2F..%2Fevil".to_owned(), &["TAG_INVALID"][..]),
        ("PUT", "/v2/ok/manifests/%2e%2e".to_owned(), &["TAG_INVALID"]),
        ("PUT", "/v2/ok/manifests/sha256:..%2F..%2Fevil".to_owned(), &["DIGEST_INVALID"]),
        ("GET", "/v2/ok/blobs/..%2F..%2F..%2Fetc%2Fpasswd".to_owned(), &["DIGEST_INVALID"]),
        ("GET", "/v2/ok/blobs/sha256:..%2F..%2F..%2Fetc%2Fpasswd".to_owned(), &["DIGEST_INVALID"]),
        ("POST", "/v2/ok/blobs/uploads/?digest=sha256:..%2F..%2Fevil".to_owned(), &["DIGEST_INVALID"]),
        ("POST", "/v2/ok/blobs/uploads/?mount=sha256:..%2Fevil&from=ok".to_owned(), &["DIGEST_INVALID"]),
        ("GET", "/v2/ok/referrers/..%2F..%2Fevil".to_owned(), &["DIGEST_INVALID"]),
        (
            "PATCH",
            format!("/v2/ok/blobs/uploads/..%2F..%2F..%2Fevil?_state={state}"),
            &["BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN"],
        ),
        ("PUT", format!("/v2/ok/blobs/uploads/..?_state={state}&digest={digest}"), &["BLOB_UPLOAD_INVALID"]),
    ] {
        let (status, body) = reg.raw(method, &path).await;
        assert!(status == 400 || status == 404, "{method} {path}: {status} {body}");
        let codes = codes_of(body.as_bytes());
        assert!(codes.len() == 1 && allowed.contains(&codes[0].as_str()), "{method} {path}: {codes:?}");
    }
    assert_eq!(reg.snapshot(), before, "nothing created in the root");
    assert_eq!(std::fs::read_dir(reg.tmp()).unwrap().count(), 1, "nothing beside the root");
    reg.stop().await;
}

#[tokio::test]
async fn longest_valid_name_works() {
    let reg = start().await;
    let name = format!("{}/{}", "a".repeat(127), "b".repeat(127));
    assert_eq!(name.len(), 255);
    let digest = reg.push_blob(&name, b"long name").await;
    assert_eq!(reg.get(&format!("/v2/{name}/blobs/{digest}")).await.status(), 200);
    reg.stop().await;
}
