//! garage (a real S3-compatible object store that checks signatures) for
//! the S3 driver's tests, on loopback ports in a temporary directory and
//! stopped by PID when dropped: a single node (`Garage`), or three nodes
//! replicating every object three times (`Cluster`), to show what a
//! stopped node changes.
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

/// The access key every garage here knows (its format: `GK` + 24 hex).
pub const ACCESS_KEY: &str = "GK0123456789abcdef01234567";
/// Its secret (64 hex).
pub const SECRET_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The bucket every garage here has, writable with that key.
pub const BUCKET: &str = "berth-test";
/// The region garage answers for.
pub const REGION: &str = "garage";

/// The nodes' shared secret: a cluster's nodes only talk with this.
const RPC_SECRET: &str = "3c2f6b1d8e9a7c4b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";
const ADMIN_TOKEN: &str = "test-admin-token";

/// A running single-node garage.
pub struct Garage {
    /// `http://127.0.0.1:<port>`: the S3 endpoint.
    pub endpoint: String,
    _node: Node,
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

/// The binary, or `None` after saying loudly that the test skips; a failure
/// instead when `BERTH_REQUIRE_GARAGE` is set.
fn binary_or_skip() -> Option<PathBuf> {
    let bin = binary();
    if bin.is_none() {
        assert!(std::env::var_os("BERTH_REQUIRE_GARAGE").is_none(), "BERTH_REQUIRE_GARAGE is set, but no garage");
        eprintln!("\n\n*** SKIPPED: no garage binary ($GARAGE, PATH, target/tools/bin); run tests/e2e/deps.sh ***\n");
    }
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// distribution's `storage.s3` section for the S3 endpoint `endpoint`, below
/// `root` in the bucket.
fn storage_yaml(endpoint: &str, root: &str) -> String {
    format!(
        "  s3:\n    region: {REGION}\n    regionendpoint: {endpoint}\n    forcepathstyle: true\n    bucket: {BUCKET}\n    \
         accesskey: {ACCESS_KEY}\n    secretkey: {SECRET_KEY}\n    secure: false\n    rootdirectory: {root}\n    chunksize: 5242880\n"
    )
}

impl Garage {
    /// Starts a garage, or says loudly why not and gives `None` when no
    /// binary is installed.
    pub fn start() -> Option<Garage> {
        let bin = binary_or_skip()?;
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node::configure(bin, dir.path().to_owned(), 1);
        // `--default-bucket` creates the key and the bucket from these.
        node.spawn(
            &["server", "--single-node", "--default-bucket"],
            &[
                ("GARAGE_DEFAULT_ACCESS_KEY", ACCESS_KEY),
                ("GARAGE_DEFAULT_SECRET_KEY", SECRET_KEY),
                ("GARAGE_DEFAULT_BUCKET", BUCKET),
            ],
        );
        // `/health` answers 200 once the node is up and the bucket exists.
        node.wait_for("healthy", |n| n.admin_get("/health").is_some_and(|(status, _)| status == 200));
        Some(Garage { endpoint: node.endpoint(), _node: node, _dir: dir })
    }

    /// distribution's `storage.s3` section for this garage, below `root`.
    pub fn storage_yaml(&self, root: &str) -> String {
        storage_yaml(&self.endpoint, root)
    }
}

/// Three garage nodes on loopback, each object stored on all three
/// (`replication_factor = 3`; garage's default `consistency_mode`,
/// `consistent`, reads and writes a quorum of two).
pub struct Cluster {
    nodes: Vec<Node>,
    /// Each node's `<public key>@<rpc address>`.
    ids: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts three connected nodes with one zone each, the key and the
    /// bucket, and waits until every node sees all three; `None` (loudly)
    /// when no binary is installed.
    pub fn start() -> Option<Cluster> {
        let bin = binary_or_skip()?;
        let dir = tempfile::tempdir().unwrap();
        let mut nodes: Vec<Node> =
            (0..3).map(|i| Node::configure(bin.clone(), dir.path().join(format!("node{i}")), 3)).collect();
        for node in &mut nodes {
            node.spawn(&["server"], &[]);
        }
        // The admin API answers (503 without a layout) once the node is up.
        for node in &nodes {
            node.wait_for("up", |n| n.admin_get("/health").is_some());
        }
        let ids: Vec<String> = nodes.iter().map(|n| n.cli(&["node", "id", "--quiet"]).trim().to_owned()).collect();
        let first = &nodes[0];
        for id in &ids[1..] {
            first.cli(&["node", "connect", id]);
        }
        for (i, id) in ids.iter().enumerate() {
            let key = id.split('@').next().unwrap();
            first.cli(&["layout", "assign", "--zone", &format!("z{i}"), "--capacity", "1G", key]);
        }
        first.cli(&["layout", "apply", "--version", "1"]);
        first.cli(&["key", "import", "--yes", ACCESS_KEY, SECRET_KEY]);
        first.cli(&["bucket", "create", BUCKET]);
        first.cli(&["bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", ACCESS_KEY]);
        let cluster = Cluster { nodes, ids, _dir: dir };
        cluster.wait_healthy();
        Some(cluster)
    }

    /// Node `i`'s S3 endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self, i: usize) -> String {
        self.nodes[i].endpoint()
    }

    /// distribution's `storage.s3` section for node `i`, below `root`.
    pub fn storage_yaml(&self, i: usize, root: &str) -> String {
        storage_yaml(&self.endpoint(i), root)
    }

    /// Kills node `i` (by PID) and waits for it to exit.
    pub fn stop(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on its data and ports, and waits until every
    /// running node sees the whole cluster again.
    pub fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.spawn(&["server"], &[]);
        node.wait_for("up", |n| n.admin_get("/health").is_some());
        // The others count the node down until they reconnect themselves,
        // which garage 2.5.0 tried only ~30 s after the loss here (even with
        // the node connected to them): ask each pair to connect now, as an
        // operator would.
        for j in (0..self.nodes.len()).filter(|&j| j != i && self.nodes[j].child.is_some()) {
            self.nodes[i].cli(&["node", "connect", &self.ids[j]]);
            self.nodes[j].cli(&["node", "connect", &self.ids[i]]);
        }
        self.wait_healthy();
    }

    /// Waits until each running node reports the cluster `healthy` on its
    /// admin API (what `garage status` and `garage health` show: all nodes
    /// connected, every partition complete) and knows the key's access to
    /// the bucket.
    fn wait_healthy(&self) {
        let key = format!("\"{ACCESS_KEY}\"");
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            node.wait_for("healthy", |n| {
                let healthy = n.admin_json("/v2/GetClusterHealth").is_some_and(|v| v["status"] == "healthy");
                healthy
                    && n.admin_get(&format!("/v2/GetBucketInfo?globalAlias={BUCKET}"))
                        .is_some_and(|(status, body)| status == 200 && body.contains(&key))
            });
        }
    }
}

