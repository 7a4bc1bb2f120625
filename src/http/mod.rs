//! The http layer: the only module that serves with hyper. It accepts
//! connections, routes requests, calls the registry, and maps registry
//! errors to OCI error codes (`error`).

pub mod auth;
mod blobs;
pub mod debug;
pub mod error;
mod events;
mod lifecycle;
pub mod limits;
mod listing;
mod manifests;
pub mod range;
mod repositories;
mod request;
mod response;
pub mod router;
pub mod tls;
pub mod ui;
mod upload_state;
mod uploads;

use std::{
    collections::BTreeMap,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream, UnixListener, UnixStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};

use self::{
    error::ApiError,
    limits::{Budget, Limits},
    request::Req,
    response::{Body, Reply},
    router::{Route, RouteError},
};
pub use auth::Auth;
pub use request::Urls;
pub use upload_state::UploadSigner;

use crate::{health::Health, logging, metrics::Metrics, notifications::Notifier, registry::Registry, storage};

/// How the http layer is configured.
pub struct Settings {
    /// Signs upload locations (`http.secret`).
    pub signer: UploadSigner,
    /// Who may send requests (`auth`).
    pub auth: Auth,
    /// `storage.maintenance.readonly.enabled`: refuse every write.
    pub read_only: bool,
    /// `proxy`: a pull-through cache refuses every write too.
    pub proxy: bool,
    /// `catalog.maxentries`.
    pub max_catalog_entries: usize,
    /// `http.headers`: added to every response.
    pub headers: BTreeMap<String, Vec<String>>,
    /// `http.host`, `http.relativeurls`, `http.prefix`.
    pub urls: Urls,
    /// Health checks; while one fails, every request gets 503.
    pub health: Arc<Health>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// Write the combined-format access log (`log.accesslog.disabled` off).
    pub access_log: bool,
    /// Where registry events go (`notifications`).
    pub notifier: Arc<Notifier>,
    /// `berth.limits`.
    pub limits: Limits,
    /// `berth.ui`.
    pub ui: ui::UiSettings,
}

/// Everything a request handler needs.
pub struct App {
    /// The registry.
    pub registry: Registry,
    /// Signs upload locations.
    pub signer: UploadSigner,
    /// `catalog.maxentries`.
    pub max_catalog_entries: usize,
    /// `berth.limits`.
    pub limits: Limits,
    budget: Budget,
    auth: Auth,
    read_only: bool,
    proxy: bool,
    urls: Urls,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    access_log: bool,
    notifier: Arc<Notifier>,
    ui: ui::UiSettings,
    /// `http.headers` plus the API version header, on every response.
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// A header from `http.headers` that is not a valid HTTP header.
#[derive(Debug, thiserror::Error)]
#[error("http.headers: invalid header {0:?}")]
pub struct InvalidHeader(pub String);

impl App {
    /// An app serving a registry.
    pub fn new(registry: Registry, settings: Settings) -> Result<App, InvalidHeader> {
        let Settings {
            signer,
            auth,
            read_only,
            proxy,
            max_catalog_entries,
            headers,
            urls,
            health,
            metrics,
            access_log,
            notifier,
            limits,
            ui,
        } = settings;
        let mut all = vec![(
            HeaderName::from_static("docker-distribution-api-version"),
            HeaderValue::from_static("registry/2.0"),
        )];
        for (name, values) in &headers {
            let header = HeaderName::try_from(name.as_str()).map_err(|_| InvalidHeader(name.clone()))?;
            for value in values {
                let value =
                    HeaderValue::try_from(value.as_str()).map_err(|_| InvalidHeader(format!("{name}: {value}")))?;
                all.push((header.clone(), value));
            }
        }
        Ok(App {
            registry,
            signer,
            max_catalog_entries,
            budget: Budget::new(limits.memory, limits.client_memory, limits.body_timeout),
            limits,
            auth,
            read_only,
            proxy,
            urls,
            health,
            metrics,
            access_log,
            notifier,
            ui,
            headers: all,
        })
    }

