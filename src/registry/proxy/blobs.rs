//! Blobs through the cache. The first pull of an uncached blob starts one
//! fetch, in a task of its own: it streams the upstream's bytes into an
//! upload session, which checks their digest and makes them a blob of the
//! repository, and hands each piece on to the pull that started it. Pulls
//! that arrive meanwhile wait for the fetch to end and then read the stored
//! blob, so the upstream sends each blob once however many clients ask.
//!
//! The last piece reaches the first client only once the digest has been
//! verified and the blob stored: a client is never handed a whole blob
//! that does not match its digest.

use std::{
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::{Outcome, Proxy};
use crate::registry::{BlobInfo, ByteStream, Chunk, Digest, Registry, RegistryError, RepoName, layout};

/// Pieces in flight between the fetch and the first client.
const PIECES: usize = 8;

/// A first client that takes no piece for this long is left behind (its
/// answer is cut short), so that it cannot hold up the fetch the others
/// wait for.
const SLOW_CLIENT: Duration = Duration::from_secs(30);

/// Where the first client's pieces go, while it takes them.
type Pieces = Option<mpsc::Sender<io::Result<Bytes>>>;

/// What a pull found when it asked for a blob being fetched.
enum Role {
    /// It started the fetch and may take its bytes.
    Leader(watch::Sender<Outcome>),
    /// Another pull's fetch is under way: wait for it.
    Follower(watch::Receiver<Outcome>),
}

impl Registry {
    /// Size of a blob the cache lacks, from the upstream (a HEAD there).
    pub(in crate::registry) async fn proxied_stat(
        &self,
        proxy: &Proxy,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<BlobInfo, RegistryError> {
        match proxy.remote.blob_size(name, digest).await? {
            Some(size) => Ok(BlobInfo { digest: digest.clone(), size }),
            None => Err(RegistryError::BlobUnknown(digest.clone())),
        }
    }

    /// Streams `len` bytes from `start` of a blob the cache lacks (`info`
    /// from `proxied_stat`), fetching it once.
    pub(in crate::registry) async fn proxied_read(
        &self,
        proxy: &Arc<Proxy>,
        name: &RepoName,
        info: &BlobInfo,
        (start, len): (u64, u64),
    ) -> Result<ByteStream, RegistryError> {
        let digest = &info.digest;
        let mut done = match join(proxy, digest) {
            Role::Follower(done) => done,
            Role::Leader(sender) => {
                if self.cached_elsewhere(name, info).await? {
                    finish(proxy, digest, &sender, Ok(()));
                    return self.read_blob(digest, start, len).await;
                }
                let whole = start == 0 && len == info.size;
                let (pieces, receiver) = mpsc::channel(PIECES);
                let done = sender.subscribe();
                let fetch =
                    Fetch { registry: self.clone(), proxy: proxy.clone(), name: name.clone(), info: info.clone() };
                tokio::spawn(fetch.run(sender, whole.then_some(pieces)));
                if whole {
                    return Ok(receive(receiver));
                }
                done
            }
        };
        let outcome = done.wait_for(Option::is_some).await.map(|o| o.clone()).ok().flatten();
        match outcome {
            Some(Ok(())) => self.read_blob(digest, start, len).await,
            Some(Err(e)) => Err(RegistryError::Unavailable(e)),
            None => Err(RegistryError::Unavailable(format!("fetching {digest} from the upstream failed"))),
        }
    }

    /// Whether the blob's bytes are stored already: by a fetch for this
    /// repository that ended between this pull's look at the cache and its
    /// joining, or for another repository. The upstream has just said this
    /// repository has the blob, so its bytes are linked here too.
    async fn cached_elsewhere(&self, name: &RepoName, info: &BlobInfo) -> Result<bool, RegistryError> {
        let digest = &info.digest;
        if self.linked(&layout::layer_link(name, digest), digest).await?.is_some() {
            return Ok(true);
        }
        let data = layout::blob_data(digest);
        let stored = match self.driver.stat(&data).await {
            Ok(stat) => stat.size == info.size && self.claim_now(&data).await?,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e.into()),
        };
        if stored {
            self.write_link(&layout::layer_link(name, digest), digest).await?;
        }
        Ok(stored)
    }
}

/// Joins the fetch of `digest` under way, or registers a new one.
fn join(proxy: &Proxy, digest: &Digest) -> Role {
    let mut flights = proxy.flights.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(done) = flights.get(digest) {
        return Role::Follower(done.clone());
    }
    let (sender, receiver) = watch::channel(None);
    flights.insert(digest.clone(), receiver);
    Role::Leader(sender)
}

/// Ends a fetch: later pulls find the blob stored (or start afresh), and
/// the waiting ones learn how it went.
fn finish(proxy: &Proxy, digest: &Digest, sender: &watch::Sender<Outcome>, outcome: Result<(), String>) {
    proxy.flights.lock().unwrap_or_else(|e| e.into_inner()).remove(digest);
    sender.send_replace(Some(outcome));
}

/// The first client's bytes, as the fetch hands them on.
fn receive(receiver: mpsc::Receiver<io::Result<Bytes>>) -> ByteStream {
    Box::pin(futures_util::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|item| (item, r)) }))
}

