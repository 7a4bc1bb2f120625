//! `berth ls`, `berth tags` and `berth image inspect`: the real binary
//! against a real server started here (pushed to over HTTP), with pages,
//! prefixes, JSON output compared to what was pushed, htpasswd over TLS with
//! `--cacert`, and a fake registry whose bytes do not match their digests.
//! `berth tag copy|promote|history|rollback` are in `client_cli/lifecycle.rs`.

// The api tests' helpers; this suite uses a few of them.
#[allow(dead_code)]
#[path = "api/common.rs"]
mod common;
#[path = "support/fake_http.rs"]
mod fake_http;
#[path = "client_cli/lifecycle.rs"]
mod lifecycle;
#[path = "client_cli/token.rs"]
mod token;
#[path = "support/token_issuer.rs"]
mod token_issuer;

use std::{
    io::Write,
    process::{Command, Stdio},
};

use common::*;
use fake_http::{fake_http, request_path};
use serde_json::{Value, json};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// What a command did: success, stdout, stderr.
#[derive(Debug)]
struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// Stdout as JSON, after checking the command succeeded quietly.
    fn json(&self) -> Value {
        assert!(self.ok && self.stderr.is_empty(), "{self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// Stdout's lines, after checking the command succeeded quietly (no
    /// progress line: stderr is no terminal here).
    fn lines(&self) -> Vec<&str> {
        assert!(self.ok && self.stderr.is_empty(), "{self:?}");
        self.stdout.lines().collect()
    }

    /// Checks the command failed saying `text`.
    fn fails_with(&self, text: &str) {
        assert!(!self.ok && self.stderr.contains(text) && self.stdout.is_empty(), "{text}: {self:?}");
    }
}

/// Runs `berth ARGS --registry URL` with only the BERTH_* variables in
/// `env`, `stdin` written to it. Blocking is off the runtime's threads,
/// where the server being asked runs.
async fn berth(url: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Outcome {
    let mut cmd = Command::new(BERTH);
    cmd.args(args).arg("--registry").arg(url);
    for var in ["BERTH_REGISTRY", "BERTH_USERNAME", "BERTH_PASSWORD"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Outcome { ok: out.status.success(), stdout: text(&out.stdout), stderr: text(&out.stderr) }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn ls_follows_the_catalog_pages_and_filters_by_prefix() {
    let reg = start_with(true, "catalog:\n  maxentries: 2\n").await;
    let names = ["a", "a/b", "a/b/c", "a-b", "library/x", "library/y", "libraryx"];
    for name in names {
        reg.push_image(name, "v1", name).await;
    }
    let first = reg.get("/v2/_catalog").await;
    assert!(hdr(&first, "link").is_some(), "pages of 2: the listing must follow links");

    assert_eq!(berth(&reg.base, &["ls"], &[], "").await.lines(), names);
    assert_eq!(berth(&reg.base, &["ls", "-n", "1"], &[], "").await.lines(), names);
    assert_eq!(berth(&reg.base, &["ls", "a/b"], &[], "").await.lines(), ["a/b", "a/b/c"]);
    assert_eq!(berth(&reg.base, &["ls", "a"], &[], "").await.lines(), ["a", "a/b", "a/b/c"]);
    assert_eq!(berth(&reg.base, &["ls", "library"], &[], "").await.lines(), ["library/x", "library/y"]);
    assert_eq!(berth(&reg.base, &["ls", "nothing/"], &[], "").await.stdout, "");
    let json = berth(&reg.base, &["ls", "library/", "--json"], &[], "").await.json();
    assert_eq!(json, json!({ "repositories": ["library/x", "library/y"] }));

    berth(&reg.base, &["ls", "-n", "3"], &[], "").await.fails_with("berth: ls: PAGINATION_NUMBER_INVALID");
    berth(&reg.base, &["ls", "Bad!"], &[], "").await.fails_with("\"Bad!\"");
    reg.stop().await;
}

#[tokio::test]
async fn tags_follow_pages() {
    let reg = start().await;
    let (digest, _) = reg.push_image("app", "t0", "tags").await;
    let manifest = reg.get(&format!("/v2/app/manifests/{digest}")).await.bytes().await.unwrap();
    let tags = ["t0", "t1", "t2", "t3", "t4"];
    for tag in &tags[1..] {
        reg.push_manifest("app", tag, OCI_MANIFEST, &manifest).await;
    }
    let first = reg.get("/v2/app/tags/list?n=2").await;
    assert!(hdr(&first, "link").is_some(), "pages of 2: the listing must follow links");
    assert_eq!(berth(&reg.base, &["tags", "app", "-n", "2"], &[], "").await.lines(), tags);
    assert_eq!(berth(&reg.base, &["tags", "app"], &[], "").await.lines(), tags);
    let json = berth(&reg.base, &["tags", "app", "--page-size", "4", "--json"], &[], "").await.json();
    assert_eq!(json, json!({ "name": "app", "tags": tags }));
    berth(&reg.base, &["tags", "nope"], &[], "").await.fails_with("berth: tags: NAME_UNKNOWN");
    reg.stop().await;
}

/// Pushes an image for one platform: a config with os, architecture,
/// variant and created, and two layers. Returns the manifest's descriptor,
/// the config's and the layers'.
async fn push_platform(reg: &Registry, arch: &str, variant: &str) -> (Desc, Desc, Vec<Desc>) {
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","variant":"{variant}","created":"2024-05-0{}T10:00:00Z","rootfs":{{"type":"layers","diff_ids":[]}}}}"#,
        arch.len()
    );
    let layers: Vec<Vec<u8>> = (0..2).map(|i| format!("layer {i} of {arch}").repeat(i + 1).into_bytes()).collect();
    reg.push_blob("multi", config.as_bytes()).await;
    for layer in &layers {
        reg.push_blob("multi", layer).await;
    }
    let config = Desc::of(OCI_CONFIG, config.as_bytes());
    let layers: Vec<Desc> = layers.iter().map(|l| Desc::of(OCI_LAYER, l)).collect();
    let body = image_manifest(Some(OCI_MANIFEST), &config, &layers, "");
    reg.push_manifest("multi", arch, OCI_MANIFEST, &body).await;
    (Desc::of(OCI_MANIFEST, &body), config, layers)
}

fn descriptor(d: &Desc) -> Value {
    json!({ "mediaType": d.media_type, "digest": d.digest, "size": d.size })
}

#[tokio::test]
async fn inspect_an_image_an_index_and_its_referrers() {
    let reg = start().await;
    let (amd64, amd64_config, amd64_layers) = push_platform(&reg, "amd64", "v3").await;
    let (arm64, _, _) = push_platform(&reg, "arm64", "v8").await;
    let platform = |d: &Desc, arch: &str, variant: &str| {
        let entry = format!(r#""platform":{{"architecture":"{arch}","os":"linux","variant":"{variant}"}}"#);
        format!(r#"{{"mediaType":"{}","digest":"{}","size":{},{entry}}}"#, d.media_type, d.digest, d.size)
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{}]}}"#,
        platform(&amd64, "amd64", "v3"),
        platform(&arm64, "arm64", "v8")
    );
    let index_digest = reg.push_manifest("multi", "latest", OCI_INDEX, index.as_bytes()).await;
    reg.push_blob("multi", b"{}").await;
    let subject = format!(
        r#","artifactType":"application/vnd.example.sbom","subject":{}"#,
        Desc::of(OCI_INDEX, index.as_bytes()).json()
    );
    let sbom = image_manifest(Some(OCI_MANIFEST), &Desc::empty(), &[Desc::empty()], &subject);
    let sbom_digest = reg.push_manifest("multi", &sha256(&sbom), OCI_MANIFEST, &sbom).await;

    let found = berth(&reg.base, &["image", "inspect", "multi:latest", "--json"], &[], "").await.json();
    let expected_index = json!({
        "name": "multi", "reference": "latest", "digest": index_digest, "mediaType": OCI_INDEX, "size": index.len(),
        "manifests": [
            { "mediaType": OCI_MANIFEST, "digest": amd64.digest, "size": amd64.size,
              "platform": { "os": "linux", "architecture": "amd64", "variant": "v3" } },
            { "mediaType": OCI_MANIFEST, "digest": arm64.digest, "size": arm64.size,
              "platform": { "os": "linux", "architecture": "arm64", "variant": "v8" } },
        ],
        "referrers": [{ "mediaType": OCI_MANIFEST, "digest": sbom_digest, "size": sbom.len(),
                        "artifactType": "application/vnd.example.sbom" }],
    });
    assert_eq!(found, expected_index);
    let by_digest = berth(&reg.base, &["image", "inspect", &format!("multi@{index_digest}"), "--json"], &[], "").await;
    let mut expected_by_digest = expected_index.clone();
    expected_by_digest["reference"] = json!(index_digest);
    assert_eq!(by_digest.json(), expected_by_digest);

    let image = berth(&reg.base, &["image", "inspect", &format!("multi@{}", amd64.digest), "--json"], &[], "").await;
    let total = amd64.size + amd64_config.size + amd64_layers.iter().map(|l| l.size).sum::<usize>();
    assert_eq!(
        image.json(),
        json!({
            "name": "multi", "reference": amd64.digest, "digest": amd64.digest, "mediaType": OCI_MANIFEST,
            "size": amd64.size, "config": descriptor(&amd64_config),
            "platform": { "os": "linux", "architecture": "amd64", "variant": "v3" },
            "created": "2024-05-05T10:00:00Z",
            "layers": amd64_layers.iter().map(descriptor).collect::<Vec<_>>(),
            "totalSize": total, "referrers": [],
        })
    );

    let plain = berth(&reg.base, &["image", "inspect", "multi:amd64"], &[], "").await;
    let lines = plain.lines();
    assert_eq!(lines[1], format!("digest:       {}", amd64.digest));
    assert!(lines.contains(&"platform:     linux/amd64/v3"), "{lines:?}");
    assert!(lines.contains(&format!("total size:   {total}").as_str()), "{lines:?}");
    let layer = &amd64_layers[1];
    assert!(lines.contains(&format!("  {} {} {OCI_LAYER}", layer.digest, layer.size).as_str()), "{lines:?}");
    assert!(lines.contains(&"referrers:    none"), "{lines:?}");
    let plain = berth(&reg.base, &["image", "inspect", "multi:latest"], &[], "").await;
    let line = format!("  linux/arm64/v8 {} {} {OCI_MANIFEST}", arm64.digest, arm64.size);
    assert!(plain.lines().contains(&line.as_str()), "{plain:?}");
    assert!(plain.stdout.contains(&format!("  {sbom_digest} application/vnd.example.sbom")), "{plain:?}");

    berth(&reg.base, &["image", "inspect", "multi:nope"], &[], "").await.fails_with("MANIFEST_UNKNOWN");
    berth(&reg.base, &["image", "inspect", "multi"], &[], "").await.fails_with("expected NAME:TAG or NAME@DIGEST");
    reg.stop().await;
}

/// An image whose config is `config` (pushed as is); the manifest's bytes.
fn fake_image(config: &[u8]) -> Vec<u8> {
    image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, config), &[Desc::of(OCI_LAYER, b"layer")], "")
}

