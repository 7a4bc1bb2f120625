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
    for (extra, key) in [("bogus: 1\n", "bogus"), ("redis:\n  addr: localhost:6379\n", "redis")] {
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
