//! `berth healthcheck`, the container image's HEALTHCHECK: healthy while the
//! registry the configuration describes answers `/v2/` with 200, or 401 with
//! auth (over TLS when it serves TLS); unhealthy with status 1 and the reason
//! on stderr when it is down, answers anything else (503 for a failing
//! `health` check, 400 for plain HTTP to its TLS port) or the configuration
//! is broken.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A served registry, killed if the test ends with it running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on (just now).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes `config.yml` for 127.0.0.1:`port` with `extra` appended.
fn config(dir: &Path, port: u16, extra: &str) -> std::path::PathBuf {
    let path = dir.join("config.yml");
    let root = dir.join("root");
    let text = format!(
        "version: 0.1\nhttp:\n  addr: 127.0.0.1:{port}\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n{extra}",
        root.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `berth serve CONFIG`, once it printed its address.
fn serve(config: &Path) -> Server {
    let mut child = Command::new(BERTH)
        .arg("serve")
        .arg(config)
        .env_remove("REGISTRY_CONFIGURATION_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("berth listening on "), "{line:?}");
    Server(child)
}

fn healthcheck(args: &[&str]) -> Output {
    Command::new(BERTH).arg("healthcheck").args(args).env_remove("REGISTRY_CONFIGURATION_PATH").output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn healthy_over_tls_with_auth_and_unhealthy_once_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["registry.example".to_owned()]).unwrap();
    let (crt, key) = (dir.path().join("domain.crt"), dir.path().join("domain.key"));
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&key, signing_key.serialize_pem()).unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    let port = free_port();
    let extra = format!("auth:\n  htpasswd:\n    realm: r\n    path: '{}'\n", htpasswd.display());
    let config = config(dir.path(), port, &extra);
    let config_arg = config.to_str().unwrap();
    let tls =
        [("REGISTRY_HTTP_TLS_CERTIFICATE", crt.to_str().unwrap()), ("REGISTRY_HTTP_TLS_KEY", key.to_str().unwrap())];
    let server = Server(
        Command::new(BERTH)
            .arg("serve")
            .arg(&config)
            .envs(tls)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The same variables as the server, as in a container: TLS on, so https.
    let probe = |envs: &[(&str, &str)]| {
        Command::new(BERTH).args(["healthcheck", config_arg]).envs(envs.iter().copied()).output().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = probe(&tls);
    while !out.status.success() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        out = probe(&tls);
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    // Without the variables it asks plain HTTP of the TLS port: a 400.
    let plain = probe(&[]);
    assert_eq!(plain.status.code(), Some(1), "{}", stderr(&plain));
    assert!(stderr(&plain).starts_with("berth: healthcheck: GET http://"), "{}", stderr(&plain));
    assert!(stderr(&plain).contains("400"), "{}", stderr(&plain));
    let url = format!("https://127.0.0.1:{port}/v2/");
    assert!(healthcheck(&["--url", &url]).status.success());
    drop(server);
    let down = probe(&tls);
    assert_eq!(down.status.code(), Some(1));
    assert!(stderr(&down).contains(&format!("https://127.0.0.1:{port}/v2")), "{}", stderr(&down));
}

#[test]
fn unhealthy_while_a_health_check_fails() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("down");
    std::fs::write(&marker, "").unwrap();
    let port = free_port();
    let extra = format!("health:\n  file:\n    - file: '{}'\n      interval: 20ms\n", marker.display());
    let config = config(dir.path(), port, &extra);
    let _server = serve(&config);
    let config = config.to_str().unwrap();
    let until = |healthy: bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = healthcheck(&[config]);
            if out.status.success() == healthy || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let sick = until(false);
    assert_eq!(sick.status.code(), Some(1));
    assert!(stderr(&sick).contains("503"), "{}", stderr(&sick));
    std::fs::remove_file(&marker).unwrap();
    let well = until(true);
    assert!(well.status.success(), "{}", stderr(&well));
}

#[test]
fn a_broken_configuration_is_unhealthy_not_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yml");
    let out = healthcheck(&[missing.to_str().unwrap()]);
    // Docker reserves status 2: a healthcheck must answer 0 or 1.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.yml"), "{}", stderr(&out));
    let bad = healthcheck(&["--url", "ftp://127.0.0.1/"]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
}
