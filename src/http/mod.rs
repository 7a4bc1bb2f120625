//! The http layer: the only module that knows hyper. It accepts
//! connections, routes requests, calls the registry, and maps registry
//! errors to OCI error codes (`error`).

mod blobs;
pub mod error;
mod listing;
mod manifests;
pub mod range;
mod request;
mod response;
pub mod router;
mod upload_state;
mod uploads;

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration, time::Instant};

use http::{HeaderName, HeaderValue, Method, StatusCode};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::net::TcpListener;

use self::{
    error::ApiError,
    request::Req,
    response::{Body, Reply},
    router::{Route, RouteError},
};
pub use upload_state::UploadSigner;

use crate::registry::Registry;

/// How long a shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a request handler needs.
pub struct App {
    /// The registry.
    pub registry: Registry,
    /// Signs upload locations.
    pub signer: UploadSigner,
    /// `catalog.maxentries`.
    pub max_catalog_entries: usize,
    /// `http.headers` plus the API version header, on every response.
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// A header from `http.headers` that is not a valid HTTP header.
#[derive(Debug, thiserror::Error)]
#[error("http.headers: invalid header {0:?}")]
pub struct InvalidHeader(pub String);

impl App {
    /// An app serving a registry with the given response headers.
    pub fn new(
        registry: Registry,
        signer: UploadSigner,
        max_catalog_entries: usize,
        headers: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<App, InvalidHeader> {
        let mut all = vec![(
            HeaderName::from_static("docker-distribution-api-version"),
            HeaderValue::from_static("registry/2.0"),
        )];
        for (name, values) in headers {
            let header = HeaderName::try_from(name.as_str()).map_err(|_| InvalidHeader(name.clone()))?;
            for value in values {
                let value =
                    HeaderValue::try_from(value.as_str()).map_err(|_| InvalidHeader(format!("{name}: {value}")))?;
                all.push((header.clone(), value));
            }
        }
        Ok(App { registry, signer, max_catalog_entries, headers: all })
    }

    /// Answers one request; never fails (errors become OCI error replies).
    pub async fn handle(&self, req: http::Request<Incoming>) -> http::Response<Body> {
        let started = Instant::now();
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let mut req = Req::new(req);
        let result = match router::parse(uri.path()) {
            Ok(route) => self.dispatch(route, &mut req).await,
            Err(RouteError::Name(e)) => Err(ApiError::name_invalid(e.to_string())),
            Err(RouteError::NotFound) => {
                Ok(response::bytes(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "404 page not found\n".into()))
            }
        };
        let mut reply = result.unwrap_or_else(|e| response::error(&e));
        for (name, value) in &self.headers {
            reply.headers_mut().append(name.clone(), value.clone());
        }
        tracing::info!(
            target: "access",
            method = %method,
            uri = %uri,
            status = reply.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
        );
        reply
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
        }
    }
}

/// Serves connections from a listener until `shutdown` resolves, then stops
/// accepting and waits (bounded) for requests in flight.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers (manifests, HEADs) must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(req).await) }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
}
