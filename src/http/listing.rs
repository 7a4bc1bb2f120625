//! Listings: `_catalog`, `tags/list` and `referrers`.

use http::{Method, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::json;

use super::{
    App,
    blobs::parse_digest,
    error::ApiError,
    request::Req,
    response::{self, Reply, set},
};
use crate::registry::{Page, RepoName, manifest::media_type::OCI_INDEX};

/// Page size of the catalog when the client asks for none (distribution's).
const DEFAULT_CATALOG_PAGE: usize = 100;

/// What `Link` query values escape: everything but unreserved characters,
/// so `a/b` becomes `a%2Fb` as in distribution's catalog links.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn only_get(req: &Req) -> Result<(), ApiError> {
    if matches!(req.method, Method::GET | Method::HEAD) { Ok(()) } else { Err(ApiError::method_not_allowed()) }
}

/// The `n` parameter: absent, or a non-negative integer.
fn page_size(req: &Req) -> Result<Option<usize>, ApiError> {
    req.query("n")
        .filter(|n| !n.is_empty())
        .map(|n| n.parse::<usize>().map_err(|_| ApiError::pagination(format!("n={n} is not a non-negative integer"))))
        .transpose()
}

/// A page as JSON, with `Link: <...>; rel="next"` when more entries follow.
fn page_reply(page: &Page, n: usize, path: &str, body: &impl Serialize) -> Reply {
    let mut reply = response::json(StatusCode::OK, body);
    if page.more
        && n > 0
        && let Some(last) = page.items().last()
    {
        let last = utf8_percent_encode(last, QUERY_VALUE);
        set(&mut reply, "Link", &format!("<{path}?last={last}&n={n}>; rel=\"next\""));
    }
    reply
}

/// `GET /v2/_catalog`.
pub async fn catalog(app: &App, req: &Req) -> Result<Reply, ApiError> {
    only_get(req)?;
    let n = match page_size(req)? {
        Some(n) if n > app.max_catalog_entries => {
            return Err(ApiError::pagination(format!("n={n} is above catalog.maxentries={}", app.max_catalog_entries)));
        }
        Some(n) => n,
        None => DEFAULT_CATALOG_PAGE.min(app.max_catalog_entries),
    };
    let page = app.registry.catalog(Some(n), req.query("last")).await?;
    #[derive(Serialize)]
    struct Catalog<'a> {
        repositories: &'a [String],
    }
    let body = Catalog { repositories: page.items() };
    Ok(page_reply(&page, n, &format!("{}/v2/_catalog", req.prefix), &body))
}

/// `GET /v2/<name>/tags/list`.
pub async fn tags(app: &App, req: &Req, name: &RepoName) -> Result<Reply, ApiError> {
    only_get(req)?;
    let n = page_size(req)?;
    let page = app.registry.tags(name, n, req.query("last")).await?;
    // distribution answers `null` for a repository whose tags are all gone;
    // an empty page of a repository that has tags stays a list.
    let all_gone = page.items().is_empty() && !page.more && req.query("last").is_none() && n != Some(0);
    #[derive(Serialize)]
    struct TagList<'a> {
        name: &'a str,
        tags: Option<&'a [String]>,
    }
    let body = TagList { name: name.as_str(), tags: (!all_gone).then(|| page.items()) };
    Ok(page_reply(&page, n.unwrap_or(0), &format!("{}/v2/{name}/tags/list", req.prefix), &body))
}

/// `GET /v2/<name>/referrers/<digest>`.
pub async fn referrers(app: &App, req: &Req, name: &RepoName, digest: &str) -> Result<Reply, ApiError> {
    only_get(req)?;
    let subject = parse_digest(digest)?;
    let artifact_type = req.query("artifactType").filter(|t| !t.is_empty());
    let found = app.registry.referrers(name, &subject, artifact_type).await?;
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found });
    let mut reply = response::bytes(StatusCode::OK, OCI_INDEX, body.to_string().into());
    if artifact_type.is_some() {
        set(&mut reply, "OCI-Filters-Applied", "artifactType");
    }
    Ok(reply)
}