/// One fetch of a blob from the upstream into the cache.
struct Fetch {
    registry: Registry,
    proxy: Arc<Proxy>,
    name: RepoName,
    info: BlobInfo,
}

impl Fetch {
    /// Fetches and stores the blob, handing its pieces to `pieces` (the
    /// first client, who may leave: the fetch goes on for the others).
    async fn run(self, sender: watch::Sender<Outcome>, pieces: Pieces) {
        let (client, held) = (Arc::new(Mutex::new(pieces)), Arc::new(Mutex::new(None)));
        let outcome = self.store(client.clone(), held.clone()).await;
        let digest = &self.info.digest;
        if let Err(e) = &outcome {
            tracing::warn!(repository = %self.name, %digest, error = %e, "fetching a blob from the upstream failed");
        }
        let pieces = client.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(pieces) = pieces {
            let last = match &outcome {
                Ok(()) => held.lock().unwrap_or_else(|e| e.into_inner()).take().map(Ok),
                Err(e) => Some(Err(io::Error::other(e.to_string()))),
            };
            if let Some(last) = last {
                let _ = pieces.send(last).await;
            }
        }
        finish(&self.proxy, digest, &sender, outcome.map_err(|e| e.to_string()));
    }

    /// Streams the upstream's bytes through an upload session; each piece
    /// is handed on to `client` when the next arrives, the last one is kept
    /// in `held`.
    async fn store(&self, client: Arc<Mutex<Pieces>>, held: Arc<Mutex<Option<Bytes>>>) -> Result<(), RegistryError> {
        let digest = &self.info.digest;
        let fetched = self.proxy.remote.blob(&self.name, digest).await?;
        let (size, body) = fetched.ok_or_else(|| RegistryError::BlobUnknown(digest.clone()))?;
        if size != self.info.size {
            return Err(RegistryError::Unavailable(format!(
                "upstream blob {digest} has {size} bytes, its HEAD said {}",
                self.info.size
            )));
        }
        let tee = body.then(move |item| {
            let (client, held) = (client.clone(), held.clone());
            async move {
                if let Ok(bytes) = &item {
                    let previous = held.lock().unwrap_or_else(|e| e.into_inner()).replace(bytes.clone());
                    let pieces = client.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if let (Some(pieces), Some(previous)) = (pieces, previous)
                        && pieces.send_timeout(Ok(previous), SLOW_CLIENT).await.is_err()
                    {
                        // Gone, or too slow: the fetch goes on for the others.
                        client.lock().unwrap_or_else(|e| e.into_inner()).take();
                    }
                }
                item
            }
        });
        let chunk = Chunk { start: Some(0), len: Some(size), body: Box::pin(tee) };
        self.registry.upload_blob(&self.name, digest, chunk).await.map(drop)
    }
}
