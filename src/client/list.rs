//! Listings that come in pages: the catalog and a repository's tags, each
//! followed through `Link: <...>; rel="next"` to its last page.

use std::collections::HashSet;

use http::{Method, StatusCode, header};
use serde::de::DeserializeOwned;

use super::{
    Client, ClientError,
    error::from_answer,
    progress::Progress,
    transport::{Answer, Url},
};
use crate::registry::RepoName;

impl Client {
    /// Every repository in the catalog that `keep` accepts, in the
    /// registry's order.
    pub async fn repositories(
        &mut self,
        page_size: Option<usize>,
        keep: impl Fn(&str) -> bool,
        progress: &mut Progress,
    ) -> Result<Vec<String>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let url = self.base.join(&with_page_size("/v2/_catalog", page_size));
        let (mut seen, mut kept) = (0, Vec::new());
        let answer = self.get_page(&url, "").await?;
        self.follow_pages(url, answer, "", |page: Catalog| {
            seen += page.repositories.len();
            kept.extend(page.repositories.into_iter().filter(|name| keep(name)));
            progress.show(&format!("listing repositories: {seen} read, {} shown", kept.len()));
        })
        .await?;
        Ok(kept)
    }

    /// Every tag of a repository.
    pub async fn tags(
        &mut self,
        name: &RepoName,
        page_size: Option<usize>,
        progress: &mut Progress,
    ) -> Result<Vec<String>, ClientError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            // distribution answers `null` when every tag was deleted.
            tags: Option<Vec<String>>,
        }
        let url = self.base.join(&with_page_size(&format!("/v2/{name}/tags/list"), page_size));
        let mut tags = Vec::new();
        let answer = self.get_page(&url, "").await?;
        self.follow_pages(url, answer, "", |page: TagList| {
            tags.extend(page.tags.unwrap_or_default());
            progress.show(&format!("listing tags of {name}: {}", tags.len()));
        })
        .await?;
        Ok(tags)
    }

    /// A GET that must answer 200.
    pub(super) async fn get_page(&mut self, url: &Url, accept: &str) -> Result<Answer, ClientError> {
        let headers: &[(&str, &str)] = if accept.is_empty() { &[] } else { &[(header::ACCEPT.as_str(), accept)] };
        let answer = self.send_to(Method::GET, url, headers).await?;
        if answer.status == StatusCode::OK {
            Ok(answer)
        } else {
            Err(from_answer(&format!("GET {url}"), answer.status, &answer.body))
        }
    }

    /// Hands the first page's JSON body, and then each next page's, to
    /// `take`. A `Link` to another origin or back to a page already read is
    /// refused: the credentials must not leave, and the walk must end.
    pub(super) async fn follow_pages<T: DeserializeOwned>(
        &mut self,
        mut url: Url,
        mut answer: Answer,
        accept: &str,
        mut take: impl FnMut(T),
    ) -> Result<(), ClientError> {
        let mut read = HashSet::new();
        loop {
            let page = serde_json::from_slice(&answer.body)
                .map_err(|e| ClientError::Invalid { context: format!("GET {url}"), reason: e.to_string() })?;
            take(page);
            read.insert(url.to_string());
            let Some(link) = answer.header(header::LINK).and_then(next_link) else {
                return Ok(());
            };
            let next = url.resolve(link)?;
            if !url.same_origin(&next) || read.contains(&next.to_string()) {
                let reason = format!("refusing to follow its Link to {next}");
                return Err(ClientError::Invalid { context: format!("GET {url}"), reason });
            }
            url = next;
            answer = self.get_page(&url, accept).await?;
        }
    }
}

/// `path?n=N` when a page size is asked for.
fn with_page_size(path: &str, page_size: Option<usize>) -> String {
    match page_size {
        Some(n) => format!("{path}?n={n}"),
        None => path.to_owned(),
    }
}

/// The target of the `rel="next"` link in a `Link` value (RFC 8288), which
/// may hold several `<target>; param=value` links separated by commas.
fn next_link(value: &str) -> Option<&str> {
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let after = &rest[close + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let is_next = after[..params_end].split([';', ',']).any(|param| {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            key.trim().eq_ignore_ascii_case("rel")
                && value.trim().trim_matches('"').split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(&rest[open + 1..close]);
        }
        rest = &after[params_end..];
    }
    None
}

/// Which repositories `berth ls PREFIX` lists: with a trailing `/`, those
/// under the namespace; without, the repository itself and those under it
/// (`a/b` keeps `a/b` and `a/b/c`, not `a/bc`); an empty one keeps all.
pub fn under(prefix: &str) -> impl Fn(&str) -> bool + use<> {
    let prefix = prefix.to_owned();
    move |name: &str| match prefix.strip_suffix('/') {
        _ if prefix.is_empty() => true,
        Some(_) => name.starts_with(&prefix),
        None => name.strip_prefix(&prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        assert_eq!(next_link(r#"</v2/_catalog?last=a%2Fb&n=2>; rel="next""#), Some("/v2/_catalog?last=a%2Fb&n=2"));
        assert_eq!(next_link(r#"<http://r/x?n=1>;rel=next"#), Some("http://r/x?n=1"));
        assert_eq!(next_link(r#"</p>; rel="prev", </n>; rel="next""#), Some("/n"));
        assert_eq!(next_link(r#"</a>; title="next", </b>; REL="prefetch next""#), Some("/b"));
        assert_eq!(next_link(r#"</p>; rel="prev""#), None);
        assert_eq!(next_link("</broken; rel=next"), None);
    }

    #[test]
    fn prefixes() {
        let names = ["a", "a/b", "a/b/c", "a/bc", "a-b", "library/x", "libraryx"];
        let kept = |prefix: &str| names.iter().copied().filter(|n| under(prefix)(n)).collect::<Vec<_>>();
        assert_eq!(kept("a/b"), ["a/b", "a/b/c"]);
        assert_eq!(kept("a"), ["a", "a/b", "a/b/c", "a/bc"]);
        assert_eq!(kept("a/"), ["a/b", "a/b/c", "a/bc"]);
        assert_eq!(kept("library/"), ["library/x"]);
        assert_eq!(kept(""), names);
        assert_eq!(kept("library"), ["library/x"], "not libraryx");
    }
}
