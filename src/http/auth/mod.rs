//! Authentication: who may send a request, as distribution's `auth`
//! section decides (htpasswd, token, silly, none).
//!
//! Every `/v2/` route is guarded; a refused request gets 401 with the
//! provider's `WWW-Authenticate` challenge, which is how docker, podman and
//! skopeo learn to log in.

mod htpasswd;
pub mod scope;
mod token;

use http::{HeaderMap, StatusCode, header};

pub use htpasswd::Htpasswd;
pub use scope::Scope;
pub use token::{TokenAuth, TokenError, TokenOptions};

use super::error::ApiError;

/// The configured provider.
pub enum Auth {
    /// No authentication (distribution's `none`, or no `auth` section).
    None,
    /// distribution's `silly`: any `Authorization` header passes; for tests.
    Silly {
        /// Realm in the challenge.
        realm: String,
        /// Service in the challenge.
        service: String,
    },
    /// Basic auth against a bcrypt htpasswd file.
    Htpasswd(Htpasswd),
    /// Bearer tokens from a token server.
    Token(TokenAuth),
}

impl Auth {
    /// Lets a request through, or answers with the provider's challenge.
    /// Returns the user's name when known: the provider's (`silly` for
    /// silly auth, the token's subject), else, as distribution, the user
    /// of a Basic `Authorization` header.
    pub async fn check(&self, headers: &HeaderMap, scopes: &[Scope]) -> Result<Option<String>, ApiError> {
        let user = self.challenge(headers, scopes).await.map_err(|e| e.detail(scope::access_records(scopes)))?;
        Ok(user.or_else(|| htpasswd::basic_credentials(headers).map(|(user, _)| user)))
    }

    async fn challenge(&self, headers: &HeaderMap, scopes: &[Scope]) -> Result<Option<String>, ApiError> {
        match self {
            Auth::None => Ok(None),
            Auth::Silly { realm, service } => {
                if headers.contains_key(header::AUTHORIZATION) {
                    return Ok(Some("silly".to_owned()));
                }
                let mut challenge = format!("Bearer realm={realm:?},service={service:?}");
                if !scopes.is_empty() {
                    challenge.push_str(&format!(",scope={:?}", scope::challenge_scope(scopes)));
                }
                Err(unauthorized(challenge))
            }
            Auth::Htpasswd(h) => h.check(headers).await.map(Some),
            Auth::Token(t) => t.check(headers, scopes),
        }
    }
}

/// 401 UNAUTHORIZED with a challenge.
pub fn unauthorized(challenge: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required")
        .header("WWW-Authenticate", challenge)
}
