//! The `berth` binary: configuration errors stop startup naming the key, a
//! config file (argument or REGISTRY_CONFIGURATION_PATH) is honoured, the
//! listen address is printed, and SIGTERM stops it cleanly.

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let root = dir.join("root");
    let path = dir.join("config.yml");
    let text = format!(
        "version: 0.1\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: {}\n{extra}",
        root.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A berth process that is killed if a test ends (or panics) with it running.
struct Berth(Child);

impl std::ops::Deref for Berth {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Berth {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn(cmd: &mut Command) -> Berth {
    Berth(cmd.spawn().unwrap())
}

/// Starts berth and reads the address it prints.
fn start(cmd: &mut Command) -> (Berth, String) {
    let mut child = spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::null()));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("berth listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    (child, addr)
}

fn stop(mut child: Berth) -> std::process::ExitStatus {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap()
}

fn get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn unknown_and_unsupported_keys_stop_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in
        [("bogus: 1\n", "bogus"), ("redis:\n  addr: localhost:6379\n  mastername: m\n", "redis.mastername")]
    {
        let config = write_config(dir.path(), extra);
        let out = Command::new(BERTH).arg("serve").arg(&config).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("`{key}`")), "{stderr}");
        assert!(!dir.path().join("root").exists(), "nothing created before the config is valid");
    }
}

#[test]
fn serves_the_config_given_as_argument_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("http:\n", "http:\n  headers:\n    X-Test: [hello]\n")).unwrap();
    let (child, addr) = start(Command::new(BERTH).arg("serve").arg(&config));
    let reply = get(&addr, "/v2/");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("docker-distribution-api-version: registry/2.0"), "{reply}");
    assert!(reply.contains("x-test: hello"), "{reply}");
    assert!(dir.path().join("root/.berth-tmp").is_dir(), "storage root from the config");
    assert!(stop(child).success());
}

#[test]
fn reads_registry_configuration_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let (child, addr) = start(Command::new(BERTH).arg("serve").env("REGISTRY_CONFIGURATION_PATH", &config));
    assert!(get(&addr, "/v2/_catalog").contains(r#"{"repositories":[]}"#));
    assert!(dir.path().join("root").is_dir());
    assert!(stop(child).success());
}

#[test]
fn serves_on_a_unix_socket() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("berth.sock");
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("  addr: 127.0.0.1:0\n", &format!("  net: unix\n  addr: '{}'\n", socket.display()));
    std::fs::write(&config, text).unwrap();
    let mut child = spawn(Command::new(BERTH).arg("serve").arg(&config).stdout(Stdio::piped()).stderr(Stdio::null()));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("berth listening on unix:{}", socket.display()));
    let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    write!(s, "GET /v2/ HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(stop(child).success());
}

#[test]
fn json_logs_with_fields_and_a_combined_access_log_without_credentials() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "log:\n  formatter: json\n  fields:\n    service: registry\n");
    let mut child = spawn(Command::new(BERTH).arg("serve").arg(&config).stdout(Stdio::piped()).stderr(Stdio::piped()));
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("berth listening on http://").unwrap().to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic c2VjcmV0OnBhc3N3b3Jk\r\nUser-Agent: cli-test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let mut origin = String::new();
    stdout.read_line(&mut origin).unwrap();
    assert_eq!(origin.trim(), format!("berth configuration: {}", config.display()));
    let mut access = String::new();
    stdout.read_line(&mut access).unwrap();
    assert!(
        access.starts_with("127.0.0.1 - - [")
            && access.trim_end().ends_with(r#""GET /v2/ HTTP/1.1" 200 2 "" "cli-test""#),
        "{access}"
    );
    let mut err = child.stderr.take().unwrap();
    assert!(stop(child).success());
    let mut stderr = String::new();
    err.read_to_string(&mut stderr).unwrap();
    let completed = stderr.lines().find(|l| l.contains("response completed")).unwrap_or_else(|| panic!("{stderr}"));
    let json: serde_json::Value = serde_json::from_str(completed).unwrap();
    assert_eq!(json["service"], "registry");
    assert_eq!(json["level"], "info");
    assert_eq!(json["http.response.status"], "200");
    for secret in ["c2VjcmV0", "password", "Authorization"] {
        assert!(!stderr.contains(secret) && !access.contains(secret), "{secret} logged");
    }
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_within_the_drain_timeout() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap().replace("http:\n", "http:\n  draintimeout: 10s\n");
    std::fs::write(&config, text).unwrap();
    let (child, addr) = start(Command::new(BERTH).arg("serve").arg(&config));
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "POST /v2/drain/blobs/uploads/ HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut head = [0u8; 4096];
    let n = s.read(&mut head).unwrap();
    let reply = String::from_utf8_lossy(&head[..n]).into_owned();
    let location = reply
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_else(|| panic!("{reply}"))
        .trim()
        .trim_start_matches(&format!("http://{addr}"))
        .to_owned();
    write!(s, "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhalf-")
        .unwrap();
    s.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = child.id();
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(std::net::TcpStream::connect(&addr).is_err(), "no new connections once stopping");
    s.write_all(b"done!").unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 202"), "the request in flight finished: {rest}");
    assert!(rest.contains("range: 0-9"), "{rest}");
    let mut child = child;
    assert!(child.wait().unwrap().success());
}

