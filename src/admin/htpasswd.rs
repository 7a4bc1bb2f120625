//! Editing an htpasswd file as apache's `htpasswd -B` does, for
//! distribution's and berth's `auth.htpasswd`: bcrypt entries with the
//! `$2y$` prefix apache writes, one `user:hash` line per user.
//!
//! An edit changes only the user's line: other entries, comments and blank
//! lines keep their bytes and order. The file is replaced atomically (see
//! [`super::files::replace`]), so a registry that re-reads it while it is
//! edited sees the old users or the new ones, and edits by concurrent
//! `berth htpasswd` runs wait for each other. Lines are read with berth's
//! own parser ([`Htpasswd::entry`]), so what is written here is what the
//! server reads.

use std::path::Path;

use anyhow::{Context, bail};

use super::files::{self, Mode};
use crate::http::auth::Htpasswd;

/// apache htpasswd's default bcrypt cost. berth pays it once per credential
/// (it remembers those that verified), distribution on every request.
pub const DEFAULT_COST: u32 = 10;

/// Permissions of a file this creates: the hashes can be cracked offline,
/// so others get nothing; the group may read, so a registry running as
/// another user of the owner's group (a service account, a container's
/// user with the host group) can read a file an administrator edits. An
/// existing file keeps its permissions and owner.
pub const NEW_FILE_MODE: u32 = 0o640;

/// What `add` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// The file did not exist; it holds this user alone.
    Created,
    /// The user was appended.
    Appended,
    /// The user's line was replaced where it was.
    Replaced,
}

/// One user of a file, in file order.
#[derive(Debug, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// Whether the hash is bcrypt; distribution and berth ignore other kinds.
    pub bcrypt: bool,
}

/// Refuses a user name the file cannot hold or the parser would read back
/// differently: empty, with `:` (the separator), a control character such
/// as a newline, surrounding whitespace (trimmed when read) or a leading
/// `#` (a comment).
pub fn check_user(user: &str) -> anyhow::Result<()> {
    let problem = if user.is_empty() {
        "is empty"
    } else if user.contains(':') {
        "contains ':', which separates the user from the hash (and from the password in Basic auth)"
    } else if user.chars().any(char::is_control) {
        "contains a control character such as a newline"
    } else if user.trim() != user {
        "starts or ends with whitespace"
    } else if user.starts_with('#') {
        "starts with '#', which makes the line a comment"
    } else {
        return Ok(());
    };
    bail!("user name {user:?} {problem}")
}

/// The `user:hash` line for a password: bcrypt at `cost`, `$2y$`.
/// Refuses an empty password and one over bcrypt's 72 bytes, which bcrypt
/// would silently cut.
pub fn entry_line(user: &str, password: &str, cost: u32) -> anyhow::Result<String> {
    check_user(user)?;
    if password.is_empty() {
        bail!("the password is empty");
    }
    if password.len() > 72 {
        bail!("the password is {} bytes long; bcrypt uses only the first 72", password.len());
    }
    // Not bcrypt's non-truncating variant: it refuses 72 bytes too, which
    // bcrypt uses whole (only the terminating NUL is lost).
    let hash = bcrypt::hash_with_result(password, cost).context("bcrypt")?;
    Ok(format!("{user}:{}", hash.format_for_version(bcrypt::Version::TwoY)))
}

/// Sets a user's password: replaces the user's line in place (dropping any
/// later duplicate, which would otherwise win), or appends one, or creates
/// the file (mode [`NEW_FILE_MODE`]) and its directory.
pub fn add(path: &Path, user: &str, password: &str, cost: u32) -> anyhow::Result<Added> {
    let line = entry_line(user, password, cost)?;
    // As the seeds' `mkdir auth` before `htpasswd ... > auth/htpasswd`.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _lock = files::lock_dir_of(path).with_context(|| format!("locking the directory of {}", path.display()))?;
    let old = read(path)?;
    let (text, added) = match &old {
        None => (format!("{line}\n"), Added::Created),
        Some(text) => with_user(text, user, &line),
    };
    files::replace(path, text.as_bytes(), Mode::KeepOr(NEW_FILE_MODE))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(added)
}

