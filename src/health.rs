//! Health checks (distribution's `health` section): the storage driver,
//! files that must not exist, HTTP endpoints and TCP addresses, each probed
//! on its interval. A check fails once `threshold` probes in a row failed;
//! while any fails, `/debug/health` and every API request answer 503.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use crate::storage::Driver;

/// What one check probes.
pub enum Probe {
    /// The storage driver answers (a missing path is an answer).
    Storage(Arc<dyn Driver>),
    /// Fails while this file exists (for taking a replica out by hand).
    File(PathBuf),
    /// An HTTP GET must answer with `status`.
    Http {
        /// An `http://` URL.
        uri: http::Uri,
        /// Headers to send.
        headers: Vec<(String, String)>,
        /// The expected status.
        status: u16,
        /// How long the answer may take.
        timeout: Duration,
    },
    /// A TCP connection must open.
    Tcp {
        /// `host:port`.
        addr: String,
        /// How long connecting may take.
        timeout: Duration,
    },
}

/// One configured check.
pub struct CheckSpec {
    /// Name shown in `/debug/health`.
    pub name: String,
    /// What it probes.
    pub probe: Probe,
    /// Time between probes.
    pub interval: Duration,
    /// Failures in a row before the check fails (0 counts as 1).
    pub threshold: u32,
}

#[derive(Default)]
struct State {
    failures: u32,
    error: Option<String>,
}

/// The running checks.
#[derive(Default)]
pub struct Health {
    states: Vec<(String, u32, Arc<Mutex<State>>)>,
}

impl Health {
    /// Starts one task per check; they run for the life of the runtime.
    pub fn start(specs: Vec<CheckSpec>) -> Arc<Health> {
        let mut states = Vec::new();
        for spec in specs {
            let state = Arc::new(Mutex::new(State::default()));
            states.push((spec.name.clone(), spec.threshold.max(1), state.clone()));
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(spec.interval.max(Duration::from_millis(10)));
                loop {
                    ticks.tick().await;
                    let outcome = probe(&spec.probe).await;
                    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                    match outcome {
                        Ok(()) => *s = State::default(),
                        Err(e) => {
                            s.failures += 1;
                            s.error = Some(e);
                        }
                    }
                }
            });
        }
        Arc::new(Health { states })
    }

    /// Failing checks and why; empty when healthy.
    pub fn failures(&self) -> BTreeMap<String, String> {
        self.states
            .iter()
            .filter_map(|(name, threshold, state)| {
                let s = state.lock().unwrap_or_else(|e| e.into_inner());
                (s.failures >= *threshold).then(|| (name.clone(), s.error.clone().unwrap_or_default()))
            })
            .collect()
    }
}

async fn probe(probe: &Probe) -> Result<(), String> {
    match probe {
        Probe::Storage(driver) => match driver.stat("docker").await {
            Err(e) if !e.is_not_found() => Err(e.to_string()),
            _ => Ok(()),
        },
        Probe::File(path) => {
            if path.exists() {
                Err(format!("file {} exists", path.display()))
            } else {
                Ok(())
            }
        }
        Probe::Tcp { addr, timeout } => {
            match tokio::time::timeout(*timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connecting to {addr}: {e}")),
                Err(_) => Err(format!("connecting to {addr}: timed out")),
            }
        }
        Probe::Http { uri, headers, status, timeout } => {
            match tokio::time::timeout(*timeout, http_status(uri, headers)).await {
                Ok(Ok(got)) if got == *status => Ok(()),
                Ok(Ok(got)) => Err(format!("{uri} answered {got}, expected {status}")),
                Ok(Err(e)) => Err(format!("{uri}: {e}")),
                Err(_) => Err(format!("{uri}: timed out")),
            }
        }
    }
}

/// One plain-HTTP GET; returns the status.
async fn http_status(uri: &http::Uri, headers: &[(String, String)]) -> Result<u16, String> {
    let host = uri.host().ok_or("no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = http::Request::get(uri.path_and_query().map_or("/", |p| p.as_str())).header("Host", host);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let req = req.body(Empty::<bytes::Bytes>::new()).map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(resp.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_and_tcp_checks_fail_after_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let down = dir.path().join("down");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        let fast = Duration::from_millis(10);
        let health = Health::start(vec![
            CheckSpec { name: "file".into(), probe: Probe::File(down.clone()), interval: fast, threshold: 0 },
            CheckSpec {
                name: "tcp".into(),
                probe: Probe::Tcp { addr: closed, timeout: Duration::from_secs(1) },
                interval: fast,
                threshold: 3,
            },
        ]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let failing = health.failures();
        assert_eq!(failing.keys().collect::<Vec<_>>(), ["tcp"], "{failing:?}");
        std::fs::write(&down, "").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(health.failures().contains_key("file"));
        std::fs::remove_file(&down).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!health.failures().contains_key("file"));
    }
}
