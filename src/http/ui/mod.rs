//! The web UI: server-rendered HTML pages under `/ui/` to browse the
//! catalog, a repository's tags and a manifest's parts, copy pull commands
//! and delete tags, manifests and repositories.
//!
//! The pages go through the same prefix, health gate, authentication and
//! read-only mode as `/v2` (see `App::handle`); each page needs the scope
//! the API call it mirrors needs. HTML is built with maud, which escapes
//! every value by construction. Deletes are POST forms behind a
//! confirmation page, guarded by a token and an origin check (`csrf`).

mod assets;
mod csrf;
mod delete;
mod pages;
mod view;

use http::{Method, StatusCode, header};

use super::{
    App,
    auth::scope::{Scope, repo},
    error::ApiError,
    request::Req,
    response::{self, Reply, set},
};
use crate::registry::RepoName;

pub use delete::FORM_LIMIT;

/// `berth.ui`.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// `enabled`: serve the UI (default true).
    pub enabled: bool,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings { enabled: true }
    }
}

/// What a `/ui/...` path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiRoute {
    /// `/ui/`: the catalog, with search and pages.
    Catalog,
    /// `/ui/-/<file>`: the stylesheet or the script.
    Asset(String),
    /// `/ui/r/<name>`: a repository's tags.
    Repository {
        /// The repository.
        name: RepoName,
    },
    /// `/ui/r/<name>/m/<digest>`: one manifest. A digest holds a `:`, which
    /// no name segment can, so the path is never a repository's.
    Manifest {
        /// The repository.
        name: RepoName,
        /// The digest, not yet validated.
        digest: String,
    },
    /// `/ui/r/<name>/-/delete`: the confirmation (GET) and the delete
    /// (POST). No name segment can be `-`.
    Delete {
        /// The repository.
        name: RepoName,
    },
}

/// Parses a path that starts with `/ui`; names are checked as the API's.
pub fn parse(path: &str) -> Result<UiRoute, super::router::RouteError> {
    use super::router::RouteError;
    let rest = match path {
        "/ui" | "/ui/" => return Ok(UiRoute::Catalog),
        _ => path.strip_prefix("/ui/").ok_or(RouteError::NotFound)?,
    };
    if let Some(file) = rest.strip_prefix("-/") {
        return Ok(UiRoute::Asset(file.to_owned()));
    }
    let rest = rest.strip_prefix("r/").ok_or(RouteError::NotFound)?;
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |end: usize| RepoName::parse(&segs[..end].join("/")).map_err(RouteError::Name);
    if n >= 3 && segs[n - 2] == "-" && segs[n - 1] == "delete" {
        return Ok(UiRoute::Delete { name: name(n - 2)? });
    }
    let last = percent_encoding::percent_decode_str(segs[n - 1]).decode_utf8_lossy();
    if n >= 3 && segs[n - 2] == "m" && last.contains(':') {
        return Ok(UiRoute::Manifest { name: name(n - 2)?, digest: last.into_owned() });
    }
    Ok(UiRoute::Repository { name: name(n)? })
}

impl UiRoute {
    /// The scopes a page needs: those of the API calls it makes.
    pub fn scopes(&self, method: &Method) -> Vec<Scope> {
        match self {
            UiRoute::Catalog => vec![Scope { kind: "registry", name: "catalog".into(), actions: vec!["*"] }],
            UiRoute::Asset(_) => Vec::new(),
            UiRoute::Repository { name } | UiRoute::Manifest { name, .. } => vec![repo(name, &["pull"])],
            UiRoute::Delete { name } if *method == Method::POST => vec![repo(name, &["delete"])],
            UiRoute::Delete { name } => vec![repo(name, &["pull"])],
        }
    }
}

