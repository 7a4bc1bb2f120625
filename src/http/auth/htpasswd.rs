//! Basic authentication against an Apache htpasswd file of bcrypt entries,
//! as distribution's `htpasswd` provider — without paying bcrypt on every
//! request.
//!
//! - The file is re-read whenever its modification time or size changes
//!   (one `stat` per request, as distribution does).
//! - A credential that verified is remembered by the SHA-256 of user and
//!   password, so bcrypt (tens of milliseconds at the usual costs) runs once
//!   per credential, not per request. Only successes are remembered, and a
//!   changed file forgets them all.
//! - An unknown user is checked against a real entry's hash, so an unknown
//!   user and a wrong password take the same time.

use std::{
    collections::{HashMap, HashSet},
    io,
    path::{Path, PathBuf},
    sync::RwLock,
    time::SystemTime,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use super::unauthorized;
use crate::http::error::ApiError;

/// Remembered credentials are dropped all at once beyond this many; a
/// registry has far fewer distinct users than that.
const MAX_VERIFIED: usize = 10_000;

/// The user distribution provisions when the file is missing.
const DEFAULT_USER: &str = "docker";

/// The loaded file and what was verified against it.
#[derive(Default)]
struct Loaded {
    /// Modification time and size the file had when read.
    stamp: Option<(SystemTime, u64)>,
    /// Bumped on every reload, so a verification that raced a reload is not
    /// remembered.
    generation: u64,
    users: HashMap<String, String>,
    verified: HashSet<[u8; 32]>,
}

/// An htpasswd provider.
pub struct Htpasswd {
    realm: String,
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The user and password of a `Basic` Authorization header.
pub(super) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn credential_key(user: &str, password: &str) -> [u8; 32] {
    Sha256::new().chain_update(user).chain_update([0]).chain_update(password).finalize().into()
}

impl Htpasswd {
    /// Parses htpasswd text into bcrypt hashes by user: `user:hash` lines;
    /// blank lines and `#` comments are skipped, and entries that are not
    /// bcrypt are left out (distribution accepts only bcrypt).
    pub fn parse(text: &str) -> HashMap<String, String> {
        text.lines()
            .filter_map(Htpasswd::entry)
            .filter(|(_, hash)| Htpasswd::is_bcrypt(hash))
            .map(|(user, hash)| (user.to_owned(), hash.to_owned()))
            .collect()
    }

    /// The user and hash of one line, or `None` for a blank line, a `#`
    /// comment or a line without `:`. Surrounding whitespace is ignored;
    /// the user ends at the first `:`.
    pub fn entry(line: &str) -> Option<(&str, &str)> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        line.split_once(':')
    }

    /// Whether a hash is bcrypt, the only kind distribution accepts.
    pub fn is_bcrypt(hash: &str) -> bool {
        ["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p))
    }

    /// Whether a password matches an entry's hash; a malformed hash matches
    /// nothing. Costs what the hash's bcrypt cost says.
    pub fn verify(password: &str, hash: &str) -> bool {
        bcrypt::verify(password, hash).unwrap_or(false)
    }

    /// Opens the file, creating it with a generated user when it is missing
    /// (as distribution does; the password is logged once).
    pub fn open(realm: &str, path: &Path) -> io::Result<Htpasswd> {
        if !path.exists() {
            provision(path)?;
        }
        let h = Htpasswd { realm: realm.to_owned(), path: path.to_owned(), loaded: RwLock::default() };
        h.refresh();
        Ok(h)
    }

    /// Re-reads the file when it changed.
    fn refresh(&self) {
        let now = stamp(&self.path);
        if self.loaded.read().unwrap_or_else(|e| e.into_inner()).stamp == now && now.is_some() {
            return;
        }
        let users = std::fs::read_to_string(&self.path).map(|t| Htpasswd::parse(&t)).unwrap_or_default();
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        let generation = loaded.generation + 1;
        *loaded = Loaded { stamp: now, generation, users, verified: HashSet::new() };
    }

    /// Lets a request with valid Basic credentials through; returns the user.
    pub async fn check(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let refuse = || unauthorized(format!("Basic realm={:?}", self.realm));
        let (user, password) = basic_credentials(headers).ok_or_else(refuse)?;
        self.refresh();
        let key = credential_key(&user, &password);
        let (hash, known, generation) = {
            let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
            if loaded.verified.contains(&key) {
                return Ok(user);
            }
            // Unknown users are checked against a real entry, to take as long.
            match loaded.users.get(&user).or_else(|| loaded.users.values().next()) {
                Some(hash) => (hash.clone(), loaded.users.contains_key(&user), loaded.generation),
                None => return Err(refuse()),
            }
        };
        let matches = tokio::task::spawn_blocking(move || Htpasswd::verify(&password, &hash)).await.unwrap_or(false);
        if !(matches && known) {
            return Err(refuse());
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if loaded.generation == generation {
            if loaded.verified.len() >= MAX_VERIFIED {
                loaded.verified.clear();
            }
            loaded.verified.insert(key);
        }
        Ok(user)
    }
}

/// Creates an htpasswd file with one generated user.
fn provision(path: &Path) -> io::Result<()> {
    let password = uuid::Uuid::new_v4().simple().to_string();
    let hash = bcrypt::hash(&password, bcrypt::DEFAULT_COST).map_err(io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{DEFAULT_USER}:{hash}\n"))?;
    tracing::warn!(
        file = %path.display(),
        user = DEFAULT_USER,
        password = %password,
        "htpasswd file was missing: created it with a generated user (this password is shown only once)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn parses_bcrypt_entries_only() {
        let users = Htpasswd::parse("# c\n\nalice:$2y$05$abc\nbob:{SHA}xyz\ncarol:$2b$05$def\n");
        assert_eq!(users.len(), 2);
        assert!(users.contains_key("alice") && users.contains_key("carol"));
    }

    #[tokio::test]
    async fn verifies_caches_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let hash = bcrypt::hash("secret", 4).unwrap();
        std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
        let h = Htpasswd::open("r", &path).unwrap();
        assert!(h.check(&basic("alice", "secret")).await.is_ok());
        assert_eq!(h.loaded.read().unwrap().verified.len(), 1);
        let err = h.check(&basic("alice", "wrong")).await.unwrap_err();
        assert_eq!(err.status, 401);
        assert_eq!(err.headers, [("WWW-Authenticate", "Basic realm=\"r\"".to_owned())]);
        assert!(h.check(&basic("mallory", "secret")).await.is_err());
        assert!(h.check(&HeaderMap::new()).await.is_err());
        assert_eq!(h.loaded.read().unwrap().verified.len(), 1, "failures are never remembered");

        let other = bcrypt::hash("new", 4).unwrap();
        std::fs::write(&path, format!("alice:{other}\n#changed\n")).unwrap();
        assert!(h.check(&basic("alice", "secret")).await.is_err(), "a changed file forgets old credentials");
        assert!(h.check(&basic("alice", "new")).await.is_ok());
    }

    #[test]
    fn provisions_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth/htpasswd");
        let h = Htpasswd::open("r", &path).unwrap();
        assert!(h.loaded.read().unwrap().users.contains_key(DEFAULT_USER));
    }
}
