//! A single-node garage (a real S3-compatible object store that checks
//! signatures) started from a temporary directory on loopback ports, for
//! the S3 driver's tests, and stopped by PID when dropped.
//!
//! The binary is `$GARAGE`, else `garage` on the PATH, else
//! `target/tools/bin/garage` where tests/e2e/deps.sh installs it. Without
//! one the tests skip, saying so, unless `BERTH_REQUIRE_GARAGE` is set (CI).

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The access key garage creates at start (its format: `GK` + 24 hex).
pub const ACCESS_KEY: &str = "GK0123456789abcdef01234567";
/// Its secret (64 hex).
pub const SECRET_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The bucket garage creates at start.
pub const BUCKET: &str = "berth-test";
/// The region garage answers for.
pub const REGION: &str = "garage";

/// A running garage.
pub struct Garage {
    child: Child,
    /// `http://127.0.0.1:<port>`: the S3 endpoint.
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

/// The garage binary, if there is one.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GARAGE") {
        return Some(path.into());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("garage"));
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin/garage");
    on_path.chain([installed]).find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Garage {
    /// Starts a garage, or says loudly why not and gives `None` when no
    /// binary is installed.
    pub fn start() -> Option<Garage> {
        let Some(bin) = binary() else {
            assert!(std::env::var_os("BERTH_REQUIRE_GARAGE").is_none(), "BERTH_REQUIRE_GARAGE is set, but no garage");
            eprintln!(
                "\n\n*** SKIPPED: no garage binary ($GARAGE, PATH, target/tools/bin); run tests/e2e/deps.sh ***\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let root = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{root}/meta\"\ndata_dir = \"{root}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_secret = \"3c2f6b1d8e9a7c4b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4\"\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.localhost\"\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"test-admin-token\"\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        let log = std::fs::File::create(dir.path().join("garage.log")).unwrap();
        let child = Command::new(bin)
            .args(["-c", &config.display().to_string(), "server", "--single-node", "--default-bucket"])
            .env("GARAGE_DEFAULT_ACCESS_KEY", ACCESS_KEY)
            .env("GARAGE_DEFAULT_SECRET_KEY", SECRET_KEY)
            .env("GARAGE_DEFAULT_BUCKET", BUCKET)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let garage = Garage { child, endpoint: format!("http://127.0.0.1:{s3}"), _dir: dir };
        garage.wait_healthy(admin);
        Some(garage)
    }

    /// Waits for the admin API's `/health` to answer 200: the node is up
    /// and the default bucket exists.
    fn wait_healthy(&self, admin: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", admin)) {
                let _ = s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self._dir.path().join("garage.log")).unwrap_or_default();
        panic!("garage did not become healthy:\n{log}");
    }

    /// distribution's `storage.s3` section for this garage, below `root`.
    pub fn storage_yaml(&self, root: &str) -> String {
        format!(
            "  s3:\n    region: {REGION}\n    regionendpoint: {}\n    forcepathstyle: true\n    bucket: {BUCKET}\n    \
             accesskey: {ACCESS_KEY}\n    secretkey: {SECRET_KEY}\n    secure: false\n    rootdirectory: {root}\n    chunksize: 5242880\n",
            self.endpoint
        )
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
