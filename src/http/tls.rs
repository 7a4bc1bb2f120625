//! TLS with rustls: `http.tls` (certificate chain and key, or certificates
//! from an ACME CA such as Let's Encrypt; client CAs for mTLS, minimum
//! version, cipher suites) and ALPN for HTTP/2.
//!
//! ACME (`http.tls.letsencrypt`) uses rustls-acme with the TLS-ALPN-01
//! challenge, as distribution's autocert does: the CA validates by opening a
//! TLS connection with the `acme-tls/1` protocol to this listener, which the
//! connection code answers with the challenge configuration.

use std::{path::PathBuf, sync::Arc};

use futures_util::StreamExt;
use rustls::{
    ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier, danger::ClientCertVerifier},
    sign::CertifiedKey,
    version::{TLS12, TLS13},
};
use rustls_acme::{AccountCache, AcmeConfig, AcmeState, CertCache, ResolvesServerCertAcme, caches::DirCache};
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

/// How client certificates are treated when `clientcas` is set (Go's
/// `tls.ClientAuthType`, which distribution's `clientauth` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// Every client must present a certificate signed by a client CA.
    #[default]
    RequireAndVerify,
    /// A certificate is optional, but one that is presented must verify.
    VerifyIfGiven,
    /// A certificate is asked for, not required, and not verified.
    Request,
    /// A certificate is required but not verified against the CAs.
    RequireAny,
}

/// `http.tls.letsencrypt` as berth uses it.
#[derive(Debug, Clone)]
pub struct AcmeOptions {
    /// `cachefile`: the directory keeping the account key and certificates.
    pub cache_dir: PathBuf,
    /// `email`: the account's contact.
    pub email: String,
    /// `hosts`: the names to get certificates for; no other name is served.
    pub hosts: Vec<String>,
    /// `directoryurl`: the CA's ACME directory (Let's Encrypt when unset).
    pub directory_url: Option<String>,
}

/// Where the server certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// `certificate` and `key` files.
    Files {
        /// PEM certificate chain, leaf first.
        certificate: PathBuf,
        /// PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8).
        key: PathBuf,
    },
    /// An ACME CA.
    Acme(AcmeOptions),
}

/// `http.tls` as berth uses it.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// The certificate.
    pub source: CertSource,
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

/// Go's `RequestClientCert` and `RequireAnyClientCert`: any certificate is
/// accepted without a chain check, though the handshake signature still
/// proves the client holds its key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn client_verifier(opts: &TlsOptions, provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let any = |mandatory| {
        Ok(Arc::new(AnyClientCert { mandatory, provider: provider.clone() }) as Arc<dyn ClientCertVerifier>)
    };
    match opts.client_auth {
        ClientAuth::Request => return any(false),
        ClientAuth::RequireAny => return any(true),
        ClientAuth::RequireAndVerify | ClientAuth::VerifyIfGiven => {}
    }
    let mut roots = rustls::RootCertStore::empty();
    for path in &opts.client_cas {
        for cert in load_certs("clientcas", path)? {
            roots.add(cert).map_err(|e| file_error("clientcas", path, e))?;
        }
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = if opts.client_auth == ClientAuth::VerifyIfGiven { builder.allow_unauthenticated() } else { builder };
    builder.build().map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))
}

/// The ACME client's state; it must be driven (`drive_acme`) for
/// certificates to be obtained and renewed.
pub type Acme = AcmeState<std::io::Error, std::io::Error>;

/// What the listener needs to speak TLS.
#[derive(Clone)]
pub struct TlsSetup {
    /// The configuration for clients.
    pub config: Arc<ServerConfig>,
    /// With ACME: the configuration that answers TLS-ALPN-01 validations.
    pub challenge: Option<Arc<ServerConfig>>,
}

