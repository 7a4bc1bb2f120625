//! Tag listings through the cache: the upstream's tags, as distribution's
//! proxy lists them, and the cached ones when the upstream cannot answer.

use super::Proxy;
use crate::registry::{Page, Registry, RegistryError, RepoName, Tag};

impl Registry {
    /// A page of the upstream's tags of `name`; `None` when the upstream
    /// gives none, and the cached tags are to be listed instead.
    pub(in crate::registry) async fn proxied_tags(
        &self,
        proxy: &Proxy,
        name: &RepoName,
        (n, last): (Option<usize>, Option<&str>),
    ) -> Result<Option<Page>, RegistryError> {
        match proxy.remote.tags(name).await {
            Ok(tags) => {
                // Only names berth would accept reach a client, in berth's order.
                let mut tags: Vec<String> = tags.into_iter().filter(|t| Tag::parse(t).is_some()).collect();
                tags.sort();
                tags.dedup();
                Ok(Some(Page::of(tags.into(), n, last)))
            }
            // As distribution: any failure upstream, "unknown" included,
            // leaves the cached tags to list.
            Err(e) => {
                tracing::warn!(repository = %name, error = %e, "upstream gave no tags; listing the cached ones");
                Ok(None)
            }
        }
    }
}