/// `berth garbage-collect | head` closes berth's stdout early: the sweep
/// goes on and the command still succeeds, where printing used to panic.
#[test]
fn garbage_collect_survives_a_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    std::fs::create_dir_all(dir.path().join("root/docker/registry/v2/repositories")).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(BERTH).arg("garbage-collect").arg(&config).stdout(writer).status().unwrap();
    assert!(status.success(), "{status}");
}

/// `berth retention`: a dry run prints the removals and changes nothing;
/// the real run prints the same lines and removes exactly those; an
/// immutable tag is kept (said on stderr); kept images still pull.
#[test]
fn retention_removes_what_its_dry_run_printed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let pinned = seed_image(&root, "app", &["nightly-0"], "zero");
    let old = seed_image(&root, "app", &["nightly-1"], "one");
    let new = seed_image(&root, "app", &["nightly-2", "latest"], "two");
    let repo = root.join("docker/registry/v2/repositories/app/_manifests");
    let age = |path: std::path::PathBuf, hours: u64| {
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(hours * 3600)).unwrap();
    };
    age(repo.join("tags/nightly-0/current/link"), 5);
    age(repo.join("tags/nightly-1/current/link"), 4);
    for digest in [&pinned, &old] {
        age(repo.join(format!("revisions/sha256/{}/link", &digest[7..])), 3);
    }
    let config = write_config(
        dir.path(),
        "berth:\n  tags:\n    immutable: [{name: pinned, repository: app, tags: nightly-0}]\n  retention:\n    \
         policies: [{name: nightly, repository: app, tags: 'nightly-.*', keeplatest: 1, untaggedgrace: 1h}]\n",
    );
    let run = |args: &[&str]| {
        let out = Command::new(BERTH).arg("retention").args(args).arg(&config).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let files = || walk_files(&root);
    let before = files();
    let (dry, stderr) = run(&["--dry-run"]);
    assert_eq!(files(), before, "a dry run changes nothing");
    assert_eq!(stderr, "berth: retention: kept app:nightly-0 (policy nightly): immutable (rule \"pinned\")\n");
    let dry: Vec<&str> = dry.lines().collect();
    assert_eq!(dry.len(), 3, "{dry:?}");
    assert!(dry[0].starts_with(&format!("delete tag app:nightly-1 {old} (policy nightly: pushed ")), "{dry:?}");
    assert!(dry[0].ends_with(", not among the 1 latest)"), "{dry:?}");
    assert!(dry[1].starts_with(&format!("delete manifest app@{old} (policy nightly: untagged, pushed ")), "{dry:?}");
    assert!(dry[1].ends_with(", older than 1h)"), "{dry:?}");
    assert_eq!(dry[2], "retention: 1 tags and 1 manifests would be removed (dry run)");

    let (real, _) = run(&[]);
    let real: Vec<&str> = real.lines().collect();
    assert_eq!(real[..2], dry[..2]);
    assert_eq!(real[2..], ["retention: 1 tags and 1 manifests removed"]);
    let gone: Vec<String> = before.difference(&files()).cloned().collect();
    let hex = &old[7..];
    let index = format!("tags/nightly-1/index/sha256/{hex}/");
    assert!(
        gone.iter().all(|f| f.contains("tags/nightly-1/") || f.contains(&format!("revisions/sha256/{hex}/"))),
        "{gone:?}"
    );
    for f in ["tags/nightly-1/current/link".to_owned(), format!("{index}link"), format!("revisions/sha256/{hex}/link")]
    {
        assert!(gone.iter().any(|g| g.ends_with(&f)), "{f} removed: {gone:?}");
    }

    let (server, url) = serve(&config);
    let addr = url.trim_start_matches("http://").to_owned();
    let status = |path: &str| status_with(&addr, path, "");
    assert!(get(&addr, "/v2/app/tags/list").contains(r#"{"name":"app","tags":["latest","nightly-0","nightly-2"]}"#));
    for kept in ["/v2/app/manifests/nightly-0", "/v2/app/manifests/nightly-2", &format!("/v2/app/manifests/{new}")] {
        assert_eq!(status(kept), "HTTP/1.1 200 OK", "{kept}");
    }
    for removed in ["/v2/app/manifests/nightly-1", &format!("/v2/app/manifests/{old}")] {
        assert_eq!(status(removed), "HTTP/1.1 404 Not Found", "{removed}");
    }
    assert!(stop(server).success());
}

/// Every file below `top`, relative to it.
fn walk_files(top: &Path) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut pending = vec![top.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.insert(path.strip_prefix(top).unwrap().display().to_string());
            }
        }
    }
    out
}

