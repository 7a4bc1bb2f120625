//! A read cache in front of any driver.
//!
//! A registry's hot requests (manifest GET/HEAD by tag, blob HEAD, config
//! blob GET) read the same few small objects over and over: link files,
//! manifests, small blobs, their sizes, the directories of a listing. Going
//! to the disk for each costs a trip to the blocking pool per object, which
//! dominated the request time. This cache answers those from memory.
//!
//! Correctness rests on two rules:
//!
//! - **Writes through this driver are seen at once.** Every mutation (put,
//!   rename, delete, append) drops the cached entries of its path, of the
//!   path's ancestors (their listings and stats change) and of its
//!   descendants (a deleted directory takes its children along), after the
//!   inner driver finished and before the mutation returns, so before any
//!   client is told it succeeded. A reader that raced with a mutation may
//!   have read the old state from the inner driver; it inserts only if no
//!   mutation happened since it started (the `epoch` check, under the lock
//!   mutations take), so it can never re-insert a stale answer.
//! - **Changes made by another replica are seen at once** when the replicas
//!   share a channel (`Peers`, Redis): each mutation is announced to them
//!   before it returns, they drop the same entries, and a replica that lost
//!   the channel answers nothing from memory until it is back.
//! - **Changes made by anyone else are seen within `ttl`.** Another process
//!   on the same storage (the reference registry, a berth without the shared
//!   channel, `rm -R`, a garbage collection in another process) bypasses the
//!   invalidation; entries expire after `ttl` (one second by default), which
//!   bounds how long such a change can stay unseen.
//!
//! Objects open for appending (uploads in progress) are never cached: their
//! size changes with every write. Memory is bounded by `MAX_BYTES` of cached
//! data and `MAX_ENTRIES` entries; when either is exceeded the cache starts
//! over empty, which costs a few misses and keeps the bound simple.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    ByteStream, Driver, Stat, StorageError, Writer,
    peers::{Alone, Forget, Peers},
};

/// How long an entry is trusted when nobody wrote through this driver.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

/// Objects larger than this are read from the inner driver every time.
const MAX_OBJECT: usize = 256 * 1024;

/// Bound on the bytes held: object contents plus listed names.
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// Bound on the number of entries of all kinds.
const MAX_ENTRIES: usize = 200_000;

/// A driver that remembers what it read. See the module docs for the rules.
pub struct Cached {
    inner: Arc<dyn Driver>,
    shared: Arc<Shared>,
}

/// What the cache, its append guards and the announcements of the other
/// replicas share.
struct Shared {
    ttl: Duration,
    /// Bumped, under the state lock, by every mutation.
    epoch: AtomicU64,
    state: Mutex<State>,
    peers: Arc<dyn Peers>,
}

/// One answer of the inner driver; `None` is "not found".
#[derive(Clone)]
struct Entry<T> {
    at: Instant,
    value: Option<T>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Entry<Bytes>>,
    stats: BTreeMap<String, Entry<Stat>>,
    lists: BTreeMap<String, Entry<Arc<[String]>>>,
    bytes: usize,
    /// Paths with a live `Writer`, and how many.
    appending: HashMap<String, usize>,
}

impl State {
    fn entries(&self) -> usize {
        self.objects.len() + self.stats.len() + self.lists.len()
    }

    fn clear(&mut self) {
        self.objects.clear();
        self.stats.clear();
        self.lists.clear();
        self.bytes = 0;
    }

    /// Drops what a change at `path` can make wrong: the path itself, its
    /// ancestors and its descendants.
    fn invalidate(&mut self, path: &str) {
        let mut keys = vec![path];
        keys.extend(path.match_indices('/').map(|(i, _)| &path[..i]));
        let freed = drop_entries(&mut self.objects, &keys, path, Bytes::len)
            + drop_entries(&mut self.stats, &keys, path, |_| 0)
            + drop_entries(&mut self.lists, &keys, path, |names| list_bytes(names));
        self.bytes -= freed;
    }

    /// Makes room for `size` more bytes and one more entry.
    fn reserve(&mut self, size: usize) {
        if self.bytes + size > MAX_BYTES || self.entries() >= MAX_ENTRIES {
            self.clear();
        }
        self.bytes += size;
    }
}

/// Removes `keys` and every descendant of `path` from one map; returns the
/// bytes they held.
fn drop_entries<T>(
    map: &mut BTreeMap<String, Entry<T>>,
    keys: &[&str],
    path: &str,
    weigh: impl Fn(&T) -> usize,
) -> usize {
    // Descendants sort between "path/" and "path0" ('0' follows '/').
    let below: Vec<String> = map.range(format!("{path}/")..format!("{path}0")).map(|(k, _)| k.clone()).collect();
    let removed = keys.iter().filter_map(|k| map.remove(*k)).collect::<Vec<_>>();
    let removed = removed.into_iter().chain(below.iter().filter_map(|k| map.remove(k)));
    removed.map(|e| e.value.as_ref().map_or(0, &weigh)).sum()
}

