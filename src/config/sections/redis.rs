//! `redis`: distribution 2.8's single server, or 3.x's go-redis
//! `UniversalOptions` (inlined, Go field `Options`) with TLS.
//!
//! Zero values leave go-redis's own defaults in place, as in distribution.

use std::{path::PathBuf, time::Duration};

use crate::config::{
    section::{Section, Visitor},
    value::Secret,
};

/// `redis`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Redis {
    /// `addr` (2.8): one server.
    pub addr: Option<String>,
    /// `addrs` (3.x): servers, cluster nodes or sentinels.
    pub addrs: Vec<String>,
    /// `clientname` (3.x).
    pub clientname: String,
    /// `db`: database number.
    pub db: u64,
    /// `protocol` (3.x): RESP version.
    pub protocol: u64,
    /// `username` (3.x).
    pub username: String,
    /// `password`.
    pub password: Option<Secret>,
    /// `sentinelusername` (3.x).
    pub sentinelusername: String,
    /// `sentinelpassword` (3.x).
    pub sentinelpassword: Option<Secret>,
    /// `maxretries` (3.x).
    pub maxretries: i64,
    /// `minretrybackoff` (3.x).
    pub minretrybackoff: Duration,
    /// `maxretrybackoff` (3.x).
    pub maxretrybackoff: Duration,
    /// `dialtimeout`.
    pub dialtimeout: Duration,
    /// `readtimeout`.
    pub readtimeout: Duration,
    /// `writetimeout`.
    pub writetimeout: Duration,
    /// `contexttimeoutenabled` (3.x).
    pub contexttimeoutenabled: bool,
    /// `poolfifo` (3.x).
    pub poolfifo: bool,
    /// `poolsize` (3.x).
    pub poolsize: u64,
    /// `pooltimeout` (3.x).
    pub pooltimeout: Duration,
    /// `minidleconns` (3.x).
    pub minidleconns: u64,
    /// `maxidleconns` (3.x).
    pub maxidleconns: u64,
    /// `maxactiveconns` (3.x).
    pub maxactiveconns: u64,
    /// `connmaxidletime` (3.x).
    pub connmaxidletime: Duration,
    /// `connmaxlifetime` (3.x).
    pub connmaxlifetime: Duration,
    /// `maxredirects` (3.x, cluster).
    pub maxredirects: i64,
    /// `readonly` (3.x, cluster).
    pub readonly: bool,
    /// `routebylatency` (3.x, cluster).
    pub routebylatency: bool,
    /// `routerandomly` (3.x, cluster).
    pub routerandomly: bool,
    /// `mastername` (3.x): the sentinel master.
    pub mastername: String,
    /// `disableidentity` (3.x).
    pub disableidentity: bool,
    /// `identitysuffix` (3.x).
    pub identitysuffix: String,
    /// `unstableresp3` (3.x).
    pub unstableresp3: bool,
    /// `pool` (2.8).
    pub pool: RedisPool,
    /// `tls`.
    pub tls: RedisTls,
}

impl Section for Redis {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("addr", &mut self.addr);
        v.value("addrs", &mut self.addrs);
        v.value("clientname", &mut self.clientname);
        v.value("db", &mut self.db);
        v.value("protocol", &mut self.protocol);
        v.value("username", &mut self.username);
        v.value("password", &mut self.password);
        v.value("sentinelusername", &mut self.sentinelusername);
        v.value("sentinelpassword", &mut self.sentinelpassword);
        v.value("maxretries", &mut self.maxretries);
        v.value("minretrybackoff", &mut self.minretrybackoff);
        v.value("maxretrybackoff", &mut self.maxretrybackoff);
        v.value("dialtimeout", &mut self.dialtimeout);
        v.value("readtimeout", &mut self.readtimeout);
        v.value("writetimeout", &mut self.writetimeout);
        v.value("contexttimeoutenabled", &mut self.contexttimeoutenabled);
        v.value("poolfifo", &mut self.poolfifo);
        v.value("poolsize", &mut self.poolsize);
        v.value("pooltimeout", &mut self.pooltimeout);
        v.value("minidleconns", &mut self.minidleconns);
        v.value("maxidleconns", &mut self.maxidleconns);
        v.value("maxactiveconns", &mut self.maxactiveconns);
        v.value("connmaxidletime", &mut self.connmaxidletime);
        v.value("connmaxlifetime", &mut self.connmaxlifetime);
        v.value("maxredirects", &mut self.maxredirects);
        v.value("readonly", &mut self.readonly);
        v.value("routebylatency", &mut self.routebylatency);
        v.value("routerandomly", &mut self.routerandomly);
        v.value("mastername", &mut self.mastername);
        v.value("disableidentity", &mut self.disableidentity);
        v.value("identitysuffix", &mut self.identitysuffix);
        v.value("unstableresp3", &mut self.unstableresp3);
        v.section("pool", &mut self.pool);
        v.section("tls", &mut self.tls);
    }
}

/// `redis.pool` (2.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisPool {
    /// `maxidle`.
    pub maxidle: u64,
    /// `maxactive`.
    pub maxactive: u64,
    /// `idletimeout`.
    pub idletimeout: Duration,
}

impl Section for RedisPool {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("maxidle", &mut self.maxidle);
        v.value("maxactive", &mut self.maxactive);
        v.value("idletimeout", &mut self.idletimeout);
    }
}

/// `redis.tls`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisTls {
    /// `enabled` (2.8).
    pub enabled: bool,
    /// `certificate` (3.x): client certificate.
    pub certificate: Option<PathBuf>,
    /// `key` (3.x): client key.
    pub key: Option<PathBuf>,
    /// `clientcas` (3.0): CAs that sign the server's certificate.
    pub clientcas: Vec<PathBuf>,
    /// `rootcas` (3.1): the same, renamed.
    pub rootcas: Vec<PathBuf>,
}

impl Section for RedisTls {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
        v.value("certificate", &mut self.certificate);
        v.value("key", &mut self.key);
        v.value("clientcas", &mut self.clientcas);
        v.value("rootcas", &mut self.rootcas);
    }
}
