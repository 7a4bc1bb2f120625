//! Access scopes: what a request needs, in the token spec's terms
//! (`repository:<name>:pull,push`), derived from its route and method.

use std::fmt;

use http::Method;

use crate::http::router::Route;

/// One resource and the actions a request needs on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `repository` or `registry`.
    pub kind: &'static str,
    /// A repository name, or `catalog`.
    pub name: String,
    /// `pull`, `push`, `delete` or `*`.
    pub actions: Vec<&'static str>,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// The `scope` of a challenge: one `type:name:action` entry per action,
/// space-separated, as distribution writes it.
pub fn challenge_scope(scopes: &[Scope]) -> String {
    let entries: Vec<String> =
        scopes.iter().flat_map(|s| s.actions.iter().map(move |a| format!("{}:{}:{a}", s.kind, s.name))).collect();
    entries.join(" ")
}

/// distribution's `detail` of a 401: the access records the request needed,
/// fields in Go's order.
pub fn access_records(scopes: &[Scope]) -> serde_json::Value {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Record<'a> {
        #[serde(rename = "Type")]
        kind: &'a str,
        class: &'a str,
        name: &'a str,
        action: &'a str,
    }
    let records: Vec<Record<'_>> = scopes
        .iter()
        .flat_map(|s| s.actions.iter().map(move |a| Record { kind: s.kind, class: "", name: &s.name, action: a }))
        .collect();
    if records.is_empty() { serde_json::Value::Null } else { serde_json::to_value(records).unwrap_or_default() }
}

pub(crate) fn repo(name: &impl ToString, actions: &[&'static str]) -> Scope {
    Scope { kind: "repository", name: name.to_string(), actions: actions.to_vec() }
}

/// The scopes a request needs. `mount_from` is the `from` repository of a
/// cross-repository mount, which must be readable too.
pub fn required(route: &Route, method: &Method, mount_from: Option<&str>) -> Vec<Scope> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    match route {
        Route::Base => Vec::new(),
        Route::Catalog => vec![Scope { kind: "registry", name: "catalog".into(), actions: vec!["*"] }],
        Route::Tags { name } | Route::Referrers { name, .. } => vec![repo(name, &["pull"])],
        Route::Manifest { name, .. } | Route::Blob { name, .. } => match *method {
            _ if read => vec![repo(name, &["pull"])],
            Method::DELETE => vec![repo(name, &["delete"])],
            _ => vec![repo(name, &["pull", "push"])],
        },
        // Deleting a repository deletes its manifests: the same right as a
        // manifest DELETE, so token servers need no new action.
        Route::Repository { name } => vec![repo(name, &["delete"])],
        // Moving a tag is what a push by tag does, without the bytes.
        Route::TagMoves { name } => vec![repo(name, &["pull", "push"])],
        Route::TagHistory { name, .. } => vec![repo(name, &["pull"])],
        Route::Ui(ui) => ui.scopes(method),
        Route::Upload { name, .. } => {
            let mut scopes = vec![repo(name, &["pull", "push"])];
            if let Some(from) = mount_from.filter(|from| *from != name.as_str()) {
                scopes.push(repo(&from, &["pull"]));
            }
            scopes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RepoName;

    #[test]
    fn scopes_by_route_and_method() {
        let name = RepoName::parse("a/b").unwrap();
        let manifest = Route::Manifest { name: name.clone(), reference: "t".into() };
        let text = |s: Vec<Scope>| s.iter().map(Scope::to_string).collect::<Vec<_>>();
        assert_eq!(text(required(&manifest, &Method::GET, None)), ["repository:a/b:pull"]);
        assert_eq!(text(required(&manifest, &Method::PUT, None)), ["repository:a/b:pull,push"]);
        assert_eq!(text(required(&manifest, &Method::DELETE, None)), ["repository:a/b:delete"]);
        let upload = Route::Upload { name, id: None };
        assert_eq!(
            text(required(&upload, &Method::POST, Some("c"))),
            ["repository:a/b:pull,push", "repository:c:pull"]
        );
        assert_eq!(text(required(&Route::Catalog, &Method::GET, None)), ["registry:catalog:*"]);
        assert!(required(&Route::Base, &Method::GET, None).is_empty());
        let repository = Route::Repository { name: RepoName::parse("a/b").unwrap() };
        assert_eq!(text(required(&repository, &Method::DELETE, None)), ["repository:a/b:delete"]);
        let moves = Route::TagMoves { name: RepoName::parse("a").unwrap() };
        assert_eq!(text(required(&moves, &Method::POST, None)), ["repository:a:pull,push"]);
        let history = Route::TagHistory { name: RepoName::parse("a").unwrap(), tag: "t".into() };
        assert_eq!(text(required(&history, &Method::GET, None)), ["repository:a:pull"]);
    }
}
