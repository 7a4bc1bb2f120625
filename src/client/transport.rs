//! One HTTP/1.1 request per connection, over TCP or TLS. Most commands send
//! two or three requests, and a listing one per page of up to a thousand
//! entries, so a connection pool would buy little.

use std::{path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;

use super::{error::ClientError, insecure::AnyServerCert};

/// How long one request may take, connection and TLS handshake included.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The largest answer body read: above distribution's 4 MiB manifest limit,
/// with room for large image configs and referrer lists.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// An `http://` or `https://` URL, split as a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https`.
    pub tls: bool,
    /// `host:port` as written, for the `Host` header.
    pub authority: String,
    /// The host alone, for the connection and TLS server name.
    pub host: String,
    /// The port, defaulted from the scheme.
    pub port: u16,
    /// The path and query (origin form); a base URL's path has no trailing `/`.
    pub target: String,
}

impl Url {
    /// Parses an absolute `http(s)://` URL.
    pub fn parse(text: &str) -> Result<Url, ClientError> {
        let bad = |why: &str| ClientError::Usage(format!("{text:?} is not a usable URL: {why}"));
        let uri: Uri = text.parse().map_err(|_| bad("cannot parse it"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("it must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let target = uri.path_and_query().map_or("", |p| p.as_str()).trim_end_matches('/').to_owned();
        Ok(Url { tls, authority: authority.as_str().to_owned(), host, port, target })
    }

    /// This URL with `path` (starting with `/`) appended to its path.
    pub fn join(&self, path: &str) -> Url {
        Url { target: format!("{}{path}", self.target), ..self.clone() }
    }

    /// Where a `Location` or `Link` value found in an answer to this URL
    /// points: an absolute URL, a path on this origin, or a query on this path.
    pub fn resolve(&self, reference: &str) -> Result<Url, ClientError> {
        if reference.starts_with('/') {
            return Ok(Url { target: reference.to_owned(), ..self.clone() });
        }
        if reference.starts_with('?') {
            let path = self.target.split_once('?').map_or(self.target.as_str(), |(path, _)| path);
            return Ok(Url { target: format!("{path}{reference}"), ..self.clone() });
        }
        Url::parse(reference)
    }

    /// Whether `other` is on the same scheme, host and port.
    pub fn same_origin(&self, other: &Url) -> bool {
        (self.tls, &self.host, self.port) == (other.tls, &other.host, other.port)
    }

    fn origin_form(&self) -> &str {
        if self.target.is_empty() { "/" } else { &self.target }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.origin_form())
    }
}

/// How server certificates are checked.
pub enum Trust {
    /// The system's trust store (and `SSL_CERT_FILE`), as docker and curl do.
    System,
    /// Only the CAs in this PEM file (`--cacert`), for self-signed setups.
    CaFile(std::path::PathBuf),
    /// No check at all (`--insecure`).
    Insecure,
}

/// An answer, its body read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// A header's value, when it is present and text.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends requests.
#[derive(Clone)]
pub struct Transport {
    tls: Arc<ClientConfig>,
}

impl Transport {
    /// A transport trusting what `trust` says.
    pub fn new(trust: &Trust) -> Result<Transport, ClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Usage(format!("TLS setup: {e}")))?;
        let config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
                .with_no_client_auth(),
            Trust::System => builder.with_root_certificates(system_roots()).with_no_client_auth(),
            Trust::CaFile(path) => builder.with_root_certificates(file_roots(path)?).with_no_client_auth(),
        };
        Ok(Transport { tls: Arc::new(config) })
    }

    /// Sends one bodiless request and reads the answer.
    pub async fn send(&self, method: &Method, url: &Url, headers: &[(&str, &str)]) -> Result<Answer, ClientError> {
        self.send_body(method, url, headers, Bytes::new()).await
    }

    /// Sends one request with `body` (empty: none) and reads the answer.
    pub async fn send_body(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let failed = |e: &dyn std::fmt::Display| ClientError::Transport { url: url.to_string(), reason: e.to_string() };
        let exchange = async {
            let response = self.exchange(method, url, headers, body).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY).collect().await.map_err(|e| failed(&e))?.to_bytes();
            Ok(Answer { status: parts.status, headers: parts.headers, body })
        };
        tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| failed(&"no answer within 60s"))?
    }

    /// Sends one bodiless request and returns the answer with its body still
    /// to be read, for bodies too large to hold (blobs). The timeout covers
    /// the answer's head only.
    pub async fn open(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, ClientError> {
        let exchange = self.exchange(method, url, headers, Bytes::new());
        let late = || ClientError::Transport { url: url.to_string(), reason: "no answer within 60s".into() };
        tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| late())?
    }

    /// Connects (TLS when the URL says so), sends, and returns the answer's head.
    async fn exchange(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Response<Incoming>, ClientError> {
        let failed = |e: &dyn std::fmt::Display| ClientError::Transport { url: url.to_string(), reason: e.to_string() };
        let mut request = Request::builder().method(method.clone()).uri(url.origin_form());
        request = request.header(header::HOST, &url.authority).header(header::USER_AGENT, USER_AGENT);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).map_err(|e| failed(&e))?;
        let tcp = TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| failed(&e))?;
        if url.tls {
            let name = ServerName::try_from(url.host.clone()).map_err(|e| failed(&e))?;
            let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
            let stream = connector.connect(name, tcp).await.map_err(|e| failed(&e))?;
            send(stream, request).await.map_err(|e| failed(&e))
        } else {
            send(tcp, request).await.map_err(|e| failed(&e))
        }
    }
}

const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, BoxError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends with the exchange: once the answer's body has
    // been read, or dropped, and the sender with it.
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}

/// The system trust store; certificates it cannot load are skipped, as
/// curl and Go do.
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

fn file_roots(path: &Path) -> Result<RootCertStore, ClientError> {
    let bad = |reason: String| ClientError::CaFile { path: path.display().to_string(), reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad("no certificate in it".into()));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://127.0.0.1:5443/reg/").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port, u.target.as_str()), (true, "127.0.0.1", 5443, "/reg"));
        assert_eq!(u.join("/v2/a/manifests/t").to_string(), "https://127.0.0.1:5443/reg/v2/a/manifests/t");
        let u = Url::parse("http://localhost").unwrap();
        assert_eq!((u.port, u.origin_form()), (80, "/"));
        assert_eq!(Url::parse("http://[::1]:5000").unwrap().host, "::1");
        assert!(Url::parse("127.0.0.1:5000").is_err());
        assert!(Url::parse("ftp://x").is_err());
        let page = Url::parse("https://r:5443/v2/_catalog?n=2").unwrap();
        assert_eq!(
            page.resolve("/v2/_catalog?last=b&n=2").unwrap().to_string(),
            "https://r:5443/v2/_catalog?last=b&n=2"
        );
        assert_eq!(page.resolve("?last=c").unwrap().to_string(), "https://r:5443/v2/_catalog?last=c");
        let elsewhere = page.resolve("http://r:5443/x").unwrap();
        assert!(!page.same_origin(&elsewhere) && page.same_origin(&page.resolve("/y").unwrap()));
    }
}
