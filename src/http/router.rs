//! Turns a request path into a typed route.
//!
//! Repository names have any number of `/` segments, so the path is read
//! from the right: the last one or two segments say what is addressed
//! (`manifests/<ref>`, `blobs/<digest>`, `blobs/uploads/<id>`, `tags/list`,
//! `referrers/<digest>`), everything before them is the name. Names are
//! checked here, before anything touches storage.
//!
//! berth's own administrative routes live under `/v2/_berth/`. A repository
//! name cannot start with `_`, so no API path can mean the same thing, and
//! being under `/v2` they get the prefix, TLS, the health gate, auth and
//! read-only mode exactly as the API does.

use percent_encoding::percent_decode_str;

use super::ui::UiRoute;
use crate::registry::{RepoName, name::NameError};

/// What a `/v2/...` path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags {
        /// The repository.
        name: RepoName,
    },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// The repository.
        name: RepoName,
        /// A tag or digest, percent-decoded, not yet validated.
        reference: String,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        /// The repository.
        name: RepoName,
        /// The digest, percent-decoded, not yet validated.
        digest: String,
    },
    /// `/v2/<name>/blobs/uploads/` (no id: start) or `.../uploads/<id>`.
    Upload {
        /// The repository.
        name: RepoName,
        /// The session id.
        id: Option<String>,
    },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers {
        /// The repository.
        name: RepoName,
        /// The subject digest, percent-decoded, not yet validated.
        digest: String,
    },
    /// `/v2/_berth/repositories/<name>`: a whole repository (berth only).
    Repository {
        /// The repository: every segment after `repositories/`.
        name: RepoName,
    },
    /// `/v2/_berth/tags/<name>`: POST moves tags (berth only).
    TagMoves {
        /// The repository: every segment after `tags/`.
        name: RepoName,
    },
    /// `/v2/_berth/history/<name>/<tag>`: a tag's history (berth only).
    TagHistory {
        /// The repository: the segments between `history/` and the last.
        name: RepoName,
        /// The last segment, percent-decoded, not yet validated.
        tag: String,
    },
    /// `/ui/...`: the web UI (`http::ui`).
    Ui(UiRoute),
}

/// Why a path is not a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Not an API path at all.
    NotFound,
    /// An API path whose repository name is invalid.
    Name(NameError),
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Parses a request path.
pub fn parse(path: &str) -> Result<Route, RouteError> {
    let rest = match path {
        "/v2" | "/v2/" => return Ok(Route::Base),
        "/v2/_catalog" => return Ok(Route::Catalog),
        _ if path.starts_with("/v2/_berth/") => return admin(path),
        _ if path == "/ui" || path.starts_with("/ui/") => return super::ui::parse(path).map(Route::Ui),
        _ => path.strip_prefix("/v2/").ok_or(RouteError::NotFound)?,
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |end: usize| RepoName::parse(&segs[..end].join("/")).map_err(RouteError::Name);
    if n >= 3 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let id = Some(segs[n - 1]).filter(|id| !id.is_empty()).map(decode);
        return Ok(Route::Upload { name: name(n - 3)?, id });
    }
    if n >= 2 {
        let (kind, last) = (segs[n - 2], segs[n - 1]);
        let route = match kind {
            "tags" if last == "list" => Route::Tags { name: name(n - 2)? },
            "manifests" => Route::Manifest { name: name(n - 2)?, reference: decode(last) },
            "blobs" if last == "uploads" => Route::Upload { name: name(n - 2)?, id: None },
            "blobs" => Route::Blob { name: name(n - 2)?, digest: decode(last) },
            "referrers" => Route::Referrers { name: name(n - 2)?, digest: decode(last) },
            _ => return Err(RouteError::NotFound),
        };
        return Ok(route);
    }
    Err(RouteError::NotFound)
}