/// Serves one UI request. Errors other than a challenge become an HTML page
/// with the same status and the OCI code.
pub async fn handle(app: &App, req: &mut Req, route: UiRoute) -> Result<Reply, ApiError> {
    let result = match (&req.method, route) {
        (&Method::GET | &Method::HEAD, UiRoute::Asset(file)) => assets::serve(&file),
        (&Method::GET | &Method::HEAD, UiRoute::Catalog) => pages::catalog(app, req).await,
        (&Method::GET | &Method::HEAD, UiRoute::Repository { name }) => pages::repository(app, req, &name).await,
        (&Method::GET | &Method::HEAD, UiRoute::Manifest { name, digest }) => {
            pages::manifest(app, req, &name, &digest).await
        }
        (&Method::GET | &Method::HEAD, UiRoute::Delete { name }) => delete::confirm(app, req, &name).await,
        (&Method::POST, UiRoute::Delete { name }) => delete::submit(app, req, &name).await,
        _ => Err(ApiError::method_not_allowed()),
    };
    result.or_else(|e| if e.status == StatusCode::UNAUTHORIZED { Err(e) } else { Ok(error_page(req, &e)) })
}

/// An HTML page for an error, with its status and headers.
fn error_page(req: &Req, e: &ApiError) -> Reply {
    let detail = match &*e.detail {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut reply = html(e.status, view::error(&req.prefix, e.code, &e.message, &detail));
    for (name, value) in &e.headers {
        set(&mut reply, *name, value);
    }
    reply
}

/// An HTML answer. Pages are never cached (they change with every push),
/// never framed (deletes must not be clickjacked), and run only our script.
fn html(status: StatusCode, markup: maud::Markup) -> Reply {
    let mut reply = response::bytes(status, "text/html; charset=utf-8", markup.into_string().into());
    set(&mut reply, header::CACHE_CONTROL, "no-store");
    set(&mut reply, header::X_FRAME_OPTIONS, "DENY");
    set(&mut reply, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        &mut reply,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::router::RouteError;

    fn name(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    #[test]
    fn routes() {
        assert_eq!(parse("/ui"), Ok(UiRoute::Catalog));
        assert_eq!(parse("/ui/"), Ok(UiRoute::Catalog));
        assert_eq!(parse("/ui/-/style.css"), Ok(UiRoute::Asset("style.css".into())));
        assert_eq!(parse("/ui/r/a/b"), Ok(UiRoute::Repository { name: name("a/b") }));
        assert_eq!(parse("/ui/r/a/m"), Ok(UiRoute::Repository { name: name("a/m") }));
        assert_eq!(
            parse("/ui/r/a/m/m/sha256%3Aab"),
            Ok(UiRoute::Manifest { name: name("a/m"), digest: "sha256:ab".into() })
        );
        assert_eq!(parse("/ui/r/a/delete"), Ok(UiRoute::Repository { name: name("a/delete") }));
        assert_eq!(parse("/ui/r/a/-/delete"), Ok(UiRoute::Delete { name: name("a") }));
    }

    #[test]
    fn scopes_mirror_the_api() {
        let text = |route: UiRoute, method: Method| {
            route.scopes(&method).iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
        };
        assert_eq!(text(UiRoute::Catalog, Method::GET), "registry:catalog:*");
        assert_eq!(text(UiRoute::Repository { name: name("a") }, Method::GET), "repository:a:pull");
        assert_eq!(text(UiRoute::Delete { name: name("a") }, Method::GET), "repository:a:pull");
        assert_eq!(text(UiRoute::Delete { name: name("a") }, Method::POST), "repository:a:delete");
        assert_eq!(text(UiRoute::Asset("style.css".into()), Method::GET), "");
    }

    #[test]
    fn rejects() {
        assert_eq!(parse("/ui/x"), Err(RouteError::NotFound));
        assert_eq!(parse("/uix"), Err(RouteError::NotFound));
        for bad in ["/ui/r/", "/ui/r/../x", "/ui/r/A", "/ui/r/a//b", "/ui/r/-/delete", "/ui/r/a/-/x"] {
            assert!(matches!(parse(bad), Err(RouteError::Name(_))), "{bad}");
        }
    }
}
