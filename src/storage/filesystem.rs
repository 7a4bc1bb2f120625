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
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ByteStream, Driver, Stat, StorageError, Writer, check_path};

/// Batch size of appends: large enough that the blocking pool sees a few
/// hundred writes per second at disk speed, small enough to keep memory flat.
const WRITE_CHUNK: usize = 4 * 1024 * 1024;

/// The most bytes of one append held in memory: a batch being gathered and
/// the one being written.
pub const WRITE_BUFFER: usize = 2 * WRITE_CHUNK;

/// Bytes of an append that may be on their way to the disk while more arrive.
const WRITEBACK_WINDOW: u64 = 4 * WRITE_CHUNK as u64;

/// Threads removing paths at once in `delete_all` and `delete_stale`.
const DELETE_THREADS: usize = 16;

/// Piece size for streaming blobs: large enough that a GB/s stream is a few
/// thousand blocking reads per second, small enough to keep memory flat
/// (two pieces per stream: one sent, one read ahead).
const READ_CHUNK: usize = 512 * 1024;

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

impl Filesystem {
    /// Runs `f` on `DELETE_THREADS` shares of `paths` at once, each on the
    /// blocking pool, for sweeps of many paths.
    async fn in_batches<T, F>(&self, paths: &[String], f: F) -> Result<Vec<T>, StorageError>
    where
        T: Send + 'static,
        F: Fn(&Inner, Vec<PathBuf>) -> io::Result<T> + Clone + Send + 'static,
    {
        let Some(first) = paths.first() else { return Ok(Vec::new()) };
        let full: Vec<PathBuf> = paths.iter().map(|p| self.full(p)).collect::<Result<_, _>>()?;
        let share = full.len().div_ceil(DELETE_THREADS);
        let batches = full.chunks(share).map(|batch| {
            let (batch, f) = (batch.to_vec(), f.clone());
            self.blocking(first, move |inner, _| f(inner, batch))
        });
        futures_util::future::try_join_all(batches).await
    }
}

/// A temporary file lives for the milliseconds of one write; one this old
/// belongs to no live writer.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(3600);

