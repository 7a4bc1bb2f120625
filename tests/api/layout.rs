//! The on-disk layout: distribution's paths and link contents, so a root
//! written by berth can be served by distribution and the other way round.

use std::fs;

use reqwest::Method;

use crate::common::*;

/// The content of a link file.
fn link(reg: &Registry, name: &str, rel: &str) -> String {
    let path = reg.repo_dir(name).join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn a_push_writes_distribution_paths() {
    let reg = start().await;
    let name = "library/ubuntu";
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = b"layer data";
    let config_digest = reg.push_blob(name, config).await;
    let layer_digest = reg.push_blob_chunked(name, layer, 4).await;
    let body = image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, config), &[Desc::of(OCI_LAYER, layer)], "");
    let digest = reg.push_manifest(name, "jammy", OCI_MANIFEST, &body).await;

    for (d, bytes) in [(&config_digest, &config[..]), (&layer_digest, &layer[..]), (&digest, &body[..])] {
        let h = hex_of(d);
        let data = reg.v2().join(format!("blobs/sha256/{}/{h}/data", &h[..2]));
        assert_eq!(fs::read(&data).unwrap(), bytes, "{}", data.display());
    }
    for d in [&config_digest, &layer_digest] {
        assert_eq!(&link(&reg, name, &format!("_layers/sha256/{}/link", hex_of(d))), d);
    }
    let h = hex_of(&digest);
    assert_eq!(link(&reg, name, &format!("_manifests/revisions/sha256/{h}/link")), digest);
    assert_eq!(link(&reg, name, "_manifests/tags/jammy/current/link"), digest);
    assert_eq!(link(&reg, name, &format!("_manifests/tags/jammy/index/sha256/{h}/link")), digest);

    // The manifest is not a layer of the repository; sessions are gone; no
    // temporary file is left.
    assert!(!reg.repo_dir(name).join(format!("_layers/sha256/{h}")).exists());
    let uploads = reg.repo_dir(name).join("_uploads");
    assert!(!uploads.exists() || fs::read_dir(&uploads).unwrap().next().is_none());
    assert_eq!(fs::read_dir(reg.tmp().join("root/.berth-tmp")).unwrap().count(), 0);
    // Only distribution's top-level directories.
    let mut top: Vec<String> =
        fs::read_dir(reg.v2()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    top.sort();
    assert_eq!(top, ["blobs", "repositories"]);
    reg.stop().await;
}

#[tokio::test]
async fn an_upload_session_lives_under_uploads() {
    let reg = start().await;
    let location = reg.start_upload("up").await;
    let id = location.split('?').next().unwrap().rsplit('/').next().unwrap().to_owned();
    let dir = reg.repo_dir("up").join(format!("_uploads/{id}"));
    let started = fs::read_to_string(dir.join("startedat")).unwrap();
    assert!(started.len() >= 20 && started.as_bytes()[4] == b'-' && started.contains('T'), "RFC 3339: {started}");
    let r = reg.patch(&location, b"abcdef", Some((0, 6))).await;
    assert_eq!(r.status(), 202);
    assert_eq!(fs::read(dir.join("data")).unwrap(), b"abcdef");
    let digest = sha256(b"abcdef");
    let r = reg.send(Method::PUT, &with_param(&hdr(&r, "location").unwrap(), "digest", &digest)).await;
    assert_eq!(r.status(), 201);
    assert!(!dir.exists());
    assert_eq!(fs::read(reg.blob_data(&digest)).unwrap(), b"abcdef");
    reg.stop().await;
}

