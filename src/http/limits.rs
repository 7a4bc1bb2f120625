//! What clients may make the server spend: connections, time to send, and
//! memory. Request bodies are the only client-sized memory the server holds
//! (a manifest is read whole; an upload is batched before it is written), so
//! each request that sends one reserves its worst case from a budget shared
//! by all clients, and from a smaller one per client address, before its
//! body is read. docs/limits.md states the bound this gives.

use std::{
    collections::HashMap,
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_util::Stream;
use http::StatusCode;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

use super::error::ApiError;

/// The limits, as `berth.limits` sets them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once (0: no limit).
    pub max_connections: usize,
    /// Time to send a request's headers, and to keep an idle connection.
    pub header_timeout: Duration,
    /// Longest silence inside a request body.
    pub body_timeout: Duration,
    /// A connection's read buffer, which holds the request line and headers.
    pub max_header_bytes: usize,
    /// The largest manifest accepted.
    pub manifest_size: usize,
    /// Request bytes all clients together may make the server hold.
    pub memory: usize,
    /// The part of `memory` one client address may hold.
    pub client_memory: usize,
}

/// Reservations are counted in KiB so that budgets beyond 4 GiB fit the
/// semaphore's `u32` requests.
const UNIT: usize = 1024;

/// The memory budget: all clients, and each client address.
pub struct Budget {
    total: Arc<Semaphore>,
    total_units: usize,
    client_units: usize,
    clients: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
    /// How long a request waits for memory before it is told to come back.
    wait: Duration,
}

/// Memory held for one request; returned when dropped.
pub struct Reservation<'a> {
    budget: &'a Budget,
    client: Option<(IpAddr, Arc<Semaphore>, OwnedSemaphorePermit)>,
    _total: OwnedSemaphorePermit,
}

/// No memory came free within the wait.
#[derive(Debug)]
pub struct Busy(Duration);

impl From<Busy> for ApiError {
    fn from(Busy(waited): Busy) -> Self {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", "too many requests")
            .detail(format!(
                "request bodies already hold the memory berth.limits allows; none came free within {waited:?}"
            ))
            .header("Retry-After", "5".into())
    }
}

impl Budget {
    /// A budget of `memory` bytes, `client_memory` of them per address, for
    /// which a request waits at most `wait`.
    pub fn new(memory: usize, client_memory: usize, wait: Duration) -> Budget {
        Budget {
            total: Arc::new(Semaphore::new(units(memory))),
            total_units: units(memory),
            client_units: units(client_memory),
            clients: Mutex::new(HashMap::new()),
            wait,
        }
    }

    /// Waits until `bytes` are free for `client`, first in its own share
    /// (so a client queued on its share holds nothing of the total).
    pub async fn reserve(&self, client: Option<IpAddr>, bytes: usize) -> Result<Reservation<'_>, Busy> {
        let wait = async {
            let client = match client {
                Some(ip) => {
                    let share = self.share(ip);
                    let need = units(bytes).min(self.client_units) as u32;
                    let permit = share.clone().acquire_many_owned(need).await.expect("never closed");
                    Some((ip, share, permit))
                }
                None => None,
            };
            let need = units(bytes).min(self.total_units) as u32;
            let total = self.total.clone().acquire_many_owned(need).await.expect("never closed");
            Reservation { budget: self, client, _total: total }
        };
        tokio::time::timeout(self.wait, wait).await.map_err(|_| Busy(self.wait))
    }

    fn share(&self, ip: IpAddr) -> Arc<Semaphore> {
        let mut clients = self.clients.lock().expect("not poisoned");
        clients.entry(ip).or_insert_with(|| Arc::new(Semaphore::new(self.client_units))).clone()
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let Some((ip, share, permit)) = self.client.take() else { return };
        drop(permit);
        let mut clients = self.budget.clients.lock().expect("not poisoned");
        // The map's and ours: no request of this client holds or waits for
        // its share, so forget the address.
        if Arc::strong_count(&share) == 2 {
            clients.remove(&ip);
        }
    }
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

/// A request body that fails when the client goes quiet for too long.
pub struct Quiet<S> {
    inner: S,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<S> Quiet<S> {
    /// Wraps `inner`, allowing `idle` between its items.
    pub fn new(inner: S, idle: Duration) -> Self {
        Quiet { inner, idle, timer: Box::pin(tokio::time::sleep(idle)) }
    }
}

impl<S> Stream for Quiet<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            let deadline = Instant::now() + this.idle;
            this.timer.as_mut().reset(deadline);
            return Poll::Ready(item);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the client sent nothing for {:?} (berth.limits.bodytimeout)", this.idle),
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}
