//! The in-memory driver (distribution's `inmemory`): for tests and throwaway
//! registries. Directories are implicit: a directory exists while any object
//! lies below it.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::SystemTime,
};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::{ByteStream, Driver, Stat, StorageError, Writer, check_path};

#[derive(Debug, Clone)]
struct Object {
    data: Bytes,
    modified: SystemTime,
}

/// Keeps every object in a map in memory.
#[derive(Debug, Clone, Default)]
pub struct InMemory {
    objects: Arc<Mutex<BTreeMap<String, Object>>>,
}

impl InMemory {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Object>> {
        // A panic while holding the lock cannot leave a half-applied change:
        // every critical section is a single map operation.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, path: &str, data: Bytes) {
        self.lock().insert(path.to_owned(), Object { data, modified: SystemTime::now() });
    }
}

fn dir_prefix(path: &str) -> String {
    format!("{path}/")
}

#[async_trait]
impl Driver for InMemory {
    async fn get(&self, path: &str) -> Result<Bytes, StorageError> {
        check_path(path)?;
        self.lock().get(path).map(|o| o.data.clone()).ok_or_else(|| StorageError::NotFound(path.to_owned()))
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        check_path(path)?;
        self.store(path, data);
        Ok(())
    }

    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream, StorageError> {
        let data = self.get(path).await?;
        let start = (offset as usize).min(data.len());
        let end = len.map_or(data.len(), |l| start.saturating_add(l as usize).min(data.len()));
        let chunk = data.slice(start..end);
        Ok(Box::pin(futures_util::stream::iter([Ok(chunk)])))
    }

    async fn append(&self, path: &str) -> Result<Box<dyn Writer>, StorageError> {
        check_path(path)?;
        let existing = self.lock().get(path).map(|o| o.data.clone()).unwrap_or_default();
        let start = existing.len() as u64;
        Ok(Box::new(MemWriter {
            store: self.clone(),
            path: path.to_owned(),
            buf: BytesMut::from(&existing[..]),
            start,
        }))
    }

    async fn stat(&self, path: &str) -> Result<Stat, StorageError> {
        check_path(path)?;
        let objects = self.lock();
        if let Some(o) = objects.get(path) {
            return Ok(Stat { size: o.data.len() as u64, is_dir: false, modified: o.modified });
        }
        let prefix = dir_prefix(path);
        objects
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, o)| o.modified)
            .max()
            .map(|modified| Stat { size: 0, is_dir: true, modified })
            .ok_or_else(|| StorageError::NotFound(path.to_owned()))
    }

    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError> {
        check_path(path)?;
        let prefix = dir_prefix(path);
        let objects = self.lock();
        let mut names: Vec<String> = objects
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k[prefix.len()..].split('/').next().unwrap_or_default().to_owned())
            .collect();
        names.dedup();
        if names.is_empty() {
            return Err(StorageError::NotFound(path.to_owned()));
        }
        Ok(names)
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_path(from)?;
        check_path(to)?;
        let mut objects = self.lock();
        let object = objects.remove(from).ok_or_else(|| StorageError::NotFound(from.to_owned()))?;
        objects.insert(to.to_owned(), object);
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        let prefix = dir_prefix(path);
        self.lock().retain(|k, _| k != path && !k.starts_with(&prefix));
        Ok(())
    }

    async fn touch(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        let mut objects = self.lock();
        let object = objects.get_mut(path).ok_or_else(|| StorageError::NotFound(path.to_owned()))?;
        object.modified = SystemTime::now();
        Ok(())
    }

    /// Check and removal happen under one lock, so a touch cannot fall in
    /// between.
    async fn delete_stale(&self, dirs: &[String], marker: &str, cutoff: SystemTime) -> Result<Vec<bool>, StorageError> {
        check_path(marker)?;
        let mut objects = self.lock();
        let mut removed = Vec::with_capacity(dirs.len());
        for dir in dirs {
            check_path(dir)?;
            let prefix = dir_prefix(dir);
            let young = objects.get(&format!("{prefix}{marker}")).is_some_and(|o| o.modified >= cutoff);
            let present = objects.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix));
            if present && !young {
                objects.retain(|k, _| !k.starts_with(&prefix));
            }
            removed.push(present && !young);
        }
        Ok(removed)
    }
}

/// Appends into a buffer, published on commit (and on cancel, unchanged).
struct MemWriter {
    store: InMemory,
    path: String,
    buf: BytesMut,
    start: u64,
}

#[async_trait]
impl Writer for MemWriter {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.buf.extend_from_slice(&data);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.buf.len() as u64
    }

    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.store.store(&self.path, self.buf.freeze());
        Ok(())
    }

    async fn close(self: Box<Self>) -> Result<(), StorageError> {
        self.commit().await
    }

    async fn cancel(mut self: Box<Self>) -> Result<(), StorageError> {
        self.buf.truncate(self.start as usize);
        self.store.store(&self.path, self.buf.freeze());
        Ok(())
    }
}