#[tokio::test]
async fn inspect_refuses_bytes_that_do_not_hash_to_their_digest() {
    let manifest = fake_image(br#"{"os":"linux","architecture":"amd64"}"#);
    let digest = sha256(&manifest);
    let other = sha256(b"something else");
    let (served, announced) = (manifest.clone(), other.clone());
    let url = fake_http(move |head| match request_path(head) {
        "/v2/lying/manifests/v1" => (format!("200 OK\r\nDocker-Content-Digest: {announced}"), served.clone()),
        _ => ("200 OK".into(), served.clone()),
    });
    let lying = berth(&url, &["image", "inspect", "lying:v1"], &[], "").await;
    lying.fails_with(&format!("the manifest lying:v1: the bytes hash to {digest}, not {other}; refusing them"));
    // No Docker-Content-Digest at all: the digest asked for is the check.
    let asked = berth(&url, &["image", "inspect", &format!("other@{other}")], &[], "").await;
    asked.fails_with(&format!("the bytes hash to {digest}, not {other}"));
}

#[tokio::test]
async fn inspect_checks_the_config_follows_its_redirect_and_takes_no_referrers_api() {
    let config = br#"{"os":"linux","architecture":"riscv64"}"#.to_vec();
    let (good, bad) = (fake_image(&config), fake_image(br#"{"os":"linux","architecture":"tampered"}"#));
    let (good_digest, config_digest) = (sha256(&good), sha256(&config));
    let served = (good.clone(), bad.clone(), config.clone());
    let url = fake_http(move |head| {
        let (good, bad, config) = &served;
        match request_path(head) {
            "/v2/app/manifests/good" => ("200 OK".into(), good.clone()),
            "/v2/app/manifests/bad" => ("200 OK".into(), bad.clone()),
            p if p.starts_with("/v2/app/blobs/") => ("307 Temporary Redirect\r\nLocation: /cdn/config".into(), vec![]),
            "/cdn/config" => ("200 OK".into(), config.clone()),
            _ => ("404 Not Found".into(), b"404 page not found".to_vec()),
        }
    });
    let found = berth(&url, &["image", "inspect", "app:good", "--json"], &[], "").await.json();
    assert_eq!(found["digest"], good_digest);
    assert_eq!(found["config"]["digest"], config_digest);
    assert_eq!(found["platform"], json!({ "os": "linux", "architecture": "riscv64" }));
    assert_eq!(found["referrers"], Value::Null, "a 404 is no referrers API");
    let plain = berth(&url, &["image", "inspect", "app:good"], &[], "").await;
    assert!(plain.lines().contains(&"referrers:    (the registry has no referrers API)"), "{plain:?}");
    // The bad manifest names a config whose bytes the CDN does not have.
    let tampered = sha256(br#"{"os":"linux","architecture":"tampered"}"#);
    let bad = berth(&url, &["image", "inspect", "app:bad"], &[], "").await;
    bad.fails_with(&format!("the blob app@{tampered}: the bytes hash to {config_digest}, not {tampered}"));
}

#[tokio::test]
async fn listing_and_inspecting_over_tls_with_htpasswd() {
    let plain = start().await;
    let (digest, manifest) = plain.push_image("secure/app", "v1", "tls").await;
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_file, key_file, passwords) =
        (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("htpasswd"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, signing_key.serialize_pem()).unwrap();
    std::fs::write(&passwords, format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    // A second server on the first one's storage root, with TLS and htpasswd.
    let secure = start_config(&format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: '{}'\n    key: '{}'\nauth:\n  htpasswd:\n    realm: berth\n    path: '{}'\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n",
        cert_file.display(),
        key_file.display(),
        passwords.display(),
        plain.tmp().join("root").display()
    ))
    .await;
    let url = secure.base.replace("http://", "https://");
    let ca = cert_file.to_str().unwrap();
    let env = [("BERTH_USERNAME", "alice"), ("BERTH_PASSWORD", "s3cret")];

    berth(&url, &["ls", "--cacert", ca], &[], "").await.fails_with("asks for credentials");
    berth(&url, &["ls"], &env, "").await.fails_with("certificate");
    let wrong = berth(&url, &["ls", "--cacert", ca, "-u", "alice", "--password-stdin"], &[], "nope\n").await;
    wrong.fails_with("UNAUTHORIZED");
    let ls = berth(&url, &["ls", "--cacert", ca, "-u", "alice", "--password-stdin"], &[], "s3cret\n").await;
    assert_eq!(ls.lines(), ["secure/app"]);
    assert_eq!(berth(&url, &["tags", "secure/app", "--cacert", ca], &env, "").await.lines(), ["v1"]);
    let found = berth(&url, &["image", "inspect", "secure/app:v1", "--cacert", ca, "--json"], &env, "").await.json();
    assert_eq!((&found["digest"], &found["size"]), (&json!(digest), &json!(manifest.len())));
    assert_eq!(found["platform"], json!({ "os": "linux", "architecture": "amd64" }));
    secure.stop().await;
    plain.stop().await;
}

/// On a terminal (a pseudo-terminal from `script`), `ls` shows its progress
/// on stderr and erases it before printing.
#[tokio::test]
async fn progress_on_a_terminal_only() {
    let reg = start_with(true, "catalog:\n  maxentries: 1\n").await;
    for name in ["p1", "p2", "p3"] {
        reg.push_image(name, "v1", name).await;
    }
    let command = format!("env -u BERTH_USERNAME -u BERTH_PASSWORD {BERTH} ls --registry {}", reg.base);
    let transcript = tokio::task::spawn_blocking(move || {
        Command::new("script").args(["-qefc", &command, "/dev/null"]).stdin(Stdio::null()).output().unwrap()
    })
    .await
    .unwrap();
    assert!(transcript.status.success(), "{transcript:?}");
    let text = String::from_utf8_lossy(&transcript.stdout);
    let erased = "\r\x1b[2K";
    let expected = format!(
        "{erased}listing repositories: 1 read, 1 shown{erased}listing repositories: 2 read, 2 shown\
         {erased}listing repositories: 3 read, 3 shown{erased}p1\r\np2\r\np3\r\n"
    );
    assert_eq!(text, expected);
    // Not a terminal: nothing on stderr (checked by `lines`).
    assert_eq!(berth(&reg.base, &["ls"], &[], "").await.lines(), ["p1", "p2", "p3"]);
    reg.stop().await;
}

/// `berth ls | head -1` closes stdout before berth writes: not a failure,
/// and no panic.
#[tokio::test]
async fn ls_survives_a_closed_stdout() {
    let reg = start().await;
    reg.push_image("closed", "v1", "closed").await;
    let url = reg.base.clone();
    let status = tokio::task::spawn_blocking(move || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = Command::new(BERTH);
        cmd.args(["ls", "--registry", &url]).stdout(writer).stderr(Stdio::piped());
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(status.status.success() && status.stderr.is_empty(), "{status:?}");
    reg.stop().await;
}

/// A `Link` elsewhere would take the credentials along, and one back to a
/// page already read would never end: both are refused.
#[tokio::test]
async fn ls_refuses_links_to_other_origins_and_loops() {
    let page = |link: &str| (format!("200 OK\r\nLink: <{link}>; rel=\"next\""), br#"{"repositories":["a"]}"#.to_vec());
    let url = fake_http(move |head| match request_path(head) {
        "/v2/_catalog" => page("http://127.0.0.2:9/v2/_catalog?last=a"),
        "/v2/_catalog?n=1" => page("/v2/_catalog?last=a&n=1"),
        _ => page("/v2/_catalog?n=1"),
    });
    let elsewhere = berth(&url, &["ls"], &[], "").await;
    elsewhere.fails_with("refusing to follow its Link to http://127.0.0.2:9/v2/_catalog?last=a");
    let looping = berth(&url, &["ls", "-n", "1"], &[], "").await;
    looping.fails_with(&format!("refusing to follow its Link to {url}/v2/_catalog?n=1"));
}