// ---------------------------------------------------------------- client commands
// `berth repo|tag|image delete` against a berth process started here.

/// Pushes an image (a config and a layer unique to `seed`, an OCI manifest)
/// into a root through the registry library, as a push would leave it;
/// returns the manifest's digest.
fn seed_image(root: &Path, name: &str, tags: &[&str], seed: &str) -> String {
    use berth::registry::{Chunk, Digest, Reference, RepoName, Tag};
    let yaml = format!("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n", root.display());
    let settings = berth::config::Config::parse(&yaml).unwrap();
    let name = RepoName::parse(name).unwrap();
    let sha = |data: &[u8]| Digest::of(berth::registry::Algorithm::Sha256, data);
    let blob = |data: String| {
        let (digest, len) = (sha(data.as_bytes()), data.len());
        let body = Box::pin(futures_util::stream::once(async move { Ok(bytes::Bytes::from(data)) }));
        (digest, len, Chunk { start: None, len: Some(len as u64), body })
    };
    let (config, config_len, config_chunk) =
        blob(format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}"));
    let (layer, layer_len, layer_chunk) = blob(format!("layer of {seed}"));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_len}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":{layer_len}}}]}}"#
    );
    let digest = sha(manifest.as_bytes());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let (registry, _) = berth::server::open_registry(&settings).await.unwrap();
        registry.upload_blob(&name, &config, config_chunk).await.unwrap();
        registry.upload_blob(&name, &layer, layer_chunk).await.unwrap();
        for tag in tags {
            let reference = Reference::Tag(Tag::parse(tag).unwrap());
            let body = bytes::Bytes::from(manifest.clone());
            registry
                .put_manifest(&name, &reference, Some("application/vnd.oci.image.manifest.v1+json"), body, "")
                .await
                .unwrap();
        }
    });
    digest.to_string()
}

