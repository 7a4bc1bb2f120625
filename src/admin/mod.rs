//! Commands that prepare a registry's files before it serves: `berth
//! htpasswd` edits an htpasswd file (bcrypt, as distribution reads it) and
//! `berth cert self-signed` makes a private CA and a server certificate for
//! `http.tls`. They replace the seeds' apache2-utils and hand-run openssl.
//!
//! They stand beside [`crate::http`], [`crate::registry`] and
//! [`crate::storage`] and use none of them but the htpasswd parser of
//! [`crate::http::auth::Htpasswd`], so that what `berth htpasswd` writes is
//! read back by the same code that serves.

pub mod cert;
mod files;
pub mod htpasswd;
pub mod password;
