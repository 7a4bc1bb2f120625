//! The filesystem driver: distribution's `filesystem` storage driver layout,
//! with atomic and durable writes.
//!
//! Whole-object writes go to a temporary file under `<root>/.berth-tmp`, are
//! fsynced, then renamed into place, and the parent directory is fsynced, so a
//! crash leaves either the old object or the new one, never a partial one.
//! Directory-creating operations fsync every directory they create.

use std::{
    fs, io,
    io::{Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{ByteStream, Driver, Stat, StorageError, Writer, check_path};

/// Write buffer for appends.
const WRITE_CHUNK: usize = 1024 * 1024;

/// Read buffer for streaming blobs: large enough that a GB/s stream is a few
/// thousand blocking reads per second, small enough to keep memory flat.
const READ_CHUNK: usize = 256 * 1024;

/// Stores objects as files below a root directory.
#[derive(Debug, Clone)]
pub struct Filesystem {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    tmp: PathBuf,
}

impl Filesystem {
    /// Opens (creating if needed) a root directory and removes temporary
    /// files a crash left behind. Only old ones: another process serving the
    /// same root may be writing the young ones right now.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root: PathBuf = root.into();
        let tmp = root.join(".berth-tmp");
        let shown = tmp.display().to_string();
        fs::create_dir_all(&tmp).map_err(|e| StorageError::io(&shown, e))?;
        remove_stale(&tmp).map_err(|e| StorageError::io(&shown, e))?;
        Ok(Filesystem { inner: Arc::new(Inner { root, tmp }) })
    }

    fn full(&self, path: &str) -> Result<PathBuf, StorageError> {
        check_path(path)?;
        Ok(self.inner.root.join(path))
    }

    async fn blocking<T, F>(&self, path: &str, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, PathBuf) -> io::Result<T> + Send + 'static,
    {
        let full = self.full(path)?;
        let inner = self.inner.clone();
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || f(&inner, full))
            .await
            .map_err(|e| StorageError::io(&owned, io::Error::other(e)))?
            .map_err(|e| StorageError::io(&owned, e))
    }
}

/// A temporary file lives for the milliseconds of one write; one this old
/// belongs to no live writer.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(3600);

fn remove_stale(tmp: &Path) -> io::Result<()> {
    for entry in fs::read_dir(tmp)? {
        let entry = entry?;
        let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
        if age > STALE_TMP {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// fsyncs a directory so that entries created or removed in it survive a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Creates a directory and its missing parents, fsyncing each parent whose
/// entries changed.
fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().ok_or_else(|| io::Error::other("no parent directory"))?;
    create_dir_durable(parent)?;
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(parent),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Renames `from` onto `to`, creating `to`'s directory, and makes it durable.
fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    let parent = to.parent().ok_or_else(|| io::Error::other("no parent directory"))?;
    create_dir_durable(parent)?;
    fs::rename(from, to)?;
    sync_dir(parent)
}

impl Inner {
    fn put(&self, full: &Path, data: &[u8]) -> io::Result<()> {
        let tmp = self.tmp.join(uuid::Uuid::new_v4().to_string());
        let result = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(data)?;
            file.sync_all()?;
            rename_durable(&tmp, full)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

fn list_dir(full: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(full)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

fn delete_path(full: &Path) -> io::Result<()> {
    let removed = match fs::symlink_metadata(full) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(full),
        Ok(_) => fs::remove_file(full),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match removed {
        Ok(()) => full.parent().map_or(Ok(()), sync_dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `Driver::walk_dirs` in one blocking call, using the directory entries'
/// types instead of a stat per entry.
fn walk_dirs(root: &Path, enter: for<'a> fn(&'a str) -> bool) -> io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let entries = match fs::read_dir(root.join(&rel)) {
            Ok(entries) => entries,
            // Missing root, or a directory deleted while we walked.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if enter(&name) {
                pending.push(child.clone());
            }
            found.push(child);
        }
    }
    Ok(found)
}

#[async_trait]
impl Driver for Filesystem {
    async fn get(&self, path: &str) -> Result<Bytes, StorageError> {
        self.blocking(path, |_, full| fs::read(full).map(Bytes::from)).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        self.blocking(path, move |inner, full| inner.put(&full, &data)).await
    }

    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream, StorageError> {
        let full = self.full(path)?;
        let mut file = tokio::fs::File::open(&full).await.map_err(|e| StorageError::io(path, e))?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset)).await.map_err(|e| StorageError::io(path, e))?;
        }
        let limited = file.take(len.unwrap_or(u64::MAX));
        Ok(Box::pin(ReaderStream::with_capacity(limited, READ_CHUNK)))
    }

    async fn append(&self, path: &str) -> Result<Box<dyn Writer>, StorageError> {
        let (file, start) = self
            .blocking(path, |_, full| {
                create_dir_durable(full.parent().ok_or_else(|| io::Error::other("no parent"))?)?;
                let mut file = fs::OpenOptions::new().create(true).write(true).truncate(false).open(full)?;
                let start = file.seek(SeekFrom::End(0))?;
                Ok((file, start))
            })
            .await?;
        Ok(Box::new(FileWriter {
            path: path.to_owned(),
            file: tokio::io::BufWriter::with_capacity(WRITE_CHUNK, tokio::fs::File::from_std(file)),
            start,
            size: start,
        }))
    }

    async fn stat(&self, path: &str) -> Result<Stat, StorageError> {
        self.blocking(path, |_, full| {
            let meta = fs::metadata(full)?;
            Ok(Stat {
                size: if meta.is_dir() { 0 } else { meta.len() },
                is_dir: meta.is_dir(),
                modified: meta.modified()?,
            })
        })
        .await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError> {
        self.blocking(path, |_, full| list_dir(&full)).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let target = self.full(to)?;
        self.blocking(from, move |_, full| rename_durable(&full, &target)).await
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.blocking(path, |_, full| delete_path(&full)).await
    }

    async fn walk_dirs(&self, path: &str, enter: for<'a> fn(&'a str) -> bool) -> Result<Vec<String>, StorageError> {
        self.blocking(path, move |_, full| walk_dirs(&full, enter)).await
    }
}

/// Appends to one file. Network frames are small (8–64 KiB); they are
/// gathered into 1 MiB writes, and tokio runs each on the blocking pool with
/// one in flight, so disk writes overlap with receiving the next megabyte.
struct FileWriter {
    path: String,
    file: tokio::io::BufWriter<tokio::fs::File>,
    start: u64,
    size: u64,
}

impl FileWriter {
    fn err(&self, e: io::Error) -> StorageError {
        StorageError::io(&self.path, e)
    }
}

#[async_trait]
impl Writer for FileWriter {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.file.write_all(&data).await.map_err(|e| self.err(e))?;
        self.size += data.len() as u64;
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        self.file.flush().await.map_err(|e| self.err(e))?;
        self.file.get_ref().sync_data().await.map_err(|e| self.err(e))
    }

    async fn cancel(mut self: Box<Self>) -> Result<(), StorageError> {
        // Flush first: tokio may still hold a write in flight, which would
        // land after the truncation otherwise.
        let _ = self.file.flush().await;
        self.file.get_ref().set_len(self.start).await.map_err(|e| self.err(e))
    }
}
