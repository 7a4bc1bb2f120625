//! `http`: the listener, TLS, response headers, the debug server.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use crate::config::{
    section::{Problems, Section, Visitor},
    tree::KeyPath,
    value::{Secret, keywords},
};

/// Cipher suite names Go knows, as distribution lists them.
const CIPHER_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

keywords! {
    /// `http.net`: the kind of listening socket.
    #[derive(Default)]
    pub enum Net {
        /// `addr` is `host:port` (the default).
        #[default]
        Tcp = "tcp",
        /// `addr` is a socket file.
        Unix = "unix",
    }
}

/// `http`.
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    /// `http.addr`: where to listen (berth's default `:5000`; Go's `:port`
    /// means every interface).
    pub addr: String,
    /// `http.net` (default `tcp`).
    pub net: Net,
    /// `http.prefix`: the path before `/v2/`, such as `/registry/`.
    pub prefix: String,
    /// `http.host`: the registry's external URL, for the URLs it returns.
    pub host: Option<String>,
    /// `http.secret`: signs upload state (random per start when unset, so
    /// replicas must share it).
    pub secret: Option<Secret>,
    /// `http.relativeurls`: relative `Location` headers.
    pub relativeurls: bool,
    /// `http.draintimeout`: how long a shutdown waits for requests (0: not).
    pub draintimeout: Duration,
    /// `http.tls`: serve HTTPS.
    pub tls: Option<Tls>,
    /// `http.headers`: added to every response.
    pub headers: BTreeMap<String, Vec<String>>,
    /// `http.debug`: the debug server.
    pub debug: DebugServer,
    /// `http.http2`.
    pub http2: Http2,
    /// `http.h2c` (3.x).
    pub h2c: H2c,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            addr: ":5000".into(),
            net: Net::Tcp,
            prefix: String::new(),
            host: None,
            secret: None,
            relativeurls: false,
            draintimeout: Duration::ZERO,
            tls: None,
            headers: BTreeMap::new(),
            debug: DebugServer::default(),
            http2: Http2::default(),
            h2c: H2c::default(),
        }
    }
}

impl Section for Http {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("addr", &mut self.addr);
        v.value("net", &mut self.net);
        v.value("prefix", &mut self.prefix);
        v.value("host", &mut self.host);
        v.value("secret", &mut self.secret);
        v.value("relativeurls", &mut self.relativeurls);
        v.value("draintimeout", &mut self.draintimeout);
        v.optional("tls", &mut self.tls);
        v.value("headers", &mut self.headers);
        v.section("debug", &mut self.debug);
        v.section("http2", &mut self.http2);
        v.section("h2c", &mut self.h2c);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        if self.secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
            self.secret = None;
        }
        if !self.prefix.is_empty() && !self.prefix.starts_with('/') {
            p.invalid(&at.key("prefix"), format!("{:?} must start with / (such as /registry/)", self.prefix));
        }
        if let Some(host) = &self.host
            && !is_absolute_url(host)
        {
            p.invalid(
                &at.key("host"),
                format!("{host:?} is not an absolute URL (such as https://registry.example.com)"),
            );
        }
        if self.addr.is_empty() {
            p.invalid(&at.key("addr"), "must not be empty");
        }
    }
}

/// `http://host...` or `https://host...`.
fn is_absolute_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}

keywords! {
    /// `http.tls.minimumtls`.
    #[derive(Default)]
    pub enum MinimumTls {
        /// Accepted as distribution 2.8 did; berth serves TLS 1.2 at least.
        Tls10 = "tls1.0",
        /// Accepted as distribution 2.8 did; berth serves TLS 1.2 at least.
        Tls11 = "tls1.1",
        /// The default.
        #[default]
        Tls12 = "tls1.2",
        /// TLS 1.3 only.
        Tls13 = "tls1.3",
    }
}

keywords! {
    /// `http.tls.clientauth` (3.x): what is asked of clients when `clientcas`
    /// is set.
    #[derive(Default)]
    pub enum ClientAuth {
        /// Ask for a certificate, accept any or none.
        RequestClientCert = "request-client-cert",
        /// Demand a certificate, do not verify it.
        RequireAnyClientCert = "require-any-client-cert",
        /// Verify a certificate if one is given.
        VerifyClientCertIfGiven = "verify-client-cert-if-given",
        /// Demand a certificate signed by a client CA (the default).
        #[default]
        RequireAndVerifyClientCert = "require-and-verify-client-cert",
    }
}

