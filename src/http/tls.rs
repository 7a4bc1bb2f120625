//! TLS with rustls: `http.tls` (certificate chain and key, client CAs for
//! mTLS, minimum version, cipher suites) and ALPN for HTTP/2.

use std::{path::PathBuf, sync::Arc};

use rustls::{
    ServerConfig, SupportedCipherSuite,
    crypto::CryptoProvider,
    server::{WebPkiClientVerifier, danger::ClientCertVerifier},
    version::{TLS12, TLS13},
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// The lowest TLS version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinimumTls {
    /// TLS 1.2 (distribution's default).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// How client certificates are treated when `clientcas` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// Every client must present a certificate signed by a client CA.
    #[default]
    RequireAndVerify,
    /// A certificate is optional, but one that is presented must verify.
    VerifyIfGiven,
}

/// `http.tls` as berth uses it.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// PEM certificate chain, leaf first.
    pub certificate: PathBuf,
    /// PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8).
    pub key: PathBuf,
    /// PEM bundles of CAs that sign client certificates (mTLS when not empty).
    pub client_cas: Vec<PathBuf>,
    /// What to demand of clients when `client_cas` is set.
    pub client_auth: ClientAuth,
    /// Lowest protocol version.
    pub minimum: MinimumTls,
    /// IANA names of the TLS 1.2 suites to offer; empty means rustls' defaults.
    /// TLS 1.3 suites are always offered, as in Go.
    pub cipher_suites: Vec<String>,
    /// Offer HTTP/2 through ALPN (`http.http2.disabled` turns it off).
    pub http2: bool,
}

/// Why a TLS configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read or parsed.
    #[error("http.tls: {what} {path}: {why}")]
    File {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// A cipher suite rustls does not implement (or that is not an AEAD suite).
    #[error("http.tls.ciphersuites: {0:?} is not supported (only AEAD suites with ECDHE are)")]
    CipherSuite(String),
    /// rustls refused the combination.
    #[error("http.tls: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_error(what: &'static str, path: &std::path::Path, why: impl ToString) -> TlsError {
    TlsError::File { what, path: path.to_owned(), why: why.to_string() }
}

fn load_certs(what: &'static str, path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "no PEM certificate found"));
    }
    Ok(certs)
}

fn cipher_suites(provider: &CryptoProvider, names: &[String]) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    if names.is_empty() {
        return Ok(provider.cipher_suites.clone());
    }
    let named = |name: &str| provider.cipher_suites.iter().find(|s| format!("{:?}", s.suite()) == name).copied();
    let mut chosen: Vec<SupportedCipherSuite> =
        provider.cipher_suites.iter().filter(|s| s.version() == &TLS13).copied().collect();
    for name in names {
        chosen.push(named(name).ok_or_else(|| TlsError::CipherSuite(name.clone()))?);
    }
    Ok(chosen)
}

fn client_verifier(opts: &TlsOptions, provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for path in &opts.client_cas {
        for cert in load_certs("clientcas", path)? {
            roots.add(cert).map_err(|e| file_error("clientcas", path, e))?;
        }
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = match opts.client_auth {
        ClientAuth::RequireAndVerify => builder,
        ClientAuth::VerifyIfGiven => builder.allow_unauthenticated(),
    };
    builder.build().map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))
}

/// Builds the rustls server configuration.
pub fn server_config(opts: &TlsOptions) -> Result<Arc<ServerConfig>, TlsError> {
    let base = rustls::crypto::aws_lc_rs::default_provider();
    let provider = Arc::new(CryptoProvider { cipher_suites: cipher_suites(&base, &opts.cipher_suites)?, ..base });
    let versions: &[&rustls::SupportedProtocolVersion] = match opts.minimum {
        MinimumTls::Tls12 => &[&TLS13, &TLS12],
        MinimumTls::Tls13 => &[&TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = if opts.client_cas.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(client_verifier(opts, &provider)?)
    };
    let certs = load_certs("certificate", &opts.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&opts.key).map_err(|e| file_error("key", &opts.key, e))?;
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols =
        if opts.http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(Arc::new(config))
}

/// What Go's server answers to plain HTTP on a TLS port, so a misconfigured
/// client sees the same hint it would get from distribution.
pub const PLAIN_HTTP_REPLY: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first byte of every TLS connection (a handshake record).
pub const HANDSHAKE_RECORD: u8 = 0x16;