#[tokio::test]
async fn retagging_keeps_the_tag_history() {
    let reg = start().await;
    let (first, _) = reg.push_image("t", "v1", "one").await;
    let (second, body) = reg.push_image("t", "v1", "two").await;
    assert_eq!(link(&reg, "t", "_manifests/tags/v1/current/link"), second);
    for d in [&first, &second] {
        assert_eq!(&link(&reg, "t", &format!("_manifests/tags/v1/index/sha256/{}/link", hex_of(d))), d);
        assert_eq!(&link(&reg, "t", &format!("_manifests/revisions/sha256/{}/link", hex_of(d))), d);
    }
    let r = reg.get("/v2/t/manifests/v1").await;
    assert_eq!(hdr(&r, "docker-content-digest"), Some(second));
    assert_eq!(r.bytes().await.unwrap(), body);
    reg.stop().await;
}

#[tokio::test]
async fn a_mount_links_without_copying() {
    let reg = start().await;
    let digest = reg.push_blob("src", b"mounted").await;
    let files = reg.files();
    let r = reg.send(Method::POST, &format!("/v2/dst/blobs/uploads/?mount={digest}&from=src")).await;
    assert_eq!(r.status(), 201);
    let added: Vec<String> = reg.files().difference(&files).cloned().collect();
    assert_eq!(added, [format!("root/docker/registry/v2/repositories/dst/_layers/sha256/{}/link", hex_of(&digest))]);
    assert_eq!(link(&reg, "dst", &format!("_layers/sha256/{}/link", hex_of(&digest))), digest);
    reg.stop().await;
}

#[tokio::test]
async fn a_root_written_in_distribution_layout_is_served() {
    let reg = start().await;
    // Write by hand what distribution would have written.
    let layer = b"written by distribution";
    let config = br#"{"os":"linux"}"#;
    let body = image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, config), &[Desc::of(OCI_LAYER, layer)], "");
    let write = |rel: String, data: &[u8]| {
        let path = reg.v2().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    };
    for data in [&layer[..], &config[..], &body[..]] {
        let d = sha256(data);
        let h = hex_of(&d);
        write(format!("blobs/sha256/{}/{h}/data", &h[..2]), data);
    }
    for data in [&layer[..], &config[..]] {
        let d = sha256(data);
        write(format!("repositories/old/repo/_layers/sha256/{}/link", hex_of(&d)), d.as_bytes());
    }
    let d = sha256(&body);
    let h = hex_of(&d);
    write(format!("repositories/old/repo/_manifests/revisions/sha256/{h}/link"), d.as_bytes());
    write("repositories/old/repo/_manifests/tags/v1/current/link".into(), d.as_bytes());
    write(format!("repositories/old/repo/_manifests/tags/v1/index/sha256/{h}/link"), d.as_bytes());

    let r = reg.get("/v2/old/repo/manifests/v1").await;
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "content-type").as_deref(), Some(OCI_MANIFEST));
    assert_eq!(r.bytes().await.unwrap(), body);
    assert_eq!(reg.get(&format!("/v2/old/repo/blobs/{}", sha256(layer))).await.bytes().await.unwrap(), &layer[..]);
    assert_eq!(json(reg.get("/v2/_catalog").await).await["repositories"], serde_json::json!(["old/repo"]));
    assert_eq!(json(reg.get("/v2/old/repo/tags/list").await).await["tags"], serde_json::json!(["v1"]));

    // An artifact distribution stored (a revision, no `_referrers` entry) is
    // a referrer of its subject.
    let artifact = image_manifest(
        Some(OCI_MANIFEST),
        &Desc::empty(),
        &[Desc::empty()],
        &format!(r#","artifactType":"application/vnd.example.old","subject":{}"#, Desc::of(OCI_MANIFEST, &body).json()),
    );
    let a = sha256(&artifact);
    write(format!("blobs/sha256/{}/{}/data", &hex_of(&a)[..2], hex_of(&a)), &artifact);
    write(format!("repositories/old/repo/_manifests/revisions/sha256/{}/link", hex_of(&a)), a.as_bytes());
    let list = json(reg.get(&format!("/v2/old/repo/referrers/{d}")).await).await;
    assert_eq!(list["manifests"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["manifests"][0]["digest"], a);
    assert_eq!(list["manifests"][0]["artifactType"], "application/vnd.example.old");
    reg.stop().await;
}
