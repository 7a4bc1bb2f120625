//! One POST to an endpoint over HTTP/1.1, in clear text or TLS (trusting
//! the system's roots, `SSL_CERT_FILE` and `SSL_CERT_DIR`, as Go does). A
//! fresh connection per event: distribution also closes idle connections
//! after each delivery, and an endpoint that went away and came back must
//! not be reached through a stale socket.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore, pki_types::ServerName};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

use super::{EndpointError, event::EVENTS_MEDIA_TYPE};

/// Why a delivery failed before a status came back.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// TCP connect failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    /// HTTP failed (connection closed, malformed answer).
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// No answer within the endpoint's `timeout`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Sends envelopes to one endpoint URL.
pub struct Client {
    host: String,
    port: u16,
    path: String,
    authority: String,
    headers: HeaderMap,
    timeout: Duration,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Client {
    /// A client for `url`, sending `headers` (beside the envelope's
    /// `Content-Type`) and giving each request `timeout`.
    pub fn new(
        url: &str,
        headers: &std::collections::BTreeMap<String, Vec<String>>,
        timeout: Duration,
    ) -> Result<Client, EndpointError> {
        let invalid = |why: &str| EndpointError::Url { url: url.to_owned(), why: why.to_owned() };
        let uri: Uri = url.parse().map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?.clone();
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let mut map = HeaderMap::new();
        for (name, values) in headers {
            let bad = || EndpointError::Header(name.clone());
            let name = HeaderName::try_from(name.as_str()).map_err(|_| bad())?;
            for value in values {
                map.append(name.clone(), HeaderValue::try_from(value.as_str()).map_err(|_| bad())?);
            }
        }
        let tls = if https {
            let server = ServerName::try_from(host.clone()).map_err(|_| invalid("not a TLS server name"))?;
            Some((TlsConnector::from(Arc::new(client_config()?)), server))
        } else {
            None
        };
        Ok(Client { host, port, path, authority: authority.to_string(), headers: map, timeout, tls })
    }

    /// POSTs one envelope and returns the status the endpoint answered.
    pub async fn post(&self, body: Bytes) -> Result<StatusCode, DeliveryError> {
        tokio::time::timeout(self.timeout, self.exchange(body))
            .await
            .map_err(|_| DeliveryError::Timeout(self.timeout))?
    }

    async fn exchange(&self, body: Bytes) -> Result<StatusCode, DeliveryError> {
        let addr = format!("{}:{}", self.host, self.port);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| DeliveryError::Connect { addr, source })?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.send(tcp, body).await,
            Some((connector, server)) => {
                let tls = connector.connect(server.clone(), tcp).await.map_err(DeliveryError::Tls)?;
                self.send(tls, body).await
            }
        }
    }

    async fn send<S>(&self, stream: S, body: Bytes) -> Result<StatusCode, DeliveryError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let connection = tokio::spawn(connection);
        let mut request = http::Request::post(&self.path)
            .body(Full::new(body))
            .expect("a path that parsed as part of a URI is a valid request target");
        let headers = request.headers_mut();
        headers.insert(header::HOST, HeaderValue::try_from(&self.authority).expect("a parsed authority"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENTS_MEDIA_TYPE));
        headers.insert(header::USER_AGENT, HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"))));
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        let response = sender.send_request(request).await;
        // The answer's body is not read; dropping the connection ends it.
        connection.abort();
        Ok(response?.status())
    }
}

/// TLS towards endpoints, verifying them against the system's roots.
fn client_config() -> Result<ClientConfig, EndpointError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EndpointError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn http_and_https_urls_with_their_ports() {
        let none = BTreeMap::new();
        let plain = Client::new("http://127.0.0.1:8080/hook?x=1", &none, Duration::from_secs(1)).unwrap();
        assert_eq!((plain.host.as_str(), plain.port, plain.path.as_str()), ("127.0.0.1", 8080, "/hook?x=1"));
        assert!(plain.tls.is_none());
        let tls = Client::new("https://[::1]/", &none, Duration::from_secs(1)).unwrap();
        assert_eq!((tls.host.as_str(), tls.port, tls.authority.as_str()), ("::1", 443, "[::1]"));
        assert!(tls.tls.is_some());
    }

    #[test]
    fn refuses_other_schemes_and_bad_headers() {
        let none = BTreeMap::new();
        assert!(matches!(Client::new("ftp://h/", &none, Duration::from_secs(1)), Err(EndpointError::Url { .. })));
        assert!(matches!(Client::new("/relative", &none, Duration::from_secs(1)), Err(EndpointError::Url { .. })));
        let bad = BTreeMap::from([("Bad Name".to_owned(), vec!["v".to_owned()])]);
        assert!(matches!(Client::new("http://h/", &bad, Duration::from_secs(1)), Err(EndpointError::Header(_))));
    }

    #[tokio::test]
    async fn unreachable_endpoints_are_errors_not_statuses() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client =
            Client::new(&format!("http://127.0.0.1:{port}/"), &BTreeMap::new(), Duration::from_secs(1)).unwrap();
        assert!(matches!(client.post(Bytes::new()).await, Err(DeliveryError::Connect { .. })));
    }

    #[tokio::test]
    async fn silent_endpoints_time_out() {
        // Connects are accepted by the kernel's backlog; nobody answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let client = Client::new(&url, &BTreeMap::new(), Duration::from_millis(100)).unwrap();
        assert!(matches!(client.post(Bytes::new()).await, Err(DeliveryError::Timeout(_))));
    }
}