fn remove_stale(tmp: &Path) -> io::Result<()> {
    for entry in fs::read_dir(tmp)? {
        // Another process on the same root renames its files away from
        // here all the time.
        let meta = match entry.and_then(|e| Ok((e.path(), e.metadata()?))) {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let (path, meta) = meta;
        let age = meta.modified()?.elapsed().unwrap_or_default();
        if age > STALE_TMP {
            // A directory is what a sweep that died left (`delete_stale`).
            remove_path(&path)?;
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
/// A sweep (`delete_stale`) may remove that directory between its creation
/// and the rename; the rename then finds no directory and is tried again.
fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    let parent = to.parent().ok_or_else(|| io::Error::other("no parent directory"))?;
    let mut tries = 0;
    loop {
        create_dir_durable(parent)?;
        match fs::rename(from, to) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 && from.exists() => tries += 1,
            result => break result?,
        }
    }
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
    match (remove_path(full)?, full.parent()) {
        (true, Some(parent)) => sync_dir(parent),
        _ => Ok(()),
    }
}

/// Removes a file or a tree, without syncing. False when nothing was there.
fn remove_path(full: &Path) -> io::Result<bool> {
    let removed = match fs::symlink_metadata(full) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(full),
        Ok(_) => fs::remove_file(full),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match removed {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes every path, then syncs each parent directory once (unless a
/// later path of the batch removed the parent itself).
fn delete_paths(paths: &[PathBuf]) -> io::Result<()> {
    let mut parents = std::collections::BTreeSet::new();
    for full in paths {
        if remove_path(full)? {
            parents.extend(full.parent());
        }
    }
    parents.into_iter().try_for_each(|dir| match sync_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    })
}

/// `Driver::touch`: the new time goes through the open file, and the path
/// is checked afterwards to still name that file, so a touch that raced
/// with a sweep moving the file away fails instead of claiming it.
fn touch(full: &Path) -> io::Result<()> {
    let file = fs::OpenOptions::new().write(true).open(full)?;
    file.set_modified(SystemTime::now())?;
    file.sync_all()?;
    let (held, now) = (file.metadata()?, fs::metadata(full)?);
    if (held.dev(), held.ino()) != (now.dev(), now.ino()) {
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok(())
}

/// True when `file` was modified at or after `cutoff`; a missing file is old.
fn modified_since(file: &Path, cutoff: SystemTime) -> io::Result<bool> {
    match fs::metadata(file) {
        Ok(meta) => Ok(meta.modified()? >= cutoff),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// `Driver::delete_stale` for a batch. An old directory is first moved into
/// `trash` and its marker checked again there: a touch that landed before
/// the move shows in that second check, and the directory is moved back
/// (unless a writer made a new one meanwhile, which is then kept instead);
/// a touch after the move finds no file. The first check only spares the
/// move for directories that are young anyway.
fn delete_stale(dirs: &[PathBuf], marker: &str, cutoff: SystemTime, trash: &Path) -> io::Result<Vec<bool>> {
    let mut parents = std::collections::BTreeSet::new();
    let mut removed = Vec::with_capacity(dirs.len());
    for (i, dir) in dirs.iter().enumerate() {
        if modified_since(&dir.join(marker), cutoff)? {
            removed.push(false);
            continue;
        }
        let moved = trash.join(i.to_string());
        match fs::rename(dir, &moved) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                removed.push(false);
                continue;
            }
            Err(e) => return Err(e),
        }
        parents.extend(dir.parent());
        let young = modified_since(&moved.join(marker), cutoff)?;
        if young && fs::rename(&moved, dir).is_ok() {
            removed.push(false);
            continue;
        }
        fs::remove_dir_all(&moved)?;
        removed.push(!young);
    }
    for dir in parents {
        match sync_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(removed)
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

/// Streams `[offset, end)` of a file in `READ_CHUNK` pieces, each read
/// straight into its own buffer on the blocking pool, with the next piece
/// read while the current one is sent.
fn read_ahead(file: Arc<fs::File>, offset: u64, end: u64) -> ByteStream {
    let read = move |at: u64| {
        let file = file.clone();
        let len = (end - at).min(READ_CHUNK as u64) as usize;
        tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0; len];
            file.read_exact_at(&mut buf, at)?;
            Ok::<_, io::Error>(Bytes::from(buf))
        })
    };
    let first = (offset < end).then(|| read(offset));
    let pieces = futures_util::stream::unfold((first, offset), move |(pending, at)| {
        let read = read.clone();
        async move {
            let piece = pending?.await.map_err(io::Error::other).and_then(|piece| piece);
            let next_at = at + piece.as_ref().map_or(0, |p| p.len() as u64);
            let next = (piece.is_ok() && next_at < end).then(|| read(next_at));
            Some((piece, (next, next_at)))
        }
    });
    Box::pin(pieces)
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
        let (file, size) = self
            .blocking(path, |_, full| {
                let file = fs::File::open(full)?;
                let size = file.metadata()?.len();
                Ok((file, size))
            })
            .await?;
        let end = len.map_or(size, |len| offset.saturating_add(len).min(size));
        Ok(read_ahead(Arc::new(file), offset.min(end), end))
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
        Ok(Box::new(FileWriter::new(path, file, start)))
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

    async fn touch(&self, path: &str) -> Result<(), StorageError> {
        self.blocking(path, |_, full| touch(&full)).await
    }

    /// In batches on several threads, as `delete_all`; each batch moves its
    /// directories into its own directory under `.berth-tmp`, which a later
    /// start removes if this process dies half-way.
    async fn delete_stale(&self, dirs: &[String], marker: &str, cutoff: SystemTime) -> Result<Vec<bool>, StorageError> {
        check_path(marker)?;
        let marker = marker.to_owned();
        let removed = self
            .in_batches(dirs, move |inner, batch| {
                let trash = inner.tmp.join(format!("sweep-{}", uuid::Uuid::new_v4()));
                fs::create_dir(&trash)?;
                let removed = delete_stale(&batch, &marker, cutoff, &trash);
                let _ = fs::remove_dir(&trash);
                removed
            })
            .await?;
        Ok(removed.into_iter().flatten().collect())
    }

    /// Several threads remove at once: an unlink mostly waits on the
    /// filesystem's locks and journal, and paths in different directories
    /// do not wait on each other.
    async fn delete_all(&self, paths: &[String]) -> Result<(), StorageError> {
        self.in_batches(paths, |_, batch| delete_paths(&batch)).await.map(drop)
    }
}

/// Appends to one file.
///
/// Network frames (8–64 KiB) are gathered, without copying, into batches of
/// `WRITE_CHUNK`, and each batch goes to the file in one task on the
/// blocking pool while the next one is received and hashed: one batch in
/// flight at a time. After each batch the kernel is told to start writing it
/// back, and the batch before it is waited for, so dirty pages stay bounded
/// and the fsync that makes the upload durable only has the last batches left
/// to write: the disk works while the bytes arrive, not after.
struct FileWriter {
    path: String,
    file: Arc<fs::File>,
    /// Size of the file when this writer opened it.
    start: u64,
    /// Size including everything given to `write`.
    size: u64,
    /// Frames not yet handed to the file, and their length.
    pending: Vec<Bytes>,
    pending_len: usize,
    /// File offset where the pending frames go.
    offset: u64,
    in_flight: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl FileWriter {
    fn new(path: &str, file: fs::File, start: u64) -> Self {
        FileWriter {
            path: path.to_owned(),
            file: Arc::new(file),
            start,
            size: start,
            pending: Vec::new(),
            pending_len: 0,
            offset: start,
            in_flight: None,
        }
    }

    fn err(&self, e: io::Error) -> StorageError {
        StorageError::io(&self.path, e)
    }

    /// Waits for the batch in flight, if any.
    async fn settle(&mut self) -> io::Result<()> {
        match self.in_flight.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }

    /// Hands the pending frames to the blocking pool, after the batch before.
    async fn flush(&mut self) -> io::Result<()> {
        self.settle().await?;
        if self.pending_len == 0 {
            self.pending.clear();
            return Ok(());
        }
        let frames = std::mem::take(&mut self.pending);
        let (offset, len) = (self.offset, self.pending_len as u64);
        self.offset += len;
        self.pending_len = 0;
        let file = self.file.clone();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            write_all_at(&file, &frames, offset)?;
            start_writeback(&file, offset, len)
        }));
        Ok(())
    }
}

impl FileWriter {
    /// Writes what is pending and waits for it; with `sync`, fsyncs too.
    async fn finish(&mut self, sync: bool) -> io::Result<()> {
        self.flush().await?;
        self.settle().await?;
        if !sync {
            return Ok(());
        }
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data()).await.map_err(io::Error::other)?
    }

    /// Cuts the file back to its size when this writer opened it.
    async fn truncate(&mut self) -> io::Result<()> {
        // A batch still in flight would land after the truncation otherwise.
        let _ = self.settle().await;
        let (file, start) = (self.file.clone(), self.start);
        tokio::task::spawn_blocking(move || file.set_len(start)).await.map_err(io::Error::other)?
    }

    /// Finishes; on a failure (a full disk, most often: small appends only
    /// reach the file here) drops what this writer appended, so a failed
    /// commit or close leaves no bytes nobody acknowledged.
    async fn finish_or_truncate(mut self: Box<Self>, sync: bool) -> Result<(), StorageError> {
        let finished = self.finish(sync).await;
        if finished.is_err() {
            let _ = self.truncate().await;
        }
        finished.map_err(|e| self.err(e))
    }
}

/// Writes every frame at `offset` onward.
fn write_all_at(file: &fs::File, frames: &[Bytes], mut offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    for frame in frames {
        file.write_all_at(frame, offset)?;
        offset += frame.len() as u64;
    }
    Ok(())
}

/// Starts writeback of `[offset, offset+len)` and waits for what was
/// written before the last `WRITEBACK_WINDOW` bytes, so a few batches are
/// on their way to the disk at once (keeping it busy) and the final fsync
/// has at most the window left.
#[cfg(target_os = "linux")]
fn start_writeback(file: &fs::File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let done = offset.saturating_sub(WRITEBACK_WINDOW);
    let previous = done.saturating_sub(len);
    // A length of 0 would mean "to the end of the file": nothing to wait for yet.
    let wait = if done > previous {
        // SAFETY: sync_file_range only reads its integer arguments; `fd` is an
        // open descriptor owned by `file` for the duration of the call.
        unsafe {
            libc::sync_file_range(
                fd,
                previous as i64,
                (done - previous) as i64,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            )
        }
    } else {
        0
    };
    // SAFETY: as above; `len` is never 0 (a batch holds at least one frame).
    let start = unsafe { libc::sync_file_range(fd, offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE) };
    if wait != 0 || start != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Elsewhere the final fsync does all the work.
#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &fs::File, _: u64, _: u64) -> io::Result<()> {
    Ok(())
}

#[async_trait]
impl Writer for FileWriter {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.size += data.len() as u64;
        self.pending_len += data.len();
        self.pending.push(data);
        if self.pending_len >= WRITE_CHUNK {
            self.flush().await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.finish_or_truncate(true).await
    }

    async fn close(self: Box<Self>) -> Result<(), StorageError> {
        self.finish_or_truncate(false).await
    }

    async fn cancel(mut self: Box<Self>) -> Result<(), StorageError> {
        self.truncate().await.map_err(|e| self.err(e))
    }
}
