//! The catalog: every repository, in lexical order, a page at a time.

use std::{cmp::Ordering, ops::Range};

use super::{
    RegistryError, layout,
    listing::{Listing, Names},
};

/// One page of a lexically ordered listing: a window on the whole list,
/// which requests share instead of copying.
#[derive(Debug, Clone)]
pub struct Page {
    all: Names,
    window: Range<usize>,
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
    pub fn of(sorted: Names, n: Option<usize>, last: Option<&str>) -> Page {
        let start = last.map_or(0, |last| sorted.partition_point(|item| path_order(item, last).is_le()));
        let end = start.saturating_add(n.unwrap_or(usize::MAX)).min(sorted.len());
        Page { more: end < sorted.len(), all: sorted, window: start..end }
    }

    /// The entries of this page.
    pub fn items(&self) -> &[String] {
        &self.all[self.window.clone()]
    }
}

impl super::Registry {
    /// Every repository name, sorted, for the catalog: from the catalog
    /// index (`catalog_index.rs`) when it is on and built, else a walk.
    pub async fn repositories(&self) -> Result<Names, RegistryError> {
        let build = async {
            let mut found = match self.indexed_repositories().await? {
                Some(indexed) => indexed,
                None => self.walk_repositories().await?,
            };
            found.sort_by(|a, b| path_order(a, b));
            Ok(found)
        };
        self.listings.get_or_build(Listing::Catalog, build).await
    }

    /// Every repository in the tree, sorted: a repository exists once it
    /// has a `_manifests` directory, as distribution's catalog decides. What
    /// must not miss a repository (collection, retention) walks this way.
    pub async fn walk_repositories(&self) -> Result<Vec<String>, RegistryError> {
        let mut found = self.directories_holding("_manifests").await?;
        found.sort_by(|a, b| path_order(a, b));
        Ok(found)
    }

    /// Every repository directory (relative to `repositories/`) that holds a
    /// child named `marker`, such as `_manifests` or `_uploads`. Other
    /// `_`-prefixed directories are never entered.
    pub(super) async fn directories_holding(&self, marker: &str) -> Result<Vec<String>, RegistryError> {
        let dirs = self.driver.walk_dirs(&layout::repositories(), |name| !name.starts_with('_')).await?;
        let suffix = format!("/{marker}");
        Ok(dirs.into_iter().filter_map(|dir| dir.strip_suffix(&suffix).map(str::to_owned)).collect())
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

    fn page(all: &[String], n: Option<usize>, last: Option<&str>) -> (Vec<String>, bool) {
        let page = Page::of(all.into(), n, last);
        (page.items().to_vec(), page.more)
    }

    #[test]
    fn orders_like_distribution() {
        let mut names = list(&["a.b", "a-b", "a/b", "a", "b"]);
        names.sort_by(|a, b| path_order(a, b));
        assert_eq!(names, list(&["a", "a/b", "a-b", "a.b", "b"]));
        assert_eq!(page(&names, Some(2), Some("a/b")).0, list(&["a-b", "a.b"]));
    }

    #[test]
    fn pages() {
        let all = list(&["a", "b", "c"]);
        assert_eq!(page(&all, None, None), (all.clone(), false));
        assert_eq!(page(&all, Some(2), None), (list(&["a", "b"]), true));
        assert_eq!(page(&all, Some(2), Some("b")), (list(&["c"]), false));
        assert_eq!(page(&all, Some(1), Some("aa")), (list(&["b"]), true));
        assert_eq!(page(&all, Some(0), None), (vec![], true));
        assert_eq!(page(&all, None, Some("c")), (vec![], false));
    }
}
