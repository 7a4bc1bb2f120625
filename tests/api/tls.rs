//! TLS: certificate chains, plain HTTP on the TLS port, minimum version and
//! client certificates (mTLS), spoken to with a rustls client.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::{ClientConfig, RootCertStore, pki_types::PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// A CA and a certificate it signed.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key: KeyPair,
}

fn pki(san: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(vec![]).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![san.to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    Pki { ca_pem: ca.pem(), cert_pem: cert.pem(), key }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn client(
    ca_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<&Pki>,
) -> ClientConfig {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
    let builder = ClientConfig::builder_with_provider(provider()).with_protocol_versions(versions).unwrap();
    let builder = builder.with_root_certificates(roots);
    match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = vec![CertificateDer::from_pem_slice(id.cert_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::try_from(id.key.serialize_der()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    }
}

/// GET over TLS; the status line, or the handshake/IO error.
async fn tls_get(addr: &str, config: ClientConfig, path: &str) -> Result<String, String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut out = String::new();
    tls.read_to_string(&mut out).await.map_err(|e| e.to_string())?;
    Ok(out.lines().next().unwrap_or_default().to_owned())
}

fn files(dir: &std::path::Path, p: &Pki) -> (String, String, String) {
    let (cert, key, ca) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("ca.pem"));
    std::fs::write(&cert, &p.cert_pem).unwrap();
    std::fs::write(&key, p.key.serialize_pem()).unwrap();
    std::fs::write(&ca, &p.ca_pem).unwrap();
    let s = |p: std::path::PathBuf| p.display().to_string();
    (s(cert), s(key), s(ca))
}

#[tokio::test]
async fn serves_tls_and_answers_plain_http_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki("127.0.0.1");
    let (cert, key, _) = files(dir.path(), &p);
    let reg = start_with(true, &format!("http:\n  tls:\n    certificate: '{cert}'\n    key: '{key}'\n")).await;
    let addr = reg.base.trim_start_matches("http://").to_owned();
    let all = [&rustls::version::TLS13, &rustls::version::TLS12];
    assert_eq!(tls_get(&addr, client(&p.ca_pem, &all, None), "/v2/").await.unwrap(), "HTTP/1.1 200 OK");
    let other = pki("127.0.0.1");
    assert!(tls_get(&addr, client(&other.ca_pem, &all, None), "/v2/").await.is_err(), "an unknown CA fails");
    let (status, body) = reg.raw("GET", "/v2/").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Client sent an HTTP request to an HTTPS server"), "{body}");
    reg.stop().await;
}

#[tokio::test]
async fn minimum_tls_version() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki("127.0.0.1");
    let (cert, key, _) = files(dir.path(), &p);
    let reg = start_with(
        true,
        &format!("http:\n  tls:\n    certificate: '{cert}'\n    key: '{key}'\n    minimumtls: tls1.3\n"),
    )
    .await;
    let addr = reg.base.trim_start_matches("http://").to_owned();
    assert!(tls_get(&addr, client(&p.ca_pem, &[&rustls::version::TLS12], None), "/v2/").await.is_err());
    assert!(tls_get(&addr, client(&p.ca_pem, &[&rustls::version::TLS13], None), "/v2/").await.is_ok());
    reg.stop().await;
}

#[tokio::test]
async fn client_certificates_are_required_with_clientcas() {
    let dir = tempfile::tempdir().unwrap();
    let server = pki("127.0.0.1");
    let (cert, key, _) = files(dir.path(), &server);
    let clients = pki("client");
    let client_ca = dir.path().join("client-ca.pem");
    std::fs::write(&client_ca, &clients.ca_pem).unwrap();
    let reg = start_with(
        true,
        &format!(
            "http:\n  tls:\n    certificate: '{cert}'\n    key: '{key}'\n    clientcas: ['{}']\n",
            client_ca.display()
        ),
    )
    .await;
    let addr = reg.base.trim_start_matches("http://").to_owned();
    let all = [&rustls::version::TLS13, &rustls::version::TLS12];
    let anonymous = tls_get(&addr, client(&server.ca_pem, &all, None), "/v2/").await;
    assert!(anonymous.is_err() || !anonymous.unwrap().contains("200"), "no client certificate, no answer");
    let stranger = pki("client");
    let refused = tls_get(&addr, client(&server.ca_pem, &all, Some(&stranger)), "/v2/").await;
    assert!(refused.is_err() || !refused.unwrap().contains("200"), "a certificate of another CA is refused");
    let ok = tls_get(&addr, client(&server.ca_pem, &all, Some(&clients)), "/v2/").await.unwrap();
    assert_eq!(ok, "HTTP/1.1 200 OK");
    reg.stop().await;
}