    /// Answers one request; never fails (errors become OCI error replies).
    pub async fn handle(
        &self,
        req: http::Request<Incoming>,
        peer: Option<SocketAddr>,
        tls: bool,
    ) -> http::Response<Body> {
        let started = Instant::now();
        let _in_flight = self.metrics.start();
        let (method, uri, version) = (req.method().clone(), req.uri().clone(), req.version());
        let header =
            |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (referer, user_agent) = (header(header::REFERER), header(header::USER_AGENT));
        let origin = self.notifier.is_active().then(|| events::origin(&req, peer));
        let mut req = Req::new(req, &self.urls, tls, self.limits.body_timeout);
        req.origin = origin;
        let route = self.urls.strip(uri.path()).map_or(Err(RouteError::NotFound), router::parse);
        let route = route.and_then(|r| {
            if matches!(r, Route::Ui(_)) && !self.ui.enabled { Err(RouteError::NotFound) } else { Ok(r) }
        });
        let failing = self.health.failures();
        let result = match route {
            Ok(_) if !failing.is_empty() => {
                Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "service unavailable")
                    .detail("health check failed: please see /debug/health"))
            }
            Ok(route) => self.authorized(route, &mut req, peer).await,
            Err(RouteError::Name(e)) => Err(ApiError::name_invalid(e.to_string())),
            Err(RouteError::NotFound) => {
                Ok(response::bytes(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "404 page not found\n".into()))
            }
        };
        if let Err(ApiError { refusal: Some(refusal), .. }) = &result {
            self.refused(refusal, &req);
        }
        let mut reply = result.unwrap_or_else(|e| response::error(&e));
        if method == Method::HEAD {
            // HEAD answers carry the headers of a GET, never its bytes; over
            // HTTP/2 a body on a HEAD answer is a protocol error.
            reply = response::without_body(reply);
        }
        for (name, value) in &self.headers {
            reply.headers_mut().append(name.clone(), value.clone());
        }
        let status = reply.status().as_u16();
        self.metrics.record(method.as_str(), status, started.elapsed());
        tracing::info!(
            http.request.method = %method,
            http.request.uri = %uri,
            http.response.status = status,
            http.response.duration = ?started.elapsed(),
            "response completed"
        );
        if self.access_log {
            logging::access(&logging::Access {
                peer,
                request_line: format!("{method} {uri} {version:?}"),
                status,
                bytes: reply.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()),
                referer: referer.as_deref(),
                user_agent: user_agent.as_deref(),
            });
        }
        reply
    }

    /// Checks credentials, then read-only mode, then reserves memory for
    /// the body, then serves the route.
    async fn authorized(&self, route: Route, req: &mut Req, peer: Option<SocketAddr>) -> Result<Reply, ApiError> {
        let scopes = auth::scope::required(&route, &req.method, req.query("from"));
        req.user = self.auth.check(&req.headers, &scopes).await?;
        if let Some(origin) = &mut req.origin {
            origin.actor.name = req.user.clone().unwrap_or_default();
        }
        let writes = !matches!(req.method, Method::GET | Method::HEAD) && route != Route::Base;
        let refusal = match (self.read_only, self.proxy) {
            (true, _) => Some("the registry is in read-only mode (storage.maintenance.readonly)"),
            // As distribution: a pull-through cache takes no pushes or deletes.
            (false, true) => Some("the registry is a pull-through cache (proxy): pushes and deletes go upstream"),
            (false, false) => None,
        };
        if let Some(refusal) = refusal.filter(|_| writes) {
            return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "The operation is unsupported.")
                .detail(refusal)
                .header("Allow", "GET, HEAD".into()));
        }
        let _reserved = match self.body_memory(&route, req) {
            0 => None,
            bytes => Some(self.budget.reserve(peer.map(|p| p.ip()), bytes).await?),
        };
        self.dispatch(route, req).await
    }

    /// The most memory reading this request's body can take: a manifest is
    /// read whole, an upload is batched before it reaches the disk.
    fn body_memory(&self, route: &Route, req: &Req) -> usize {
        if !req.has_body() {
            return 0;
        }
        let most = match (route, &req.method) {
            (Route::Manifest { .. }, &Method::PUT) => self.limits.manifest_size,
            (Route::Upload { .. }, &Method::POST | &Method::PATCH | &Method::PUT) => storage::WRITE_BUFFER,
            (Route::Ui(_), &Method::POST) => ui::FORM_LIMIT,
            (Route::TagMoves { .. }, &Method::POST) => lifecycle::BODY_LIMIT,
            _ => return 0,
        };
        req.content_length().map_or(most, |len| most.min(usize::try_from(len).unwrap_or(usize::MAX)))
    }

    async fn dispatch(&self, route: Route, req: &mut Req) -> Result<Reply, ApiError> {
        match route {
            Route::Base => match req.method {
                Method::GET | Method::HEAD => Ok(response::json(StatusCode::OK, &serde_json::json!({}))),
                _ => Err(ApiError::method_not_allowed()),
            },
            Route::Catalog => listing::catalog(self, req).await,
            Route::Tags { name } => listing::tags(self, req, &name).await,
            Route::Referrers { name, digest } => listing::referrers(self, req, &name, &digest).await,
            Route::Manifest { name, reference } => manifests::handle(self, req, &name, &reference).await,
            Route::Blob { name, digest } => blobs::handle(self, req, &name, &digest).await,
            Route::Upload { name, id } => uploads::handle(self, req, &name, id.as_deref()).await,
            Route::Repository { name } => repositories::handle(self, req, &name).await,
            Route::TagMoves { name } => lifecycle::handle_moves(self, req, &name).await,
            Route::TagHistory { name, tag } => lifecycle::handle_history(self, req, &name, &tag).await,
            Route::Ui(route) => ui::handle(self, req, route).await,
        }
    }
}

