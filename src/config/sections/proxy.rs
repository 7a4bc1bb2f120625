//! `proxy`: pull-through cache of a remote registry.

use std::time::Duration;

use crate::config::{
    section::{Problems, Section, Visitor},
    tree::KeyPath,
    value::Secret,
};

/// `proxy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    /// `remoteurl` (required).
    pub remoteurl: String,
    /// `username` at the remote.
    pub username: String,
    /// `password` at the remote.
    pub password: Option<Secret>,
    /// `exec` (3.x): a credential helper instead of username and password.
    pub exec: Option<Exec>,
    /// `ttl` (3.x): cached content expires after this (default 168h; 0:
    /// never).
    pub ttl: Duration,
    /// `cachewritetimeout` (3.1, default 5m).
    pub cachewritetimeout: Duration,
    /// `remotenamespace`: prefixed to every name pulled from the remote.
    pub remotenamespace: Option<String>,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy {
            remoteurl: String::new(),
            username: String::new(),
            password: None,
            exec: None,
            ttl: Duration::from_secs(168 * 3600),
            cachewritetimeout: Duration::from_secs(300),
            remotenamespace: None,
        }
    }
}

impl Section for Proxy {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("remoteurl", &mut self.remoteurl);
        v.value("username", &mut self.username);
        v.value("password", &mut self.password);
        v.optional("exec", &mut self.exec);
        v.value("ttl", &mut self.ttl);
        v.value("cachewritetimeout", &mut self.cachewritetimeout);
        v.value("remotenamespace", &mut self.remotenamespace);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "remoteurl", !self.remoteurl.is_empty());
    }
}

/// `proxy.exec` (3.x).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exec {
    /// `command`: a docker credential helper (required).
    pub command: String,
    /// `lifetime` of its credentials (unset: run once; 0: every request).
    pub lifetime: Option<Duration>,
}

impl Section for Exec {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("command", &mut self.command);
        v.value("lifetime", &mut self.lifetime);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "command", !self.command.is_empty());
    }
}
