//! The catalog: every repository, in lexical order, a page at a time.

use std::cmp::Ordering;

use super::{RegistryError, layout};

/// One page of a lexically ordered listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The entries of this page.
    pub items: Vec<String>,
    /// True when entries follow this page.
    pub more: bool,
}

/// distribution's order: names compared segment by segment, so `a/b` sorts
/// before `a-b` (a plain string order would put `-` first). Pages and `last`
/// then mean the same in both registries.
pub fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

impl Page {
    /// Cuts a page out of a list sorted by `path_order`: entries after
    /// `last`, at most `n`.
    pub fn of(sorted: Vec<String>, n: Option<usize>, last: Option<&str>) -> Page {
        let start = last.map_or(0, |last| sorted.partition_point(|item| path_order(item, last).is_le()));
        let mut items: Vec<String> = sorted.into_iter().skip(start).collect();
        let n = n.unwrap_or(usize::MAX);
        let more = items.len() > n;
        items.truncate(n);
        Page { items, more }
    }
}

impl super::Registry {
    /// Every repository name, sorted. A repository exists once it has a
    /// `_manifests` directory, as distribution's catalog decides.
    pub async fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        let mut found = self.directories_holding("_manifests").await?;
        found.sort_by(|a, b| path_order(a, b));
        Ok(found)
    }

    /// Every repository directory (relative to `repositories/`) that holds a
    /// child named `marker`, such as `_manifests` or `_uploads`. Other
    /// `_`-prefixed directories are never entered.
    pub(super) async fn directories_holding(&self, marker: &str) -> Result<Vec<String>, RegistryError> {
        let root = layout::repositories();
        let mut found = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(rel) = pending.pop() {
            let dir = if rel.is_empty() { root.clone() } else { format!("{root}/{rel}") };
            for child in self.list_or_empty(&dir).await? {
                if child == marker {
                    found.push(rel.clone());
                } else if !child.starts_with('_') && self.driver.stat(&format!("{dir}/{child}")).await?.is_dir {
                    pending.push(if rel.is_empty() { child } else { format!("{rel}/{child}") });
                }
            }
        }
        found.retain(|name| !name.is_empty());
        Ok(found)
    }

    /// One page of the catalog.
    pub async fn catalog(&self, n: Option<usize>, last: Option<&str>) -> Result<Page, RegistryError> {
        Ok(Page::of(self.repositories().await?, n, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn orders_like_distribution() {
        let mut names = list(&["a.b", "a-b", "a/b", "a", "b"]);
        names.sort_by(|a, b| path_order(a, b));
        assert_eq!(names, list(&["a", "a/b", "a-b", "a.b", "b"]));
        assert_eq!(Page::of(names, Some(2), Some("a/b")).items, list(&["a-b", "a.b"]));
    }

    #[test]
    fn pages() {
        let all = list(&["a", "b", "c"]);
        assert_eq!(Page::of(all.clone(), None, None), Page { items: all.clone(), more: false });
        assert_eq!(Page::of(all.clone(), Some(2), None), Page { items: list(&["a", "b"]), more: true });
        assert_eq!(Page::of(all.clone(), Some(2), Some("b")), Page { items: list(&["c"]), more: false });
        assert_eq!(Page::of(all.clone(), Some(1), Some("aa")), Page { items: list(&["b"]), more: true });
        assert_eq!(Page::of(all.clone(), Some(0), None), Page { items: vec![], more: true });
        assert_eq!(Page::of(all, None, Some("c")), Page { items: vec![], more: false });
    }
}
