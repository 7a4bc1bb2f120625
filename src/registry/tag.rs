//! Tag listing.

use super::{Page, RegistryError, RepoName, Tag, layout, listing::Names};

impl super::Registry {
    /// One page of a repository's tags, in lexical order.
    pub async fn tags(&self, name: &RepoName, n: Option<usize>, last: Option<&str>) -> Result<Page, RegistryError> {
        if !self.exists(&layout::manifests(name)).await? {
            return Err(RegistryError::NameUnknown(name.clone()));
        }
        Ok(Page::of(self.sorted_tags(name).await?, n, last))
    }

    async fn sorted_tags(&self, name: &RepoName) -> Result<Names, RegistryError> {
        if let Some(tags) = self.listings.tags(name) {
            return Ok(tags);
        }
        let _building = self.listings.build().await;
        if let Some(tags) = self.listings.tags(name) {
            return Ok(tags);
        }
        let generation = self.listings.generation();
        let mut tags: Vec<String> =
            self.list_or_empty(&layout::tags(name)).await?.into_iter().filter(|t| Tag::parse(t).is_some()).collect();
        tags.sort();
        let tags: Names = tags.into();
        self.listings.keep_tags(generation, name, tags.clone());
        Ok(tags)
    }
}
