//! The browsing pages: catalog, repository, manifest. Each reads what it
//! shows through registry methods and hands plain values to `view`.

use std::sync::Arc;

use http::{StatusCode, header};

use super::{
    super::{App, blobs::parse_digest, error::ApiError, request::Req, response::Reply},
    html, view,
};
use crate::registry::{Page, RepoName};

/// Names or tags on one page when the link does not say.
const DEFAULT_PAGE: usize = 100;

/// The most names or tags on one page.
const MAX_PAGE: usize = 1000;

/// `n` from the query: absent or invalid means the default.
fn page_size(req: &Req) -> usize {
    req.query("n").and_then(|n| n.parse().ok()).filter(|n| *n > 0).unwrap_or(DEFAULT_PAGE).min(MAX_PAGE)
}

/// The `host[:port]` pulls go to: that of `http.host` (or of the request's
/// `Host`, as `Location` headers use), else the `Host` header.
fn pull_host(req: &Req) -> String {
    let from_base = req.base_url.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or(rest));
    from_base.or_else(|| req.header(header::HOST)).unwrap_or("localhost").to_owned()
}

/// The link to the page after `page`, keeping the other parameters.
fn next_link(base: &str, page: &Page, n: usize, extra: &str) -> Option<String> {
    let last = page.items().last().filter(|_| page.more)?;
    Some(format!("{base}?{extra}last={}&n={n}", view::query_value(last)))
}

/// `GET /ui/?q=&last=&n=`: the catalog memo, filtered by a substring and
/// cut into pages like `/v2/_catalog`. No repository is read.
pub async fn catalog(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let all = app.registry.repositories().await?;
    let query = req.query("q").unwrap_or_default().trim().to_lowercase();
    let matching: Arc<[String]> =
        if query.is_empty() { all.clone() } else { all.iter().filter(|name| name.contains(&query)).cloned().collect() };
    let n = page_size(req);
    let page = Page::of(matching.clone(), Some(n), req.query("last"));
    let extra = if query.is_empty() { String::new() } else { format!("q={}&", view::query_value(&query)) };
    let markup = view::catalog(&view::CatalogView {
        prefix: &req.prefix,
        query: &query,
        names: page.items(),
        total: all.len(),
        matching: matching.len(),
        next: next_link(&format!("{}/ui/", req.prefix), &page, n, &extra),
    });
    Ok(html(StatusCode::OK, markup))
}

/// Whether delete links show: deletes enabled, not read-only, not a
/// pull-through cache.
fn deletes_shown(app: &App) -> bool {
    app.registry.deletes_enabled() && !app.read_only && !app.proxy
}

/// `GET /ui/r/<name>?last=&n=`: a page of tags, each with its manifest's
/// digest, size, platforms and push time, and the repository's storage.
pub async fn repository(app: &App, req: &Req, name: &RepoName) -> Result<Reply, ApiError> {
    let n = page_size(req);
    let page = app.registry.tags(name, Some(n), req.query("last")).await?;
    let tags = app.registry.tag_infos(name, page.items()).await?;
    let storage = app.registry.repository_storage(name).await?;
    let host = pull_host(req);
    let markup = view::repository(&view::RepositoryView {
        prefix: &req.prefix,
        name: name.as_str(),
        host: &host,
        tags: &tags,
        storage,
        deletes: deletes_shown(app),
        next: next_link(&view::repository_url(&req.prefix, name.as_str()), &page, n, ""),
    });
    Ok(html(StatusCode::OK, markup))
}

/// `GET /ui/r/<name>/m/<digest>?tag=`: one manifest and its referrers.
pub async fn manifest(app: &App, req: &Req, name: &RepoName, digest: &str) -> Result<Reply, ApiError> {
    let digest = parse_digest(digest)?;
    let detail = app.registry.manifest_detail(name, &digest).await?;
    let referrers = app.registry.referrers(name, &digest, None).await?;
    let tag = req.query("tag").filter(|t| crate::registry::Tag::parse(t).is_some());
    let host = pull_host(req);
    let markup = view::manifest(&view::ManifestView {
        prefix: &req.prefix,
        name: name.as_str(),
        host: &host,
        m: &detail,
        tag,
        referrers: &referrers,
        deletes: deletes_shown(app),
    });
    Ok(html(StatusCode::OK, markup))
}
