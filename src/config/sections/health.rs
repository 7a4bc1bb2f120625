//! `health`: checks served at `/debug/health` on the debug server.

use std::{collections::BTreeMap, time::Duration};

use crate::config::{
    section::{Problems, Section, Visitor},
    tree::KeyPath,
};

/// How often a check runs unless `interval` says otherwise.
const INTERVAL: Duration = Duration::from_secs(10);

/// `health`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// `health.storagedriver`.
    pub storagedriver: StorageDriverCheck,
    /// `health.file` (Go field `FileCheckers`).
    pub file: Vec<FileCheck>,
    /// `health.http` (Go field `HTTPCheckers`).
    pub http: Vec<HttpCheck>,
    /// `health.tcp` (Go field `TCPCheckers`).
    pub tcp: Vec<TcpCheck>,
}

impl Section for Health {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("storagedriver", &mut self.storagedriver);
        v.list("file", &mut self.file);
        v.list("http", &mut self.http);
        v.list("tcp", &mut self.tcp);
    }
}

/// 0 means the default interval, as in distribution.
fn interval(d: &mut Duration) {
    if d.is_zero() {
        *d = INTERVAL;
    }
}

/// `health.storagedriver`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageDriverCheck {
    /// `enabled`.
    pub enabled: bool,
    /// `interval` (default 10s).
    pub interval: Duration,
    /// `threshold`: failures before unhealthy (0: the first).
    pub threshold: u64,
}

impl Default for StorageDriverCheck {
    fn default() -> Self {
        StorageDriverCheck { enabled: false, interval: INTERVAL, threshold: 0 }
    }
}

impl Section for StorageDriverCheck {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
        v.value("interval", &mut self.interval);
        v.value("threshold", &mut self.threshold);
    }

    fn finish(&mut self, _at: &KeyPath, _p: &mut Problems) {
        interval(&mut self.interval);
    }
}

/// `health.file[]`: unhealthy while the file exists.
#[derive(Debug, Clone, PartialEq)]
pub struct FileCheck {
    /// `file` (required).
    pub file: String,
    /// `interval` (default 10s).
    pub interval: Duration,
    /// `threshold`.
    pub threshold: u64,
}

impl Default for FileCheck {
    fn default() -> Self {
        FileCheck { file: String::new(), interval: INTERVAL, threshold: 0 }
    }
}

impl Section for FileCheck {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("file", &mut self.file);
        v.value("interval", &mut self.interval);
        v.value("threshold", &mut self.threshold);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "file", !self.file.is_empty());
        interval(&mut self.interval);
    }
}

/// `health.http[]`: unhealthy unless a HEAD gets the expected status.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    /// `uri` (required).
    pub uri: String,
    /// `headers` sent.
    pub headers: BTreeMap<String, Vec<String>>,
    /// `statuscode` expected (default 200).
    pub statuscode: u64,
    /// `timeout` (0: none).
    pub timeout: Duration,
    /// `interval` (default 10s).
    pub interval: Duration,
    /// `threshold`.
    pub threshold: u64,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            uri: String::new(),
            headers: BTreeMap::new(),
            statuscode: 200,
            timeout: Duration::ZERO,
            interval: INTERVAL,
            threshold: 0,
        }
    }
}

impl Section for HttpCheck {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("uri", &mut self.uri);
        v.value("headers", &mut self.headers);
        v.value("statuscode", &mut self.statuscode);
        v.value("timeout", &mut self.timeout);
        v.value("interval", &mut self.interval);
        v.value("threshold", &mut self.threshold);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "uri", !self.uri.is_empty());
        interval(&mut self.interval);
        if self.statuscode == 0 {
            self.statuscode = 200;
        }
    }
}

/// `health.tcp[]`: unhealthy unless a connection opens.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpCheck {
    /// `addr` (required).
    pub addr: String,
    /// `timeout` (0: none).
    pub timeout: Duration,
    /// `interval` (default 10s).
    pub interval: Duration,
    /// `threshold`.
    pub threshold: u64,
}

impl Default for TcpCheck {
    fn default() -> Self {
        TcpCheck { addr: String::new(), timeout: Duration::ZERO, interval: INTERVAL, threshold: 0 }
    }
}

impl Section for TcpCheck {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("addr", &mut self.addr);
        v.value("timeout", &mut self.timeout);
        v.value("interval", &mut self.interval);
        v.value("threshold", &mut self.threshold);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "addr", !self.addr.is_empty());
        interval(&mut self.interval);
    }
}
