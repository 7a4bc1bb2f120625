//! Writing secrets to disk: a whole file replaced atomically, or a new file
//! that must not exist yet, each with its permissions set before any byte
//! is written.

use std::{
    fs::{File, Metadata, OpenOptions, Permissions},
    io::{self, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    path::Path,
};

/// The permissions a replaced file gets.
#[derive(Clone, Copy)]
pub enum Mode {
    /// Exactly these bits (a key must not stay readable by others).
    Exact(u32),
    /// The old file's bits, or these when there was none: an administrator
    /// may have loosened or tightened them for the registry's user.
    KeepOr(u32),
}

/// Replaces `path` with `bytes` so that a reader sees the old file or the
/// new one, never a part: a temporary file beside it is written, synced
/// and renamed over it, then the directory is synced so the rename
/// survives a crash. The old file's owner and group are kept (an
/// administrator running this as root must not take the file from the
/// registry's user).
pub fn replace(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    let old = metadata(path)?;
    let mode = match (mode, &old) {
        (Mode::KeepOr(_), Some(old)) => old.mode() & 0o7777,
        (Mode::Exact(m) | Mode::KeepOr(m), _) => m,
    };
    let dir = parent(path);
    let name = path.file_name().ok_or_else(|| io::Error::other(format!("{} is not a file name", path.display())))?;
    let temp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), uuid::Uuid::new_v4().simple()));
    let written = create(&temp, bytes, mode, old.as_ref()).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    File::open(dir)?.sync_all()
}

/// Holds an exclusive lock on the directory of `path` until dropped, so
/// that two edits of a file there (read, change, replace) do not interleave
/// and lose one. The directory is locked, not the file, because a replace
/// puts a new file (inode) at the path; and no lock file is left behind.
pub fn lock_dir_of(path: &Path) -> io::Result<File> {
    let dir = File::open(parent(path))?;
    dir.lock()?;
    Ok(dir)
}

/// Creates `path` with `bytes` and `mode`, failing if it exists; synced.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    create(path, bytes, mode, None)
}

/// The mode is given at creation (less the umask), then set exactly, and
/// the owner of `like` taken, all before the first byte: a key is never
/// readable by others, even for a moment.
fn create(path: &Path, bytes: &[u8], mode: u32, like: Option<&Metadata>) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    if let Some(old) = like {
        let new = file.metadata()?;
        if (old.uid(), old.gid()) != (new.uid(), new.gid()) {
            std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))?;
        }
    }
    file.set_permissions(Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// An existing file's metadata, `None` when there is none.
fn metadata(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