fn list_bytes(names: &[String]) -> usize {
    names.iter().map(|n| n.len() + std::mem::size_of::<String>()).sum()
}

fn fresh<T: Clone>(map: &BTreeMap<String, Entry<T>>, path: &str, ttl: Duration) -> Option<Option<T>> {
    map.get(path).filter(|e| e.at.elapsed() < ttl).map(|e| e.value.clone())
}

/// Turns a cached answer back into the driver's result.
fn answer<T>(path: &str, value: Option<T>) -> Result<T, StorageError> {
    value.ok_or_else(|| StorageError::NotFound(path.to_owned()))
}

/// Splits an inner result into what may be cached: a value, "not found", or
/// nothing (other errors are not remembered).
fn cacheable<T: Clone>(result: &Result<T, StorageError>) -> Option<Option<T>> {
    match result {
        Ok(v) => Some(Some(v.clone())),
        Err(e) if e.is_not_found() => Some(None),
        Err(_) => None,
    }
}

impl Cached {
    /// Caches reads of `inner`, trusting entries for `ttl`, for a process
    /// alone on its storage.
    pub fn new(inner: Arc<dyn Driver>, ttl: Duration) -> Self {
        Cached::with_peers(inner, ttl, Arc::new(Alone))
    }

    /// Caches reads of `inner` for one replica of several: mutations are
    /// announced to `peers`, and nothing is answered from memory while
    /// `peers` is out of sync.
    pub fn with_peers(inner: Arc<dyn Driver>, ttl: Duration, peers: Arc<dyn Peers>) -> Self {
        let shared = Shared { ttl, epoch: AtomicU64::new(0), state: Mutex::default(), peers };
        Cached { inner, shared: Arc::new(shared) }
    }

    /// What drops this cache's entries when another replica announces a
    /// change.
    pub fn listener(&self) -> Arc<dyn Forget> {
        self.shared.clone()
    }

    /// Records a mutation of this process at `paths` and tells the other
    /// replicas, before the mutation returns.
    async fn changed(&self, paths: &[String]) {
        for path in paths {
            self.shared.changed(path);
        }
        self.shared.peers.changed(paths).await;
    }

    /// The cached answer for `path` in one of the maps, if fresh and the
    /// replicas are in sync.
    fn hit<T: Clone>(&self, pick: impl FnOnce(&State) -> &BTreeMap<String, Entry<T>>, path: &str) -> Option<Option<T>> {
        if !self.shared.peers.in_sync() {
            return None;
        }
        fresh(pick(&self.shared.lock()), path, self.shared.ttl)
    }
}

impl Forget for Shared {
    fn changed(&self, path: &str) {
        Shared::changed(self, path);
    }

    fn clear(&self) {
        let mut state = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        state.clear();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Records a mutation at `path`: called after the inner driver changed it.
    fn changed(&self, path: &str) {
        let mut state = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        state.invalidate(path);
    }

    /// Inserts an answer read while the epoch was `epoch`, unless a mutation
    /// happened since, the path is being appended to, or the replicas are out
    /// of sync (losing the channel clears the cache, which moves the epoch).
    fn insert(&self, epoch: u64, path: &str, insert: impl FnOnce(&mut State, Instant)) {
        let mut state = self.lock();
        if self.epoch() == epoch && !state.appending.contains_key(path) && self.peers.in_sync() {
            insert(&mut state, Instant::now());
        }
    }
}

#[async_trait]
impl Driver for Cached {
    async fn get(&self, path: &str) -> Result<Bytes, StorageError> {
        if let Some(hit) = self.hit(|s| &s.objects, path) {
            return answer(path, hit);
        }
        let epoch = self.shared.epoch();
        let result = self.inner.get(path).await;
        if let Some(value) = cacheable(&result).filter(|v| v.as_ref().is_none_or(|b| b.len() <= MAX_OBJECT)) {
            self.shared.insert(epoch, path, |state, at| {
                state.reserve(value.as_ref().map_or(0, |b| b.len()));
                if let Some(old) = state.objects.insert(path.to_owned(), Entry { at, value }) {
                    state.bytes -= old.value.map_or(0, |b| b.len());
                }
            });
        }
        result
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        let result = self.inner.put(path, data).await;
        self.changed(&[path.to_owned()]).await;
        result
    }

    /// Small objects are served from the object cache, so a config blob GET
    /// costs no disk access; large ones stream from the inner driver.
    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream, StorageError> {
        let small = self.stat(path).await?.size <= MAX_OBJECT as u64;
        if !small {
            return self.inner.reader(path, offset, len).await;
        }
        let bytes = self.get(path).await?;
        let start = (offset as usize).min(bytes.len());
        let end = len.map_or(bytes.len(), |len| start.saturating_add(len as usize).min(bytes.len()));
        let chunk = bytes.slice(start..end);
        Ok(Box::pin(futures_util::stream::once(async move { Ok(chunk) })))
    }