/// How connections are spoken to.
#[derive(Clone)]
pub struct Transport {
    /// TLS, when `http.tls` is configured.
    pub tls: Option<tls::TlsSetup>,
    /// Serve HTTP/2: over TLS unless `http.http2.disabled`, in clear text only
    /// with `http.h2c.enabled`.
    pub http2: bool,
    /// `http.draintimeout`: how long a shutdown waits for requests in flight.
    pub drain: Duration,
}

/// Where connections come from (`http.net`).
pub enum Listener {
    /// `tcp`, the default.
    Tcp(TcpListener),
    /// `unix`: a socket file.
    Unix(UnixListener),
}

/// A TLS client gets this long to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves connections until `shutdown` resolves, then stops accepting and
/// waits up to the drain timeout for requests in flight.
pub async fn serve(listener: Listener, transport: Transport, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let builder = builder(&transport, &app.limits);
    let connections = Connections::new(app.limits.max_connections);
    let acceptor = transport.tls;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = async {
                let permit = connections.acquire().await;
                (accept(&listener).await, permit)
            } => accepted,
            () = &mut shutdown => break,
        };
        let (accepted, permit) = accepted;
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = match &stream {
            Stream::Tcp(_, peer) => Some(*peer),
            Stream::Unix(_) => None,
        };
        let connection = Connection { app: app.clone(), builder: builder.clone(), watcher: graceful.watcher(), peer };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let result = match (stream, acceptor) {
                (Stream::Tcp(s, _), None) => connection.serve(s, false).await,
                (Stream::Unix(s), None) => connection.serve(s, false).await,
                (Stream::Tcp(s, _), Some(acceptor)) => connection.serve_tls(s, acceptor).await,
                (Stream::Unix(s), Some(acceptor)) => connection.handshake(s, acceptor).await,
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(transport.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after http.draintimeout ({:?}); stopping anyway", transport.drain);
    }
}

/// hyper's settings: protocols, and the limits on reading requests.
fn builder(transport: &Transport, limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Some(limits.header_timeout).filter(|t| !t.is_zero()))
        .max_buf_size(limits.max_header_bytes);
    builder.http2().max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    if !transport.http2 {
        builder = builder.http1_only();
    }
    builder
}

/// Counts connections being served, when `berth.limits.maxconnections` is
/// set: at the limit, the accept loop waits and new connections queue in
/// the kernel.
struct Connections(Option<Arc<Semaphore>>);

impl Connections {
    fn new(max: usize) -> Self {
        Connections((max > 0).then(|| Arc::new(Semaphore::new(max))))
    }

    async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.0.clone()?;
        Some(semaphore.acquire_owned().await.expect("never closed"))
    }
}

enum Stream {
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Stream> {
    match listener {
        Listener::Tcp(l) => {
            let (stream, peer) = l.accept().await?;
            // Small answers (manifests, HEADs) must not wait for Nagle.
            let _ = stream.set_nodelay(true);
            Ok(Stream::Tcp(stream, peer))
        }
        Listener::Unix(l) => Ok(Stream::Unix(l.accept().await?.0)),
    }
}

/// One accepted connection.
struct Connection {
    app: Arc<App>,
    builder: auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: Option<SocketAddr>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Connection {
    async fn serve<S>(self, stream: S, tls: bool) -> Result<(), BoxError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (app, peer) = (self.app, self.peer);
        let service = service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(req, peer, tls).await) }
        });
        self.watcher.watch(self.builder.serve_connection(TokioIo::new(stream), service).into_owned()).await
    }

    /// TLS on TCP: plain HTTP gets Go's hint instead of a handshake error.
    async fn serve_tls(self, stream: TcpStream, acceptor: tls::TlsSetup) -> Result<(), BoxError> {
        let mut first = [0u8; 1];
        let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await??;
        if peeked == 1 && first[0] != tls::HANDSHAKE_RECORD {
            let mut stream = stream;
            stream.write_all(tls::PLAIN_HTTP_REPLY).await?;
            return Ok(stream.shutdown().await?);
        }
        self.handshake(stream, acceptor).await
    }

    /// The TLS handshake. With ACME, a validation connection (ALPN
    /// `acme-tls/1`) gets the challenge certificate and is closed.
    async fn handshake<S>(self, stream: S, setup: tls::TlsSetup) -> Result<(), BoxError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = tokio::time::timeout(HANDSHAKE_TIMEOUT, start).await??;
        if let Some(challenge) = setup.challenge
            && rustls_acme::is_tls_alpn_challenge(&start.client_hello())
        {
            let mut validation = tokio::time::timeout(HANDSHAKE_TIMEOUT, start.into_stream(challenge)).await??;
            return Ok(validation.shutdown().await?);
        }
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, start.into_stream(setup.config)).await??;
        self.serve(stream, true).await
    }
}
