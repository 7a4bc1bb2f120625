//! Cross-site request forgery guards for the delete forms.
//!
//! A delete needs two things another site cannot produce: a token only
//! this server can compute, bound to the user, the repository and what is
//! deleted (an HMAC under the key of upload locations, `http.secret` or a
//! random per-process key), and an `Origin` (else `Referer`) naming the
//! host the request was sent to.

use http::{StatusCode, header};

use super::super::{App, error::ApiError, request::Req};
use crate::registry::RepoName;

/// What the token is bound to. Upload locations sign (repository, upload
/// id); a repository name has no newline, so no upload signature is a
/// valid token and no token is a valid upload signature.
fn subject(user: Option<&str>, target: &str) -> String {
    format!("berth-ui-delete\n{}\n{target}", user.unwrap_or_default())
}

/// The token a delete form carries.
pub fn token(app: &App, req: &Req, name: &RepoName, target: &str) -> String {
    app.signer.sign(name.as_str(), &subject(req.user.as_deref(), target))
}

fn denied(detail: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "DENIED", "requested access to the resource is denied").detail(detail)
}

/// Refuses a form post that did not come from one of our pages.
pub fn check(app: &App, req: &Req, name: &RepoName, target: &str, given: Option<&str>) -> Result<(), ApiError> {
    same_origin(req)?;
    match given {
        Some(given) if app.signer.verify(name.as_str(), &subject(req.user.as_deref(), target), given) => Ok(()),
        _ => Err(denied("missing or wrong form token; reload the confirmation page")),
    }
}

/// The `host[:port]` of an `Origin` or `Referer` URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

/// The browser says where the form was: it must be a page of this host (the
/// `Host` the request was sent to, a proxy's `X-Forwarded-Host`, or the
/// host of `http.host`).
fn same_origin(req: &Req) -> Result<(), ApiError> {
    let from = match (req.header(header::ORIGIN), req.header(header::REFERER)) {
        (Some(origin), _) => host_of(origin),
        (None, Some(referer)) => host_of(referer),
        (None, None) => None,
    }
    .ok_or_else(|| denied("the form post has no Origin or Referer"))?;
    let ours = [req.header(header::HOST), req.header("x-forwarded-host"), host_of(&req.base_url)];
    if ours.iter().flatten().any(|host| host.eq_ignore_ascii_case(from)) {
        Ok(())
    } else {
        Err(denied(&format!("the form was posted from {from}, not from this registry")))
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts() {
        assert_eq!(host_of("http://a:5000"), Some("a:5000"));
        assert_eq!(host_of("https://a/ui/r/x?y#z"), Some("a"));
        assert_eq!(host_of("null"), None);
    }
}