/// Builds the rustls server configuration, and the ACME client when the
/// certificate comes from a CA.
pub fn server_config(opts: &TlsOptions) -> Result<(TlsSetup, Option<Acme>), TlsError> {
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
    let (mut config, acme) = match &opts.source {
        CertSource::Files { certificate, key } => {
            let certs = load_certs("certificate", certificate)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error("key", key, e))?;
            (builder.with_single_cert(certs, key)?, None)
        }
        CertSource::Acme(acme) => {
            let state = acme_state(acme, &provider)?;
            let resolver = OnlyHosts { hosts: acme.hosts.clone(), acme: state.resolver() };
            (builder.with_cert_resolver(Arc::new(resolver)), Some(state))
        }
    };
    config.alpn_protocols =
        if opts.http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    let challenge = acme.as_ref().map(|state| state.challenge_rustls_config_with_provider(provider.clone()));
    Ok((TlsSetup { config: Arc::new(config), challenge }, acme))
}

/// The ACME client, trusting the system's roots and `SSL_CERT_FILE` /
/// `SSL_CERT_DIR` for the CA's directory, as Go's autocert does.
fn acme_state(acme: &AcmeOptions, provider: &Arc<CryptoProvider>) -> Result<Acme, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut config = AcmeConfig::new_with_client_config(&acme.hosts, Arc::new(client));
    if !acme.email.is_empty() {
        config = config.contact_push(format!("mailto:{}", acme.email));
    }
    config = match &acme.directory_url {
        Some(url) => config.directory(url),
        None => config.directory_lets_encrypt(true),
    };
    Ok(config.cache(PrivateDirCache::open(&acme.cache_dir)?).state())
}

/// Serves the ACME certificate only to clients that ask for one of `hosts`
/// by SNI, as autocert's host whitelist does: the certificate names only
/// those hosts, and a client that asks for another name gets no handshake.
#[derive(Debug)]
struct OnlyHosts {
    hosts: Vec<String>,
    acme: Arc<ResolvesServerCertAcme>,
}

impl ResolvesServerCert for OnlyHosts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?;
        if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(name)) { self.acme.resolve(hello) } else { None }
    }
}

/// rustls-acme's directory cache, kept private: it holds the account key and
/// certificate keys, so the directory is 0700 and every file 0600, as
/// distribution's autocert cache.
struct PrivateDirCache {
    dir: PathBuf,
    inner: DirCache<PathBuf>,
}

impl PrivateDirCache {
    fn open(dir: &std::path::Path) -> Result<Self, TlsError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let err = |e: std::io::Error| file_error("letsencrypt.cachefile", dir, e);
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(err)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        Ok(PrivateDirCache { dir: dir.to_owned(), inner: DirCache::new(dir.to_owned()) })
    }

    /// Narrows what the inner cache just wrote to the owner.
    fn restrict(&self) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(&self.dir)? {
            std::fs::set_permissions(entry?.path(), std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl CertCache for PrivateDirCache {
    type EC = std::io::Error;

    async fn load_cert(&self, domains: &[String], directory_url: &str) -> Result<Option<Vec<u8>>, Self::EC> {
        self.inner.load_cert(domains, directory_url).await
    }

    async fn store_cert(&self, domains: &[String], directory_url: &str, cert: &[u8]) -> Result<(), Self::EC> {
        self.inner.store_cert(domains, directory_url, cert).await?;
        self.restrict()
    }
}

#[async_trait::async_trait]
impl AccountCache for PrivateDirCache {
    type EA = std::io::Error;

    async fn load_account(&self, contact: &[String], directory_url: &str) -> Result<Option<Vec<u8>>, Self::EA> {
        self.inner.load_account(contact, directory_url).await
    }

    async fn store_account(&self, contact: &[String], directory_url: &str, account: &[u8]) -> Result<(), Self::EA> {
        self.inner.store_account(contact, directory_url, account).await?;
        self.restrict()
    }
}

/// Runs the ACME client for the life of the server: orders, renewals, and
/// loading cached certificates, each logged.
pub async fn drive_acme(mut state: Acme) {
    while let Some(event) = state.next().await {
        match event {
            Ok(ok) => tracing::info!(event = ?ok, "acme"),
            Err(err) => tracing::warn!(error = ?err, "acme"),
        }
    }
}

/// What Go's server answers to plain HTTP on a TLS port, so a misconfigured
/// client sees the same hint it would get from distribution.
pub const PLAIN_HTTP_REPLY: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first byte of every TLS connection (a handshake record).
pub const HANDSHAKE_RECORD: u8 = 0x16;
