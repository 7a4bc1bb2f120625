//! A private redis-server for one test: a free loopback port, no
//! persistence, stopped by PID when the test ends.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts redis-server (Debian's `redis-server` package, installed by
    /// tests/e2e/deps.sh) and waits until it answers; without one, says
    /// loudly why the test is skipped and gives `None`, unless
    /// `BERTH_REQUIRE_REDIS` is set (CI), which makes that a failure.
    pub fn start() -> Option<Self> {
        let installed = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file()));
        if !installed {
            assert!(
                std::env::var_os("BERTH_REQUIRE_REDIS").is_none(),
                "BERTH_REQUIRE_REDIS is set, but no redis-server"
            );
            eprintln!("\n\n*** SKIPPED: no redis-server on the PATH; run tests/e2e/deps.sh ***\n");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut server = RedisServer { port, child: None };
        server.restart();
        Some(server)
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server; tests/e2e/deps.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (by PID) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until `n` clients subscribe to berth's channel of changes, and
    /// a moment more for them to mark themselves in sync.
    pub async fn wait_for_subscribers(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.subscribers().await != n {
            assert!(Instant::now() < deadline, "{n} replicas did not subscribe");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// `PUBSUB NUMSUB berth:changes`, in Redis's inline protocol.
    async fn subscribers(&self) -> u64 {
        let Ok(mut conn) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return 0;
        };
        conn.write_all(b"PUBSUB NUMSUB berth:changes\r\nQUIT\r\n").await.expect("write");
        let mut reply = String::new();
        conn.read_to_string(&mut reply).await.expect("read");
        let count = reply.lines().find_map(|line| line.strip_prefix(':'));
        count.and_then(|n| n.parse().ok()).unwrap_or(0)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
