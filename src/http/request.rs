//! What handlers read from a request.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderMap, Method, StatusCode, header};
use http_body::Body as _;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;

use super::{error::ApiError, limits::Quiet};
use crate::{notifications::Origin, registry::Chunk, storage::ByteStream};

/// A parsed request, minus its route.
pub struct Req {
    /// The method.
    pub method: Method,
    /// The headers.
    pub headers: HeaderMap,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// What `Location` headers start with: `scheme://host` and the prefix
    /// (absolute, as distribution sends them), or the prefix alone with
    /// `http.relativeurls`.
    pub base_url: String,
    /// The path prefix (`http.prefix`) without its trailing slash, for `Link`.
    pub prefix: String,
    /// Who asked, for notification events; `None` when no endpoint listens.
    pub origin: Option<Origin>,
    /// Who authentication says sent the request, when it says.
    pub user: Option<String>,
    body: Option<Incoming>,
    /// `berth.limits.bodytimeout`: the longest silence inside the body.
    body_timeout: Duration,
}

/// How URLs in `Location` and `Link` headers are built.
#[derive(Debug, Clone, Default)]
pub struct Urls {
    /// `http.host`: the externally visible `scheme://host[:port]`.
    pub host: Option<String>,
    /// `http.relativeurls`: no scheme and host at all.
    pub relative: bool,
    /// `http.prefix`: the path every route lives under, e.g. `/registry/`.
    pub prefix: String,
}

impl Urls {
    fn prefix(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    /// The route part of a request path, or `None` outside the prefix.
    pub fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// `scheme://host` of a request: `http.host`, else what the client (or
    /// a proxy's `X-Forwarded-*`) says it asked for.
    fn origin(&self, parts: &http::request::Parts, tls: bool) -> String {
        if self.relative {
            return String::new();
        }
        if let Some(host) = &self.host {
            return host.trim_end_matches('/').to_owned();
        }
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let host = header("x-forwarded-host")
            .or_else(|| header(header::HOST.as_str()))
            .or_else(|| parts.uri.authority().map(|a| a.to_string()));
        let scheme = header("x-forwarded-proto").unwrap_or_else(|| if tls { "https" } else { "http" }.into());
        host.map(|h| format!("{scheme}://{h}")).unwrap_or_default()
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `k=v&k2=v2`, percent-decoded, in order (a query string, or a form body).
pub fn decode_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

impl Req {
    /// Wraps a hyper request that arrived over TLS or not, whose body may
    /// pause for at most `body_timeout`.
    pub fn new(req: http::Request<Incoming>, urls: &Urls, tls: bool, body_timeout: Duration) -> Self {
        let (parts, body) = req.into_parts();
        let query = decode_pairs(parts.uri.query().unwrap_or_default());
        let prefix = urls.prefix().to_owned();
        let base_url = format!("{}{prefix}", urls.origin(&parts, tls));
        Req {
            method: parts.method,
            headers: parts.headers,
            query,
            base_url,
            prefix,
            origin: None,
            user: None,
            body: Some(body),
            body_timeout,
        }
    }

    /// The first value of a query parameter.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A header as text.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Content-Length`, when given and valid.
    pub fn content_length(&self) -> Option<u64> {
        self.header(header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
    }

    /// True when the request carries body bytes (or may: chunked encoding).
    pub fn has_body(&self) -> bool {
        self.body.as_ref().is_some_and(|b| b.size_hint().exact() != Some(0))
    }

    /// The body as a byte stream that fails if the client goes quiet;
    /// empty when already taken.
    pub fn body_stream(&mut self) -> ByteStream {
        match self.body.take() {
            Some(body) => {
                Box::pin(Quiet::new(BodyDataStream::new(body).map_err(std::io::Error::other), self.body_timeout))
            }
            None => Box::pin(futures_util::stream::empty()),
        }
    }

    /// The body as an upload chunk, with the start and length the client
    /// declared in `Content-Range` / `Content-Length`.
    pub fn chunk(&mut self) -> Result<Chunk, ApiError> {
        let declared = match self.header(header::CONTENT_RANGE) {
            Some(v) => Some(super::range::parse_content_range(v).ok_or_else(|| {
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID", "invalid content range")
            })?),
            None => None,
        };
        let length = self.content_length();
        if let (Some((_, range_len)), Some(len)) = (declared, length)
            && range_len != len
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "SIZE_INVALID",
                "provided length did not match content length",
            )
            .detail(format!("Content-Range declares {range_len} bytes, Content-Length {len}")));
        }
        let start = declared.map(|(start, _)| start);
        let len = declared.map(|(_, len)| len).or(length);
        Ok(Chunk { start, len, body: self.body_stream() })
    }

    /// Reads the whole body; `None` when it is longer than `limit` bytes.
    /// Fails when the client stops sending early or goes quiet.
    pub async fn collect(&mut self, limit: usize) -> std::io::Result<Option<Bytes>> {
        let mut body = self.body_stream();
        let mut collected = BytesMut::new();
        while let Some(frame) = body.next().await {
            let frame = frame?;
            if collected.len() + frame.len() > limit {
                return Ok(None);
            }
            collected.extend_from_slice(&frame);
        }
        Ok(Some(collected.freeze()))
    }
}