/// Removes every line of a user; an error names a user the file lacks.
pub fn delete(path: &Path, user: &str) -> anyhow::Result<()> {
    let _lock = files::lock_dir_of(path).with_context(|| format!("locking the directory of {}", path.display()))?;
    let text = read(path)?.with_context(|| format!("{} does not exist", path.display()))?;
    let kept: String = text.split_inclusive('\n').filter(|l| !is_user(l, user)).collect();
    if kept.len() == text.len() {
        bail!("user {user:?} is not in {}", path.display());
    }
    files::replace(path, kept.as_bytes(), Mode::KeepOr(NEW_FILE_MODE))
        .with_context(|| format!("writing {}", path.display()))
}

/// The file's users in file order.
pub fn list(path: &Path) -> anyhow::Result<Vec<User>> {
    let text = read(path)?.with_context(|| format!("{} does not exist", path.display()))?;
    let users = text.lines().filter_map(Htpasswd::entry);
    Ok(users.map(|(name, hash)| User { name: name.to_owned(), bcrypt: Htpasswd::is_bcrypt(hash) }).collect())
}

/// The text with `line` in place of the user's first line (later ones
/// dropped), or appended after a newline the last line may lack.
fn with_user(text: &str, user: &str, line: &str) -> (String, Added) {
    let mut out = String::with_capacity(text.len() + line.len() + 2);
    let mut replaced = false;
    for old in text.split_inclusive('\n') {
        if !is_user(old, user) {
            out.push_str(old);
        } else if !replaced {
            replaced = true;
            out.push_str(line);
            out.push('\n');
        }
    }
    if replaced {
        return (out, Added::Replaced);
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    (out, Added::Appended)
}

fn is_user(line: &str, user: &str) -> bool {
    Htpasswd::entry(line).is_some_and(|(name, _)| name == user)
}

/// The file's text, `None` when it does not exist.
fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            String::from_utf8(bytes).map(Some).with_context(|| format!("{} is not UTF-8 text", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_the_file_cannot_hold() {
        for bad in ["", "a:b", "a\nb", "a\rb", " a", "a\t", "#a"] {
            assert!(check_user(bad).is_err(), "{bad:?}");
        }
        for good in ["alice", "a b", "ü", "a#b", "user@example.com"] {
            check_user(good).unwrap();
        }
    }

    #[test]
    fn replaces_in_place_and_drops_later_duplicates() {
        let text = "# c\nalice:old\n\nbob:{SHA}x\r\nalice:older\ncarol:$2y$05$z";
        let (out, added) = with_user(text, "alice", "alice:NEW");
        assert_eq!(added, Added::Replaced);
        assert_eq!(out, "# c\nalice:NEW\n\nbob:{SHA}x\r\ncarol:$2y$05$z");
        let (out, added) = with_user(text, "dave", "dave:H");
        assert_eq!(added, Added::Appended);
        assert_eq!(out, format!("{text}\ndave:H\n"));
    }

    #[test]
    fn writes_2y_hashes_that_verify_and_refuses_long_passwords() {
        let line = entry_line("alice", "pw:with colon", 4).unwrap();
        let hash = line.strip_prefix("alice:$2y$04$").map(|_| &line[6..]).unwrap();
        assert!(Htpasswd::verify("pw:with colon", hash));
        assert!(!Htpasswd::verify("pw", hash));
        assert!(entry_line("alice", &"x".repeat(73), 4).is_err());
        let line = entry_line("alice", &"x".repeat(72), 4).unwrap();
        assert!(Htpasswd::verify(&"x".repeat(72), &line[6..]), "all 72 bytes are used");
        assert!(!Htpasswd::verify(&"x".repeat(71), &line[6..]));
        assert!(entry_line("alice", "", 4).is_err());
    }
}
