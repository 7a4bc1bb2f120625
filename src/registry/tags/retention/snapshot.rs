//! The snapshot a retention run plans over: the tags (digest, push time)
//! and manifest revisions (push time, children, subject) of every
//! repository a policy matches, read as they are now.

use futures_util::{StreamExt, TryStreamExt, stream};

use super::{
    IN_FLIGHT, Policies, Policy,
    plan::{RepoState, RevisionState, TagState},
};
use crate::registry::{RegistryError, RepoName, Tag, claim::References, layout};

impl crate::registry::Registry {
    /// Every repository some policy matches, as it is now.
    pub(super) async fn snapshot(&self, policies: &Policies) -> Result<Vec<RepoState>, RegistryError> {
        let mut repos = Vec::new();
        for repo in self.walk_repositories().await?.iter() {
            let Ok(name) = RepoName::parse(repo) else { continue };
            let matching: Vec<&Policy> = policies.0.iter().filter(|p| p.repository.matches(&name)).collect();
            if matching.is_empty() {
                continue;
            }
            let untagged = matching.iter().any(|p| !p.untagged_grace.is_zero());
            let tags = self.tag_states(&name).await?;
            let revisions = if untagged { self.revision_states(&name).await? } else { Vec::new() };
            repos.push(RepoState { name, tags, revisions });
        }
        Ok(repos)
    }

    /// The repository's tags with their digests and push times.
    async fn tag_states(&self, name: &RepoName) -> Result<Vec<TagState>, RegistryError> {
        let tags: Vec<Tag> =
            self.list_or_empty(&layout::tags(name)).await?.iter().filter_map(|t| Tag::parse(t)).collect();
        let states = stream::iter(tags).map(|tag| async move {
            let path = layout::tag_current(name, &tag);
            let pushed = match self.driver.stat(&path).await {
                Ok(stat) => stat.modified,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(RegistryError::from(e)),
            };
            Ok(self.read_link(&path).await?.map(|digest| TagState { tag, digest, pushed }))
        });
        let states: Vec<Option<TagState>> = states.buffered(IN_FLIGHT).try_collect().await?;
        Ok(states.into_iter().flatten().collect())
    }

    /// The repository's manifest revisions with what they reference.
    async fn revision_states(&self, name: &RepoName) -> Result<Vec<RevisionState>, RegistryError> {
        let digests = self.digests_in(&layout::revisions(name)).await?;
        let states = stream::iter(digests).map(|digest| async move {
            // A revision directory without its link is no revision.
            let pushed = match self.driver.stat(&layout::revision_link(name, &digest)).await {
                Ok(stat) => stat.modified,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(RegistryError::from(e)),
            };
            let refs = match self.driver.get(&layout::blob_data(&digest)).await {
                Ok(body) => References::of(&body),
                Err(e) if e.is_not_found() => References::default(),
                Err(e) => return Err(RegistryError::from(e)),
            };
            let (children, subject) = (refs.manifests().collect(), refs.subject().cloned());
            Ok(Some(RevisionState { digest, pushed, children, subject }))
        });
        let states: Vec<Option<RevisionState>> = states.buffered(IN_FLIGHT).try_collect().await?;
        Ok(states.into_iter().flatten().collect())
    }
}