/// One garage process: its configuration file, directories and ports,
/// which stay the same when it is started again.
struct Node {
    bin: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    s3: u16,
    admin: u16,
    child: Option<Child>,
}

impl Node {
    /// Writes the node's `garage.toml` in `dir`, on free loopback ports.
    fn configure(bin: PathBuf, dir: PathBuf, replication_factor: u8) -> Node {
        std::fs::create_dir_all(&dir).unwrap();
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let config = dir.join("garage.toml");
        let root = dir.display();
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{root}/meta\"\ndata_dir = \"{root}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = {replication_factor}\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{RPC_SECRET}\"\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.localhost\"\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n"
            ),
        )
        .unwrap();
        // garage refuses a configuration holding secrets that others can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        Node { bin, dir, config, s3, admin, child: None }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3)
    }

    /// Starts `garage -c <config> <args>`, its output appended to the log.
    fn spawn(&mut self, args: &[&str], env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "{} is running", self.dir.display());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("garage.log")).unwrap();
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A CLI command run against this node over RPC; its standard output.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin).arg("-c").arg(&self.config).args(args).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(out.status.success(), "garage {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// Polls `ready` for 20 s, then fails with the node's log.
    fn wait_for(&self, what: &str, ready: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if ready(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.join("garage.log")).unwrap_or_default();
        let health = self.admin_get("/v2/GetClusterHealth");
        panic!("garage {} did not become {what} ({health:?}):\n{log}", self.dir.display());
    }

    /// GET on the admin API: the status and the body, or `None` when
    /// nothing answers.
    fn admin_get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.admin)).ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n");
        s.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok()?;
        let status = answer.split(' ').nth(1)?.parse().ok()?;
        Some((status, answer.split_once("\r\n\r\n")?.1.to_owned()))
    }

    /// A 200 answer of the admin API as JSON.
    fn admin_json(&self, path: &str) -> Option<serde_json::Value> {
        match self.admin_get(path)? {
            (200, body) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