/// `http.tls`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tls {
    /// `certificate`: PEM certificate chain (with `key`).
    pub certificate: Option<PathBuf>,
    /// `key`: PEM private key (with `certificate`).
    pub key: Option<PathBuf>,
    /// `clientcas`: PEM bundles of client CAs; mutual TLS when set.
    pub clientcas: Vec<PathBuf>,
    /// `clientauth` (3.x, default `require-and-verify-client-cert`).
    pub clientauth: ClientAuth,
    /// `minimumtls` (default `tls1.2`; `tls1.0` and `tls1.1` read as 1.2).
    pub minimumtls: MinimumTls,
    /// `ciphersuites`: TLS 1.2 suites offered (empty: the defaults).
    pub ciphersuites: Vec<String>,
    /// `letsencrypt`: certificates from an ACME server instead.
    pub letsencrypt: Option<LetsEncrypt>,
}

impl Section for Tls {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("certificate", &mut self.certificate);
        v.value("key", &mut self.key);
        v.value("clientcas", &mut self.clientcas);
        v.value("clientauth", &mut self.clientauth);
        v.value("minimumtls", &mut self.minimumtls);
        v.value("ciphersuites", &mut self.ciphersuites);
        v.optional("letsencrypt", &mut self.letsencrypt);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        match (&self.certificate, &self.key, &self.letsencrypt) {
            (Some(_), None, _) => p.invalid(&at.key("key"), "is required with certificate"),
            (None, Some(_), _) => p.invalid(&at.key("certificate"), "is required with key"),
            (None, None, None) => p.invalid(at, "set certificate and key (or letsencrypt) to serve HTTPS"),
            (Some(_), Some(_), Some(_)) => {
                p.warn(format!("configuration key `{at}.letsencrypt` is ignored: certificate is set"))
            }
            _ => {}
        }
        if matches!(self.minimumtls, MinimumTls::Tls10 | MinimumTls::Tls11) {
            p.warn(format!(
                "configuration key `{at}.minimumtls`: {} is below berth's minimum; TLS 1.2 is the lowest version served",
                self.minimumtls.as_str()
            ));
            self.minimumtls = MinimumTls::Tls12;
        }
        for suite in self.ciphersuites.iter().filter(|s| !CIPHER_SUITES.contains(&s.as_str())) {
            p.invalid(&at.key("ciphersuites"), format!("{suite:?} is not a cipher suite Go knows"));
        }
    }
}

/// `http.tls.letsencrypt`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LetsEncrypt {
    /// `cachefile`: where the ACME account and certificates are kept (required).
    pub cachefile: PathBuf,
    /// `email`: the ACME account's address.
    pub email: String,
    /// `hosts`: names a certificate may be requested for.
    pub hosts: Vec<String>,
    /// `directoryurl` (3.x): the ACME directory (default Let's Encrypt).
    pub directoryurl: Option<String>,
}

impl Section for LetsEncrypt {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("cachefile", &mut self.cachefile);
        v.value("email", &mut self.email);
        v.value("hosts", &mut self.hosts);
        v.value("directoryurl", &mut self.directoryurl);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "cachefile", !self.cachefile.as_os_str().is_empty());
    }
}

/// `http.debug`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DebugServer {
    /// `addr`: where the debug server listens (none by default).
    pub addr: Option<String>,
    /// `prometheus`.
    pub prometheus: Prometheus,
}

impl Section for DebugServer {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("addr", &mut self.addr);
        v.section("prometheus", &mut self.prometheus);
    }
}

/// `http.debug.prometheus`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prometheus {
    /// `enabled`.
    pub enabled: bool,
    /// `path` (default `/metrics`).
    pub path: String,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus { enabled: false, path: "/metrics".into() }
    }
}

impl Section for Prometheus {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
        v.value("path", &mut self.path);
    }
}

/// `http.http2`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Http2 {
    /// `disabled`: HTTP/1.1 only over TLS.
    pub disabled: bool,
}

impl Section for Http2 {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("disabled", &mut self.disabled);
    }
}

/// `http.h2c` (3.x).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct H2c {
    /// `enabled`: HTTP/2 without TLS.
    pub enabled: bool,
}

impl Section for H2c {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
    }
}
