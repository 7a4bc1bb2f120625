//! `berth htpasswd` and `berth cert self-signed`, run as the real binary:
//! the files they write are checked byte by byte and then used by a real
//! berth server (Basic auth against the htpasswd file, TLS with the
//! certificate), with openssl and curl as independent judges of the PKI.

use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Command, Output, Stdio},
};

use base64::{Engine, engine::general_purpose::STANDARD};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Runs berth with `stdin` as its standard input.
fn berth(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BERTH)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // berth may refuse its arguments and exit before reading stdin; the
    // broken pipe that leaves is not the test's concern, its answer is.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `berth htpasswd add FILE USER --password-stdin --cost 4`, which must succeed.
fn add(file: &Path, user: &str, password: &str) -> String {
    let out = berth(&["htpasswd", "add", file.to_str().unwrap(), user, "--password-stdin", "--cost", "4"], password);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The hash of a user's line.
fn hash_of<'a>(file_text: &'a str, user: &str) -> &'a str {
    file_text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{user}:")))
        .unwrap_or_else(|| panic!("{user} in {file_text}"))
}

#[test]
fn htpasswd_add_replace_delete_and_list_keep_other_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let carol = berth::admin::htpasswd::entry_line("carol", "carol-pw", 4).unwrap();
    let before = format!("# registry users\nbob:{{SHA}}Uhf6KdFCmBPB8yCgz3X7zB3hBRg=\n\n{carol}\n");
    std::fs::write(&file, &before).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    assert_eq!(add(&file, "alice", "first pw:x\n"), format!("added user alice to {}\n", file.display()));
    let added = std::fs::read_to_string(&file).unwrap();
    let first = hash_of(&added, "alice").to_owned();
    assert_eq!(added, format!("{before}alice:{first}\n"), "appended, the rest byte for byte");
    assert!(first.starts_with("$2y$04$") && first.len() == 60, "{first}");
    assert!(berth::http::auth::Htpasswd::verify("first pw:x", &first), "the line ending is not part of the password");
    assert_eq!(mode(&file), 0o600, "an existing file keeps its permissions");
    owner_is_kept(&file);

    // A new password replaces alice's line where it is; carol moves nowhere.
    std::fs::write(&file, format!("alice:{first}\n{before}")).unwrap();
    assert_eq!(add(&file, "alice", "second"), format!("replaced the password of alice in {}\n", file.display()));
    let replaced = std::fs::read_to_string(&file).unwrap();
    let second = hash_of(&replaced, "alice").to_owned();
    assert_ne!(first, second);
    assert_eq!(replaced, format!("alice:{second}\n{before}"));

    let list = berth(&["htpasswd", "list", file.to_str().unwrap()], "");
    assert!(list.status.success());
    assert_eq!(text(&list.stdout), "alice\nbob (not bcrypt: ignored)\ncarol\n");

    let deleted = berth(&["htpasswd", "delete", file.to_str().unwrap(), "bob"], "");
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("alice:{second}\n# registry users\n\n{carol}\n"));

    let absent = berth(&["htpasswd", "delete", file.to_str().unwrap(), "bob"], "");
    assert_eq!(absent.status.code(), Some(1));
    assert!(text(&absent.stderr).contains(r#"user "bob" is not in"#), "{}", text(&absent.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("alice:{second}\n# registry users\n\n{carol}\n"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["htpasswd"], "no temporary file is left beside it");
}

/// A file owned by another user (the registry's, say) keeps its owner when
/// root edits it; the check needs root, as CI is.
fn owner_is_kept(file: &Path) {
    use std::os::unix::fs::MetadataExt;
    if std::os::unix::fs::chown(file, Some(65534), Some(65534)).is_err() {
        eprintln!("not root: the owner is not checked");
        return;
    }
    add(file, "owner-check", "pw");
    let meta = std::fs::metadata(file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    let out = berth(&["htpasswd", "delete", file.to_str().unwrap(), "owner-check"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::metadata(file).unwrap().uid(), 65534);
}

#[test]
fn concurrent_adds_lose_no_user() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let path = file.to_str().unwrap();
    let users: Vec<String> = (0..16).map(|i| format!("user{i:02}")).collect();
    let children: Vec<Child> = users
        .iter()
        .map(|user| {
            let args = ["htpasswd", "add", path, user, "--password-stdin", "--cost", "4"];
            let mut child = Command::new(BERTH).args(args).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
            child
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let mut listed: Vec<String> = std::fs::read_to_string(&file).unwrap().lines().map(|l| l[..6].to_owned()).collect();
    listed.sort();
    assert_eq!(listed, users, "every add kept the others'");
}

#[test]
fn htpasswd_creates_a_file_with_cost_10_and_mode_0640() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth/htpasswd");
    let out = berth(&["htpasswd", "add", file.to_str().unwrap(), "alice", "--password-stdin"], "pw\r\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("created {} with user alice\n", file.display()));
    let written = std::fs::read_to_string(&file).unwrap();
    let hash = hash_of(&written, "alice");
    assert_eq!(written, format!("alice:{hash}\n"));
    assert!(hash.starts_with("$2y$10$"), "{hash}");
    assert!(berth::http::auth::Htpasswd::verify("pw", hash));
    assert_eq!(mode(&file), 0o640);
}

#[test]
fn htpasswd_refuses_bad_names_passwords_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let path = file.to_str().unwrap();
    for (user, password, says) in [
        ("a:b", "pw", "contains ':'"),
        ("a\nb", "pw", "control character"),
        ("#a", "pw", "comment"),
        ("alice", "\n", "the password is empty"),
        ("alice", &"x".repeat(73), "only the first 72"),
    ] {
        let out = berth(&["htpasswd", "add", path, user, "--password-stdin", "--cost", "4"], password);
        assert_eq!(out.status.code(), Some(1), "{user:?}");
        assert!(text(&out.stderr).contains(says), "{user:?}: {}", text(&out.stderr));
        assert!(!file.exists(), "{user:?} wrote nothing");
    }
    // No terminal and no --password-stdin: nowhere to read a password from.
    let out = berth(&["htpasswd", "add", path, "alice"], "pw\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--password-stdin"), "{}", text(&out.stderr));
    let out = berth(&["htpasswd", "add", path, "alice", "--password-stdin", "--cost", "3"], "pw\n");
    assert_eq!(out.status.code(), Some(2), "clap refuses a cost below 4");
    for args in [["htpasswd", "list", path].as_slice(), &["htpasswd", "delete", path, "alice"]] {
        let out = berth(args, "");
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("does not exist"), "{}", text(&out.stderr));
    }
    assert!(!file.exists());
}

/// A berth process killed when the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `berth serve` on a config with `extra` appended; returns it and
/// the URL it prints.
fn serve(dir: &Path, extra: &str) -> (Server, String) {
    let config = dir.join("config.yml");
    let root = dir.join("root");
    let yaml = format!(
        "version: 0.1\nhttp:\n  addr: 127.0.0.1:0\n{extra}storage:\n  filesystem:\n    rootdirectory: {}\n",
        root.display()
    );
    std::fs::write(&config, yaml).unwrap();
    let mut child = Server(
        Command::new(BERTH).arg("serve").arg(&config).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("berth listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    (child, url)
}

/// The status line of `GET /v2/` with Basic credentials.
fn get_v2(addr: &str, user: &str, password: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let basic = STANDARD.encode(format!("{user}:{password}"));
    write!(s, "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {basic}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn a_server_reads_the_file_berth_htpasswd_writes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth/htpasswd");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let carol = berth::admin::htpasswd::entry_line("carol", "carol-pw", 4).unwrap();
    std::fs::write(&file, format!("# users\n{carol}\n")).unwrap();
    add(&file, "alice", "s3cret: pw");
    let auth = format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", file.display());
    let (_server, url) = serve(dir.path(), &auth);
    let addr = url.strip_prefix("http://").unwrap();
    assert_eq!(get_v2(addr, "alice", "s3cret: pw"), "HTTP/1.1 200 OK");
    assert_eq!(get_v2(addr, "alice", "s3cret"), "HTTP/1.1 401 Unauthorized");
    assert_eq!(get_v2(addr, "carol", "carol-pw"), "HTTP/1.1 200 OK", "the other user still logs in");

    // The server re-reads the file: a replaced password works at once, the old one no more.
    add(&file, "alice", "new pw");
    assert_eq!(get_v2(addr, "alice", "new pw"), "HTTP/1.1 200 OK");
    assert_eq!(get_v2(addr, "alice", "s3cret: pw"), "HTTP/1.1 401 Unauthorized");
    let out = berth(&["htpasswd", "delete", file.to_str().unwrap(), "carol"], "");
    assert!(out.status.success());
    assert_eq!(get_v2(addr, "carol", "carol-pw"), "HTTP/1.1 401 Unauthorized");
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"))
}

#[test]
fn cert_self_signed_makes_a_ca_and_a_server_certificate_berth_serves() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let out_dir = certs.to_str().unwrap();
    let args = ["cert", "self-signed", "--host", "registry.test", "--host", "Reg.Example.COM", "--ip", "::1"];
    let out = berth(&[&args[..], &["--out", out_dir, "--port", "443"]].concat(), "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("certificate: {out_dir}/server.crt\n")), "{stdout}");
    assert!(stdout.contains(&format!("cp {out_dir}/ca.crt /etc/docker/certs.d/registry.test/ca.crt")), "{stdout}");
    assert!(stdout.contains("/etc/containers/certs.d/[::1]/ca.crt"), "{stdout}");
    assert!(stdout.contains("update-ca-certificates") && stdout.contains("update-ca-trust"), "{stdout}");
    for (file, want) in [("ca.crt", 0o644), ("ca.key", 0o600), ("server.crt", 0o644), ("server.key", 0o600)] {
        assert_eq!(mode(&certs.join(file)), want, "{file}");
    }
    let path = |f: &str| certs.join(f).to_str().unwrap().to_owned();
    let verify = run("openssl", &["verify", "-CAfile", &path("ca.crt"), "-purpose", "sslserver", &path("server.crt")]);
    assert_eq!(text(&verify.stdout), format!("{}: OK\n", path("server.crt")), "{}", text(&verify.stderr));
    let server = text(&run("openssl", &["x509", "-in", &path("server.crt"), "-noout", "-text"]).stdout);
    assert!(server.contains("DNS:registry.test, DNS:reg.example.com, IP Address:0:0:0:0:0:0:0:1"), "{server}");
    assert!(server.contains("TLS Web Server Authentication") && server.contains("CA:FALSE"), "{server}");
    let ca = text(&run("openssl", &["x509", "-in", &path("ca.crt"), "-noout", "-text"]).stdout);
    assert!(ca.contains("CA:TRUE, pathlen:0") && ca.contains("Certificate Sign"), "{ca}");
    let not_127 = run("openssl", &["x509", "-in", &path("server.crt"), "-noout", "-checkip", "127.0.0.1"]);
    assert!(text(&not_127.stdout).contains("does NOT match"), "127.0.0.1 only when asked");

    // Existing files stay unless --force.
    let before = std::fs::read(certs.join("ca.crt")).unwrap();
    let again = berth(&[&args[..], &["--out", out_dir]].concat(), "");
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("ca.crt exists; pass --renew"), "{}", text(&again.stderr));
    assert_eq!(std::fs::read(certs.join("ca.crt")).unwrap(), before);

    let tls = format!("  tls:\n    certificate: {}\n    key: {}\n", path("server.crt"), path("server.key"));
    let (_server, url) = serve(dir.path(), &tls);
    let port = url.rsplit(':').next().unwrap();
    let target = format!("https://registry.test:{port}/v2/");
    let resolve = format!("registry.test:{port}:127.0.0.1");
    let curl = run("curl", &["-sS", "--cacert", &path("ca.crt"), "--resolve", &resolve, &target]);
    assert_eq!(text(&curl.stdout), "{}", "{}", text(&curl.stderr));
    let untrusted = run("curl", &["-sS", "--resolve", &resolve, &target]);
    assert!(!untrusted.status.success(), "without the CA the certificate is refused");
    let wrong_name = format!("https://other.test:{port}/v2/");
    let other = run(
        "curl",
        &["-sS", "--cacert", &path("ca.crt"), "--resolve", &format!("other.test:{port}:127.0.0.1"), &wrong_name],
    );
    assert!(!other.status.success(), "a name not asked for is not in the certificate");

    let forced = berth(&[&args[..], &["--out", out_dir, "--force"]].concat(), "");
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_ne!(std::fs::read(certs.join("ca.crt")).unwrap(), before, "--force makes a new CA");
}

#[test]
fn cert_self_signed_refuses_bad_names_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("certs");
    for (args, says) in [
        (vec![], "--host NAME"),
        (vec!["--host", "bad_name"], "is not a host name"),
        (vec!["--host", "a..b"], "is not a host name"),
        (vec!["--host", "ok.test", "--days", "0"], "--days"),
    ] {
        let all = [&["cert", "self-signed", "--out", out_dir.to_str().unwrap()], &args[..]].concat();
        let out = berth(&all, "");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
        assert!(!out_dir.exists(), "{args:?} wrote nothing");
    }
}

#[test]
fn cert_renew_keeps_the_ca_and_signs_a_new_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let out_dir = certs.to_str().unwrap();
    let path = |f: &str| certs.join(f).to_str().unwrap().to_owned();
    let renew = |args: &[&str]| berth(&[&["cert", "self-signed", "--out", out_dir, "--renew"], args].concat(), "");

    let missing = renew(&["--host", "registry.test"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("--renew needs the CA"), "{}", text(&missing.stderr));
    let first = berth(&["cert", "self-signed", "--out", out_dir, "--host", "registry.test"], "");
    assert!(first.status.success(), "{}", text(&first.stderr));
    let read = |f: &str| std::fs::read(certs.join(f)).unwrap();
    let (ca, ca_key, server) = (read("ca.crt"), read("ca.key"), read("server.crt"));

    let renewed = renew(&["--host", "registry.test", "--host", "new.test", "--days", "30"]);
    assert!(renewed.status.success(), "{}", text(&renewed.stderr));
    assert!(text(&renewed.stdout).starts_with(&format!("wrote {0}/server.crt, {0}/server.key\n", out_dir)));
    assert_eq!((read("ca.crt"), read("ca.key")), (ca.clone(), ca_key.clone()), "the CA stays");
    assert_ne!(read("server.crt"), server);
    assert_eq!(mode(&certs.join("server.key")), 0o600);
    let verify = run("openssl", &["verify", "-CAfile", &path("ca.crt"), &path("server.crt")]);
    assert!(verify.status.success(), "the old CA signed it: {}", text(&verify.stderr));
    let text_out = text(&run("openssl", &["x509", "-in", &path("server.crt"), "-noout", "-text"]).stdout);
    assert!(text_out.contains("DNS:registry.test, DNS:new.test"), "{text_out}");

    let too_long = renew(&["--host", "registry.test", "--days", "4000"]);
    assert_eq!(too_long.status.code(), Some(1));
    assert!(text(&too_long.stderr).contains("expires on"), "{}", text(&too_long.stderr));
    std::fs::copy(certs.join("server.key"), certs.join("ca.key")).unwrap();
    let wrong_key = renew(&["--host", "registry.test"]);
    assert_eq!(wrong_key.status.code(), Some(1));
    assert!(text(&wrong_key.stderr).contains("ca.key is not the key of ca.crt"), "{}", text(&wrong_key.stderr));
}
