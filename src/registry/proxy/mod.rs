//! The pull-through cache (`proxy`): a registry that serves what another
//! registry, the upstream, holds, and keeps what it fetched.
//!
//! Manifests by tag are re-checked with the upstream on each pull and served
//! from the cache when it cannot answer; manifests by digest and blobs are
//! fetched once. Concurrent pulls of one uncached blob share one fetch
//! (`blobs.rs`). The server removes cached content older than the `ttl`
//! (`expiry.rs`). The upstream is reached through `Remote`, which the
//! client module implements: this layer still knows no HTTP.

mod blobs;
mod expiry;
mod manifests;
mod tags;

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use super::{ByteStream, Digest, RegistryError, RepoName, Tag};

pub use expiry::Expired;

/// Why the upstream gave no usable answer (unreachable, refused, odd).
#[derive(Debug, Clone, thiserror::Error)]
#[error("upstream: {0}")]
pub struct RemoteError(pub String);

impl From<RemoteError> for RegistryError {
    fn from(e: RemoteError) -> Self {
        RegistryError::Unavailable(e.to_string())
    }
}

/// The registry a pull-through cache fetches from. `Ok(None)` means the
/// upstream answered that it does not have the thing.
#[async_trait]
pub trait Remote: Send + Sync + 'static {
    /// The digest a tag points at upstream.
    async fn resolve(&self, name: &RepoName, tag: &Tag) -> Result<Option<Digest>, RemoteError>;
    /// A manifest's bytes, as stored upstream.
    async fn manifest(&self, name: &RepoName, digest: &Digest) -> Result<Option<Bytes>, RemoteError>;
    /// A blob's size, without its bytes.
    async fn blob_size(&self, name: &RepoName, digest: &Digest) -> Result<Option<u64>, RemoteError>;
    /// Every tag of a repository upstream (a repository it lacks is an error).
    async fn tags(&self, name: &RepoName) -> Result<Vec<String>, RemoteError>;
    /// A blob's size and its bytes, as a stream.
    async fn blob(&self, name: &RepoName, digest: &Digest) -> Result<Option<(u64, ByteStream)>, RemoteError>;
}

/// How a shared blob fetch ended: `None` while it runs, then the outcome
/// (an error as text, as every waiter gets a copy).
type Outcome = Option<Result<(), String>>;

/// A pull-through cache's state.
pub struct Proxy {
    remote: Arc<dyn Remote>,
    /// Blob fetches under way, by digest: later pulls wait for them.
    flights: std::sync::Mutex<HashMap<Digest, watch::Receiver<Outcome>>>,
}

impl Proxy {
    /// A cache of `remote`.
    pub fn new(remote: Arc<dyn Remote>) -> Self {
        Proxy { remote, flights: Default::default() }
    }
}