    async fn append(&self, path: &str) -> Result<Box<dyn Writer>, StorageError> {
        // Marked before the inner driver opens it, so no read racing with
        // the open can insert; the guard unmarks it even when opening fails.
        *self.shared.lock().appending.entry(path.to_owned()).or_default() += 1;
        let mut guard = AppendGuard { shared: self.shared.clone(), path: path.to_owned(), inner: None };
        guard.inner = Some(self.inner.append(path).await?);
        self.changed(&[path.to_owned()]).await;
        Ok(Box::new(guard))
    }

    async fn stat(&self, path: &str) -> Result<Stat, StorageError> {
        if let Some(hit) = self.hit(|s| &s.stats, path) {
            return answer(path, hit);
        }
        let epoch = self.shared.epoch();
        let result = self.inner.stat(path).await;
        if let Some(value) = cacheable(&result) {
            self.shared.insert(epoch, path, |state, at| {
                state.reserve(0);
                state.stats.insert(path.to_owned(), Entry { at, value });
            });
        }
        result
    }

    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError> {
        if let Some(hit) = self.hit(|s| &s.lists, path) {
            return answer(path, hit).map(|names| names.to_vec());
        }
        let epoch = self.shared.epoch();
        let result = self.inner.list(path).await;
        if let Some(value) = cacheable(&result) {
            let value: Option<Arc<[String]>> = value.map(Into::into);
            self.shared.insert(epoch, path, |state, at| {
                state.reserve(value.as_deref().map_or(0, list_bytes));
                if let Some(old) = state.lists.insert(path.to_owned(), Entry { at, value }) {
                    state.bytes -= old.value.map_or(0, |names| list_bytes(&names));
                }
            });
        }
        result
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let result = self.inner.rename(from, to).await;
        self.changed(&[from.to_owned(), to.to_owned()]).await;
        result
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        let result = self.inner.delete(path).await;
        self.changed(&[path.to_owned()]).await;
        result
    }

    async fn delete_all(&self, paths: &[String]) -> Result<(), StorageError> {
        let result = self.inner.delete_all(paths).await;
        self.changed(paths).await;
        result
    }

    async fn touch(&self, path: &str) -> Result<(), StorageError> {
        let result = self.inner.touch(path).await;
        self.changed(&[path.to_owned()]).await;
        result
    }

    async fn delete_stale(
        &self,
        dirs: &[String],
        marker: &str,
        cutoff: std::time::SystemTime,
    ) -> Result<Vec<bool>, StorageError> {
        let result = self.inner.delete_stale(dirs, marker, cutoff).await;
        self.changed(dirs).await;
        result
    }

    /// Not cached: a signed URL is made for each request.
    async fn redirect_url(&self, path: &str, method: &http::Method) -> Result<Option<String>, StorageError> {
        self.inner.redirect_url(path, method).await
    }

    /// Not cached: a walk is the rebuild of a listing the registry keeps.
    async fn walk_dirs(&self, path: &str, enter: for<'a> fn(&'a str) -> bool) -> Result<Vec<String>, StorageError> {
        self.inner.walk_dirs(path, enter).await
    }
}

/// A writer on an object of a `Cached` driver: while it lives the object
/// is not cached, and when it goes (committed, cancelled or dropped) the
/// object's entries are dropped, here and, when it ends by commit, close or
/// cancel, in the other replicas before it returns.
struct AppendGuard {
    shared: Arc<Shared>,
    path: String,
    inner: Option<Box<dyn Writer>>,
}

impl AppendGuard {
    fn inner(&mut self) -> &mut Box<dyn Writer> {
        self.inner.as_mut().expect("an append guard holds its writer until it is consumed")
    }

    /// Ends the writer with `end` and tells the other replicas the object
    /// changed, whatever the outcome (a failed end may have truncated it).
    async fn end<F>(mut self: Box<Self>, end: impl FnOnce(Box<dyn Writer>) -> F) -> Result<(), StorageError>
    where
        F: Future<Output = Result<(), StorageError>>,
    {
        let result = match self.inner.take() {
            Some(inner) => end(inner).await,
            None => Ok(()),
        };
        self.shared.peers.changed(std::slice::from_ref(&self.path)).await;
        result
    }
}

#[async_trait]
impl Writer for AppendGuard {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.inner().write(data).await
    }

    fn size(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.size())
    }

    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.end(|w| w.commit()).await
    }

    async fn close(self: Box<Self>) -> Result<(), StorageError> {
        self.end(|w| w.close()).await
    }

    async fn cancel(self: Box<Self>) -> Result<(), StorageError> {
        self.end(|w| w.cancel()).await
    }
}

impl Drop for AppendGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
        state.invalidate(&self.path);
        if let Some(count) = state.appending.get_mut(&self.path) {
            *count -= 1;
            if *count == 0 {
                state.appending.remove(&self.path);
            }
        }
    }
}
