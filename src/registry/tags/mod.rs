//! Tags: listing (here), history, moves with compare-and-swap, immutable
//! rules, retention policies, and the patterns rules are written in.

pub mod history;
pub mod immutable;
pub mod locks;
pub mod moves;
pub mod pattern;
pub mod retention;

use crate::registry::{
    Page, RegistryError, RepoName, Tag, layout,
    listing::{Listing, Names},
};

impl crate::registry::Registry {
    /// One page of a repository's tags, in lexical order.
    pub async fn tags(&self, name: &RepoName, n: Option<usize>, last: Option<&str>) -> Result<Page, RegistryError> {
        if let Some(proxy) = &self.proxy
            && let Some(page) = self.proxied_tags(proxy, name, (n, last)).await?
        {
            return Ok(page);
        }
        if !self.exists(&layout::manifests(name)).await? {
            return Err(RegistryError::NameUnknown(name.clone()));
        }
        Ok(Page::of(self.sorted_tags(name).await?, n, last))
    }

    async fn sorted_tags(&self, name: &RepoName) -> Result<Names, RegistryError> {
        let build = async {
            let tags = self.list_or_empty(&layout::tags(name)).await?.into_iter();
            let mut tags: Vec<String> = tags.filter(|t| Tag::parse(t).is_some()).collect();
            tags.sort();
            Ok(tags)
        };
        self.listings.get_or_build(Listing::Tags(name), build).await
    }
}
