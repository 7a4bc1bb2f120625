//! The storage layer: a driver trait over a tree of named byte objects.
//!
//! Drivers know paths and bytes, nothing else: no manifests, no digests, no
//! repositories. The registry layer decides what the paths mean (distribution's
//! layout, see `registry::layout`). Every driver gives the same guarantees:
//! `put` and `rename` are atomic, and a successful `put`, `Writer::commit` or
//! `rename` is durable before it returns.

mod cache;
mod filesystem;
mod inmemory;
mod peers;
mod s3;

use std::{io, pin::Pin, time::SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

pub use cache::{Cached, DEFAULT_TTL as CACHE_TTL};
pub use filesystem::{Filesystem, WRITE_BUFFER};
pub use inmemory::InMemory;
pub use peers::{Alone, Forget, Listeners, Peers};
pub use s3::S3;

/// A stream of bytes read from storage.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What can go wrong in a driver.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Nothing exists at the path.
    #[error("path not found: {0}")]
    NotFound(String),
    /// The path is not a valid driver path (empty, `..`, absolute...).
    #[error("invalid storage path: {0}")]
    InvalidPath(String),
    /// The device has no space left, or a quota is reached.
    #[error("storage is full: {0}")]
    Full(String),
    /// Any other I/O failure.
    #[error("storage I/O error on {path}: {source}")]
    Io {
        /// The path the operation was about.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl StorageError {
    /// Wraps an I/O error, keeping "not found" and "disk full" (no space
    /// left, or a quota reached) distinguishable.
    pub fn io(path: &str, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound(path.to_owned()),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => StorageError::Full(path.to_owned()),
            _ => StorageError::Io { path: path.to_owned(), source },
        }
    }

    /// True when the error says the path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound(_))
    }
}

/// Metadata of one path.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// True when the path holds children rather than bytes.
    pub is_dir: bool,
    /// Last modification time.
    pub modified: SystemTime,
}

/// A storage backend. Paths are relative, `/`-separated, and never contain
/// empty, `.` or `..` segments; drivers reject those with `InvalidPath`.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// Reads a whole (small) object.
    async fn get(&self, path: &str) -> Result<Bytes, StorageError>;
    /// Writes a whole object atomically and durably, replacing any old one.
    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError>;
    /// Streams `len` bytes (or to the end) of an object from `offset`.
    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream, StorageError>;
    /// Opens an object for appending, creating it if missing.
    async fn append(&self, path: &str) -> Result<Box<dyn Writer>, StorageError>;
    /// Size, kind and modification time of a path.
    async fn stat(&self, path: &str) -> Result<Stat, StorageError>;
    /// Names of the direct children of a directory, unsorted.
    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError>;
    /// Moves an object, replacing the destination, atomically and durably.
    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;
    /// Removes an object or a whole directory tree. Missing paths are not an error.
    async fn delete(&self, path: &str) -> Result<(), StorageError>;

    /// Sets an object's modification time to now, durably. `NotFound` when
    /// it is missing. A touch that returns `Ok` left the object at its path:
    /// if a `delete_stale` moved it away meanwhile, the touch fails instead.
    /// This is how a writer that finds content already stored claims it
    /// against garbage collection (see `delete_stale`).
    async fn touch(&self, path: &str) -> Result<(), StorageError>;

    /// Removes each directory of `dirs` unless its `marker` object was
    /// modified at or after `cutoff`, durably once it returns, and says which
    /// it removed. The check and the removal are one step with respect to
    /// `touch`: a touch of a marker either happens before the check, and the
    /// directory stays, or fails with `NotFound`. A directory without its
    /// marker counts as old; a missing directory is not removed.
    async fn delete_stale(&self, dirs: &[String], marker: &str, cutoff: SystemTime) -> Result<Vec<bool>, StorageError>;

    /// Removes many objects or trees, durably once it returns; for sweeps,
    /// where one sync per parent directory beats one per path.
    async fn delete_all(&self, paths: &[String]) -> Result<(), StorageError> {
        for path in paths {
            self.delete(path).await?;
        }
        Ok(())
    }

    /// A URL where a client may fetch (`GET`) or check (`HEAD`) the object
    /// itself for a while, signed by the backend, or `None` when the
    /// backend has no such URLs (a filesystem). For `storage.redirect`.
    async fn redirect_url(&self, path: &str, method: &http::Method) -> Result<Option<String>, StorageError> {
        let _ = (path, method);
        Ok(None)
    }

    /// Every directory below `path`, as paths relative to it, unsorted. A
    /// directory whose name `enter` refuses is listed but not entered. A
    /// missing `path` has none. Drivers that can walk a tree in one go (a
    /// directory walk, a flat object listing) override this; the default
    /// lists directory by directory.
    async fn walk_dirs(&self, path: &str, enter: for<'a> fn(&'a str) -> bool) -> Result<Vec<String>, StorageError> {
        let mut found = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(rel) = pending.pop() {
            let dir = if rel.is_empty() { path.to_owned() } else { format!("{path}/{rel}") };
            let children = match self.list(&dir).await {
                Ok(children) => children,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            for name in children {
                let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
                match self.stat(&format!("{path}/{child}")).await {
                    Ok(stat) if stat.is_dir => {}
                    Ok(_) => continue,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                }
                if enter(&name) {
                    pending.push(child.clone());
                }
                found.push(child);
            }
        }
        Ok(found)
    }
}

/// An open append handle on one object.
#[async_trait]
pub trait Writer: Send {
    /// Appends bytes.
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError>;
    /// Size of the object including what this writer appended.
    fn size(&self) -> u64;
    /// Makes everything appended durable. When it fails, what this writer
    /// appended is dropped, as by `cancel`.
    async fn commit(self: Box<Self>) -> Result<(), StorageError>;
    /// Keeps everything appended without waiting for the disk: a crash may
    /// lose a suffix of it, as the size the object then reports shows. A
    /// later `commit` on the same object makes all of it durable. When it
    /// fails, what this writer appended is dropped, as by `cancel`.
    async fn close(self: Box<Self>) -> Result<(), StorageError>;
    /// Drops everything this writer appended, restoring the object's old size.
    async fn cancel(self: Box<Self>) -> Result<(), StorageError>;
}

/// Checks that a driver path is relative and free of traversal segments.
pub fn check_path(path: &str) -> Result<(), StorageError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\0')
        || path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad { Err(StorageError::InvalidPath(path.to_owned())) } else { Ok(()) }
}

#[cfg(test)]
mod tests;
