//! The debug listener (`http.debug.addr`): `/debug/health` and, with
//! `http.debug.prometheus.enabled`, the Prometheus metrics. Nothing of it
//! is served on the main port.

use std::{convert::Infallible, future::Future, sync::Arc};

use http::{Method, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::response::{self, Reply};
use crate::{health::Health, metrics::Metrics};

/// What the debug listener serves.
pub struct Debug {
    /// The health checks.
    pub health: Arc<Health>,
    /// The metrics and their path, when Prometheus is enabled.
    pub metrics: Option<(Arc<Metrics>, String)>,
}

impl Debug {
    fn answer(&self, method: &Method, path: &str) -> Reply {
        if !matches!(*method, Method::GET | Method::HEAD) {
            return response::bytes(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n".into());
        }
        if path == "/debug/health" {
            let failures = self.health.failures();
            let status = if failures.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            return response::json(status, &serde_json::to_value(failures).unwrap_or_default());
        }
        match &self.metrics {
            Some((metrics, metrics_path)) if path == metrics_path => response::bytes(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                metrics.render().into(),
            ),
            _ => response::bytes(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "404 page not found\n".into()),
        }
    }
}

/// Serves the debug listener until `shutdown` resolves.
pub async fn serve(listener: TcpListener, debug: Arc<Debug>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            () = &mut shutdown => return,
        };
        let debug = debug.clone();
        let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let reply = debug.answer(req.method(), req.uri().path());
            async move { Ok::<_, Infallible>(reply) }
        });
        tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}