/// `/v2/_berth/<kind>/...`: after `repositories/` and `tags/` the whole rest
/// of the path is the repository name, so `a/manifests/b` names a
/// repository there, not a manifest; after `history/` the last segment is
/// the tag (a tag has no `/`).
fn admin(path: &str) -> Result<Route, RouteError> {
    let rest = path.strip_prefix("/v2/_berth/").unwrap_or_default();
    let (kind, rest) = rest.split_once('/').filter(|(_, rest)| !rest.is_empty()).ok_or(RouteError::NotFound)?;
    let name = |text: &str| RepoName::parse(text).map_err(RouteError::Name);
    match kind {
        "repositories" => Ok(Route::Repository { name: name(rest)? }),
        "tags" => Ok(Route::TagMoves { name: name(rest)? }),
        "history" => {
            let (repo, tag) = rest.rsplit_once('/').filter(|(_, tag)| !tag.is_empty()).ok_or(RouteError::NotFound)?;
            Ok(Route::TagHistory { name: name(repo)?, tag: decode(tag) })
        }
        _ => Err(RouteError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    #[test]
    fn routes() {
        assert_eq!(parse("/v2/"), Ok(Route::Base));
        assert_eq!(parse("/v2/_catalog"), Ok(Route::Catalog));
        assert_eq!(parse("/v2/a/b/c/tags/list"), Ok(Route::Tags { name: name("a/b/c") }));
        assert_eq!(
            parse("/v2/a/manifests/sha256%3Aab"),
            Ok(Route::Manifest { name: name("a"), reference: "sha256:ab".into() })
        );
        assert_eq!(parse("/v2/x/blobs/uploads/"), Ok(Route::Upload { name: name("x"), id: None }));
        assert_eq!(parse("/v2/x/blobs/uploads"), Ok(Route::Upload { name: name("x"), id: None }));
        assert_eq!(parse("/v2/x/y/blobs/uploads/abc"), Ok(Route::Upload { name: name("x/y"), id: Some("abc".into()) }));
        assert_eq!(parse("/v2/blobs/blobs/d"), Ok(Route::Blob { name: name("blobs"), digest: "d".into() }));
        assert_eq!(
            parse("/v2/a/manifests/b/manifests/t"),
            Ok(Route::Manifest { name: name("a/manifests/b"), reference: "t".into() })
        );
        assert_eq!(parse("/v2/r/referrers/d"), Ok(Route::Referrers { name: name("r"), digest: "d".into() }));
    }

    #[test]
    fn admin_routes() {
        assert_eq!(parse("/v2/_berth/repositories/a"), Ok(Route::Repository { name: name("a") }));
        assert_eq!(parse("/v2/_berth/repositories/a/b/c"), Ok(Route::Repository { name: name("a/b/c") }));
        assert_eq!(
            parse("/v2/_berth/repositories/a/manifests/t"),
            Ok(Route::Repository { name: name("a/manifests/t") }),
            "everything after repositories/ is the name"
        );
        for missing in ["/v2/_berth/repositories/", "/v2/_berth/repositories", "/v2/_berth/", "/v2/_berth/other/a"] {
            assert_eq!(parse(missing), Err(RouteError::NotFound), "{missing}");
        }
        for bad in ["/v2/_berth/repositories/A", "/v2/_berth/repositories/a/", "/v2/_berth/repositories/../x"] {
            assert!(matches!(parse(bad), Err(RouteError::Name(_))), "{bad}");
        }
        assert_eq!(parse("/v2/_berth/tags/list"), Ok(Route::TagMoves { name: name("list") }));
        assert!(matches!(parse("/v2/_berth/tags"), Err(RouteError::NotFound)), "not a repository named _berth");
    }

    #[test]
    fn tag_routes() {
        assert_eq!(parse("/v2/_berth/tags/a/b"), Ok(Route::TagMoves { name: name("a/b") }));
        assert_eq!(
            parse("/v2/_berth/history/a/b/latest"),
            Ok(Route::TagHistory { name: name("a/b"), tag: "latest".into() })
        );
        assert_eq!(parse("/v2/_berth/history/a/v%31"), Ok(Route::TagHistory { name: name("a"), tag: "v1".into() }));
        for missing in ["/v2/_berth/tags/", "/v2/_berth/history/a", "/v2/_berth/history/a/", "/v2/_berth/history/"] {
            assert_eq!(parse(missing), Err(RouteError::NotFound), "{missing}");
        }
        for bad in ["/v2/_berth/tags/A", "/v2/_berth/history/../x/t", "/v2/_berth/tags/a//b"] {
            assert!(matches!(parse(bad), Err(RouteError::Name(_))), "{bad}");
        }
    }

    #[test]
    fn rejects() {
        assert_eq!(parse("/v1/"), Err(RouteError::NotFound));
        assert_eq!(parse("/v2/x"), Err(RouteError::NotFound));
        assert_eq!(parse("/v2/x/other/y"), Err(RouteError::NotFound));
        for bad in [
            "/v2/../etc/tags/list",
            "/v2/a//b/tags/list",
            "/v2/%2e%2e/blobs/d",
            "/v2/A/manifests/x",
            "/v2//manifests/x",
        ] {
            assert!(matches!(parse(bad), Err(RouteError::Name(_))), "{bad}");
        }
    }
}