/// Starts `berth serve` on a config and returns it with its URL.
fn serve(config: &Path) -> (Berth, String) {
    let mut child = spawn(Command::new(BERTH).arg("serve").arg(config).stdout(Stdio::piped()).stderr(Stdio::null()));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("berth listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    (child, url)
}

/// What a client command did: success, stdout, stderr.
struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `berth ARGS --registry URL` with no BERTH_* variable but those in
/// `env`, writing `stdin` to it.
fn client(url: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Outcome {
    use std::io::Write;
    let mut cmd = Command::new(BERTH);
    cmd.args(args).arg("--registry").arg(url);
    for var in ["BERTH_REGISTRY", "BERTH_USERNAME", "BERTH_PASSWORD"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Outcome { ok: out.status.success(), stdout: text(&out.stdout), stderr: text(&out.stderr) }
}

/// The status line of a GET with an `Authorization` header.
fn status_with(addr: &str, path: &str, authorization: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.lines().next().unwrap_or_default().to_owned()
}

fn htpasswd(dir: &Path) -> String {
    let file = dir.join("htpasswd");
    std::fs::write(&file, format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    format!("auth:\n  htpasswd:\n    realm: Registry Realm\n    path: '{}'\n", file.display())
}

#[test]
fn client_commands_delete_tags_images_and_repositories_with_htpasswd() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let v1 = seed_image(&root, "app", &["v1", "same"], "one");
    let v2 = seed_image(&root, "app", &["v2", "kept-by-digest"], "two");
    let nested = seed_image(&root, "app/nested", &["v1"], "one");
    seed_image(&root, "gone", &["v1"], "gone");
    let config = write_config(dir.path(), &format!("  delete:\n    enabled: true\n{}", htpasswd(dir.path())));
    let (server, url) = serve(&config);
    let addr = url.trim_start_matches("http://").to_owned();
    let basic = "Basic YWxpY2U6czNjcmV0";
    let status = |path: &str| status_with(&addr, path, basic);
    let alice = ["-u", "alice", "--password-stdin"];

    let anonymous = client(&url, &["repo", "delete", "gone"], &[], "");
    assert!(!anonymous.ok && anonymous.stderr.contains("asks for credentials"), "{}", anonymous.stderr);
    let wrong = client(&url, &[&["repo", "delete", "gone"][..], &alice].concat(), &[], "nope\n");
    assert!(!wrong.ok && wrong.stderr.contains("UNAUTHORIZED: authentication required"), "{}", wrong.stderr);
    assert_eq!(status("/v2/gone/manifests/v1"), "HTTP/1.1 200 OK", "refused deletes delete nothing");

    let tag = client(&url, &[&["tag", "delete", "app:v2"][..], &alice].concat(), &[], "s3cret\n");
    assert!(tag.ok, "{}", tag.stderr);
    assert_eq!(tag.stdout.trim(), "deleted tag app:v2; the manifest it pointed at stays, reachable by digest");
    assert_eq!(status("/v2/app/manifests/v2"), "HTTP/1.1 404 Not Found");
    assert_eq!(status(&format!("/v2/app/manifests/{v2}")), "HTTP/1.1 200 OK", "the manifest stays");
    assert_eq!(status("/v2/app/manifests/kept-by-digest"), "HTTP/1.1 200 OK", "and its other tags");

    let env = [("BERTH_USERNAME", "alice"), ("BERTH_PASSWORD", "s3cret")];
    let image = client(&url, &["image", "delete", "app:v1"], &env, "");
    assert!(image.ok, "{}", image.stderr);
    assert_eq!(image.stdout.trim(), format!("deleted app@{v1} and every tag pointing at it"));
    for path in ["/v2/app/manifests/v1", "/v2/app/manifests/same", &format!("/v2/app/manifests/{v1}")] {
        assert_eq!(status(path), "HTTP/1.1 404 Not Found", "{path}");
    }
    assert_eq!(status("/v2/app/nested/manifests/v1"), "HTTP/1.1 200 OK", "{nested} in app/nested stays");
    let by_digest = client(&url, &["image", "delete", &format!("app@{v2}")], &env, "");
    assert!(by_digest.ok && by_digest.stdout.contains(&v2), "{}", by_digest.stderr);
    assert_eq!(status("/v2/app/manifests/kept-by-digest"), "HTTP/1.1 404 Not Found");

    let repo = client(&url, &["repo", "delete", "gone"], &env, "");
    assert!(repo.ok, "{}", repo.stderr);
    assert_eq!(repo.stdout.trim(), "deleted repository gone; its blobs stay until `berth garbage-collect`");
    assert_eq!(status("/v2/gone/tags/list"), "HTTP/1.1 404 Not Found");
    assert_eq!(status("/v2/app/nested/tags/list"), "HTTP/1.1 200 OK");

    for (args, code) in [
        (&["repo", "delete", "gone"][..], "berth: repo delete: NAME_UNKNOWN: repository name not known to registry"),
        (&["tag", "delete", "app:missing"][..], "berth: tag delete: MANIFEST_UNKNOWN: manifest unknown"),
        (&["image", "delete", "app:missing"][..], "berth: image delete: MANIFEST_UNKNOWN: manifest unknown"),
        (&["image", "delete", "app"][..], "expected NAME:TAG or NAME@DIGEST"),
    ] {
        let failed = client(&url, args, &env, "");
        assert!(!failed.ok && failed.stderr.contains(code), "{args:?}: {}", failed.stderr);
    }
    assert!(stop(server).success());
}

#[test]
fn client_commands_over_tls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let digest = seed_image(&root, "secure/app", &["v1"], "tls");
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("domain.crt"), dir.path().join("domain.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, signing_key.serialize_pem()).unwrap();
    let extra = format!("  delete:\n    enabled: true\n{}", htpasswd(dir.path()));
    let config = write_config(dir.path(), &extra);
    let tls = format!("http:\n  tls:\n    certificate: '{}'\n    key: '{}'\n", cert_file.display(), key_file.display());
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap().replace("http:\n", &tls)).unwrap();
    let (server, url) = serve(&config);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let env = [("BERTH_USERNAME", "alice"), ("BERTH_PASSWORD", "s3cret")];

    let untrusted = client(&url, &["image", "delete", "secure/app:v1"], &env, "");
    assert!(!untrusted.ok && untrusted.stderr.contains("certificate"), "{}", untrusted.stderr);
    let ca = cert_file.to_str().unwrap();
    let trusted = client(&url, &["image", "delete", "secure/app:v1", "--cacert", ca], &env, "");
    assert!(trusted.ok, "{}", trusted.stderr);
    assert!(trusted.stdout.contains(&digest), "{}", trusted.stdout);
    let again = client(&url, &["image", "delete", "secure/app:v1", "--cacert", ca], &env, "");
    assert!(!again.ok && again.stderr.contains("MANIFEST_UNKNOWN"), "{}", again.stderr);
    let insecure = client(&url, &["repo", "delete", "secure/app", "--insecure"], &env, "");
    assert!(insecure.ok, "{}", insecure.stderr);
    let gone = client(&url, &["repo", "delete", "secure/app", "--cacert", ca], &env, "");
    assert!(!gone.ok && gone.stderr.contains("NAME_UNKNOWN"), "{}", gone.stderr);
    assert!(stop(server).success());
}

/// A token server on loopback for silly auth (which takes any
/// `Authorization`): it records each request's first line and whether it
/// carried Basic credentials, and answers with a token.
fn token_server() -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = String::new();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        while reader.read_line(&mut head).unwrap() > 2 && !head.ends_with("\r\n\r\n") {}
        let body = r#"{"token":"from-the-realm"}"#;
        write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        head.lines().map(str::to_owned).collect()
    });
    (format!("http://{addr}/token"), handle)
}

#[test]
fn client_commands_fetch_a_bearer_token_from_the_realm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    seed_image(&root, "tok/app", &["v1"], "token");
    let (realm, requests) = token_server();
    let auth = format!("  delete:\n    enabled: true\nauth:\n  silly:\n    realm: {realm}\n    service: berth-test\n");
    let (server, url) = serve(&write_config(dir.path(), &auth));
    let env = [("BERTH_USERNAME", "alice"), ("BERTH_PASSWORD", "s3cret")];
    let repo = client(&url, &["repo", "delete", "tok/app"], &env, "");
    assert!(repo.ok, "{}", repo.stderr);
    let requests = requests.join().unwrap();
    assert_eq!(requests[0], "GET /token?service=berth%2Dtest&scope=repository%3Atok%2Fapp%3Adelete HTTP/1.1");
    assert!(requests.iter().any(|l| l.eq_ignore_ascii_case("authorization: Basic YWxpY2U6czNjcmV0")), "{requests:?}");
    let addr = url.trim_start_matches("http://");
    assert_eq!(status_with(addr, "/v2/tok/app/tags/list", "Bearer x"), "HTTP/1.1 404 Not Found");
    assert!(stop(server).success());
}
