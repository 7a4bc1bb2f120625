//! Tag listing.

use super::{Page, RegistryError, RepoName, Tag, layout};

impl super::Registry {
    /// One page of a repository's tags, in lexical order.
    pub async fn tags(&self, name: &RepoName, n: Option<usize>, last: Option<&str>) -> Result<Page, RegistryError> {
        if !self.exists(&layout::manifests(name)).await? {
            return Err(RegistryError::NameUnknown(name.clone()));
        }
        let mut tags: Vec<String> =
            self.list_or_empty(&layout::tags(name)).await?.into_iter().filter(|t| Tag::parse(t).is_some()).collect();
        tags.sort();
        Ok(Page::of(tags, n, last))
    }
}
