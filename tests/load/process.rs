//! The real `berth` binary, started on a config file and stopped by pid.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Writes `<dir>/config.yml` for a storage root at `root`: loopback only, a
/// fixed `http.secret` (upload URLs must survive a restart), deletes on, no
/// access log (it would go to a pipe nobody reads). `extra` is appended.
pub fn write_config(dir: &Path, root: &Path, extra: &str) -> PathBuf {
    let path = dir.join("config.yml");
    let text = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\n  \
         secret: crash-and-soak-test-secret\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  delete:\n    \
         enabled: true\n{extra}",
        root.display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// A running berth. Dropping it kills it, so a failing test leaves nothing.
pub struct Berth {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Berth {
    /// Starts `berth serve CONFIG`, its log appended to `<config dir>/berth.log`,
    /// and waits for the address it prints.
    pub fn start(config: &Path) -> Berth {
        let log = config.with_file_name("berth.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let mut child = Command::new(BERTH)
            .arg("serve")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn berth");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read address");
        let Some(addr) = line.trim().strip_prefix("berth listening on http://") else {
            let _ = child.kill();
            panic!("berth did not start: {line:?}");
        };
        let base = format!("http://{addr}");
        // Whatever else it prints must not fill the pipe and block it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Berth { child, base }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush, no destructor runs in berth.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn stop(mut self) {
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "berth exited with {status}");
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
