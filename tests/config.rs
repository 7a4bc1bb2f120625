//! `berth config check`: the effective configuration from a file and
//! `REGISTRY_*` variables, secrets masked, warnings listed; or every problem
//! and exit status 2.

use std::{
    path::Path,
    process::{Command, Output},
};

use berth::config::Config;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

const CONFIG: &str = "version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  secret: file-secret
  headers:
    X-Content-Type-Options: [nosniff]
    Authorization: [Basic c2VjcmV0]
";

/// Runs `berth config check` with only the given variables.
fn check(args: &[&Path], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BERTH);
    cmd.env_clear().args(["config", "check"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn prints_the_effective_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, CONFIG).unwrap();
    let out = check(
        &[&file],
        &[
            ("REGISTRY_HTTP_SECRET", "env-secret"),
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
            ("REGISTRY_CATALOG_MAXENTRIES", "50"),
            ("REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES", "true"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with(&format!("# berth configuration from {}\n", file.display())), "{stdout}");
    assert!(
        stdout.contains("# with REGISTRY_CATALOG_MAXENTRIES, REGISTRY_HTTP_SECRET, REGISTRY_STORAGE_DELETE_ENABLED\n")
    );
    for secret in ["file-secret", "env-secret", "c2VjcmV0"] {
        assert!(!stdout.contains(secret), "{secret} shows:\n{stdout}");
    }
    assert!(stdout.contains("  secret: \"******\"\n"), "{stdout}");
    assert!(stdout.contains("    Authorization:\n      - \"******\"\n"), "{stdout}");
    assert!(stdout.contains("  delete:\n    enabled: true\n"), "{stdout}");
    assert!(stdout.contains("      age: 168h0m0s\n"), "defaults are filled in: {stdout}");
    assert!(!stdout.contains("log.fields.service` has no effect"), "log.fields is honoured: {stdout}");
    assert!(stdout.contains("# warning: REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES matches no configuration key"));

    let printed = Config::read(&stdout, Vec::new()).expect("the output is a configuration");
    assert_eq!((printed.catalog.maxentries, printed.http.addr.as_str()), (50, ":5000"));
    assert!(printed.storage.delete.enabled);
}

#[test]
fn prints_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(
        &file,
        format!(
            "{CONFIG}  adr: :5001\nauth:\n  htpasswd:\n    realm: r\nredis:\n  addr: localhost:6379\n  mastername: m\n"
        ),
    )
    .unwrap();
    let out = check(
        &[],
        &[("REGISTRY_CONFIGURATION_PATH", file.to_str().unwrap()), ("REGISTRY_HTTP_DRAINTIMEOUT", "5 minutes")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "berth: configuration key `auth.htpasswd.path`: is required",
            "berth: configuration key `http.draintimeout` (set by REGISTRY_HTTP_DRAINTIMEOUT): \"5 minutes\" is not a duration (such as 10s, 1h30m or 168h)",
            "berth: unknown configuration key `http.adr`",
            "berth: configuration key `redis.mastername` is not supported by berth yet",
        ],
        "{stderr}"
    );
}

#[test]
fn without_a_file_the_embedded_default() {
    if Path::new("/etc/distribution/config.yml").exists() || Path::new("/etc/docker/registry/config.yml").exists() {
        return; // this machine has a config.yml where distribution looks first
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BERTH)
        .env_clear()
        .current_dir(dir.path())
        .args(["config", "check"])
        .env("REGISTRY_HTTP_ADDR", "127.0.0.1:5050")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("# berth configuration: the embedded default (no config.yml found)\n"), "{stdout}");
    assert!(
        stdout.contains("  addr: 127.0.0.1:5050\n") && stdout.contains("rootdirectory: registry-data\n"),
        "{stdout}"
    );
}