/// Starts a TLS registry whose client CAs are `clients`' CA, with `clientauth`.
async fn mtls(dir: &std::path::Path, server: &Pki, clients: &Pki, mode: &str) -> Registry {
    let (cert, key, _) = files(dir, server);
    let client_ca = dir.join("client-ca.pem");
    std::fs::write(&client_ca, &clients.ca_pem).unwrap();
    start_with(
        true,
        &format!(
            "http:\n  tls:\n    certificate: '{cert}'\n    key: '{key}'\n    clientcas: ['{}']\n    clientauth: {mode}\n",
            client_ca.display()
        ),
    )
    .await
}

#[tokio::test]
async fn every_clientauth_mode() {
    let all = [&rustls::version::TLS13, &rustls::version::TLS12];
    let server = pki("127.0.0.1");
    let (clients, stranger) = (pki("client"), pki("client"));
    // (mode, no certificate, a certificate of another CA, a trusted certificate): served or not.
    for (mode, anonymous, foreign, trusted) in [
        ("require-and-verify-client-cert", false, false, true),
        ("verify-client-cert-if-given", true, false, true),
        ("require-any-client-cert", false, true, true),
        ("request-client-cert", true, true, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let reg = mtls(dir.path(), &server, &clients, mode).await;
        let addr = reg.base.trim_start_matches("http://").to_owned();
        let ok = |r: Result<String, String>| r.is_ok_and(|line| line.contains("200"));
        assert_eq!(ok(tls_get(&addr, client(&server.ca_pem, &all, None), "/v2/").await), anonymous, "{mode}: none");
        assert_eq!(ok(tls_get(&addr, client(&server.ca_pem, &all, Some(&stranger)), "/v2/").await), foreign, "{mode}");
        assert_eq!(ok(tls_get(&addr, client(&server.ca_pem, &all, Some(&clients)), "/v2/").await), trusted, "{mode}");
        reg.stop().await;
    }
}

#[tokio::test]
async fn cipher_suites_limit_tls12() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki("127.0.0.1");
    let (cert, key, _) = files(dir.path(), &p);
    let reg = start_with(
        true,
        &format!("http:\n  tls:\n    certificate: '{cert}'\n    key: '{key}'\n    ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"),
    )
    .await;
    let addr = reg.base.trim_start_matches("http://").to_owned();
    let only = |suite: rustls::CipherSuite| {
        let base = rustls::crypto::aws_lc_rs::default_provider();
        let suites = base.cipher_suites.iter().filter(|s| s.suite() == suite).copied().collect();
        let provider = Arc::new(rustls::crypto::CryptoProvider { cipher_suites: suites, ..base });
        let mut roots = RootCertStore::empty();
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        roots.add(CertificateDer::from_pem_slice(p.ca_pem.as_bytes()).unwrap()).unwrap();
        ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    };
    let allowed = tls_get(&addr, only(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), "/v2/").await;
    assert_eq!(allowed.unwrap(), "HTTP/1.1 200 OK");
    let other = tls_get(&addr, only(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256), "/v2/").await;
    assert!(other.is_err(), "a suite outside http.tls.ciphersuites is refused");
    reg.stop().await;
}

/// Whether an HTTP/2 request with prior knowledge (h2c) gets an answer.
async fn h2c_works(addr: &str) -> bool {
    let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else { return false };
    let io = hyper_util::rt::TokioIo::new(tcp);
    let Ok((mut sender, conn)) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await
    else {
        return false;
    };
    tokio::spawn(conn);
    let req =
        http::Request::get(format!("http://{addr}/v2/")).body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    matches!(sender.send_request(req).await, Ok(r) if r.status() == 200)
}

#[tokio::test]
async fn h2c_only_when_enabled() {
    let reg = start_with(true, "http:\n  h2c:\n    enabled: true\n").await;
    assert!(h2c_works(reg.base.trim_start_matches("http://")).await);
    reg.stop().await;
    let reg = start().await;
    assert!(!h2c_works(reg.base.trim_start_matches("http://")).await, "HTTP/1.1 only without h2c");
    reg.stop().await;
}
