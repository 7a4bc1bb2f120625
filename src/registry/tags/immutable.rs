//! Immutable tags (`berth.tags.immutable`): a tag a rule matches may be
//! created, and pushed again with the same manifest, but never pointed
//! elsewhere or deleted. Release tags such as `noble-20240904.1` then mean
//! the same bytes forever, whatever a later push does by mistake.

use super::pattern::{RepoGlob, TagRegex};
use crate::registry::{Digest, RegistryError, RepoName, Tag};

/// One rule: the tags of the repositories it matches that may not change.
#[derive(Debug, Clone)]
pub struct ImmutableRule {
    /// Named in refusals, so a user can find the rule in the configuration.
    pub name: String,
    /// The repositories it covers.
    pub repository: RepoGlob,
    /// The tags it covers, in those repositories.
    pub tags: TagRegex,
}

impl ImmutableRule {
    fn covers(&self, name: &RepoName, tag: &Tag) -> bool {
        self.repository.matches(name) && self.tags.matches(tag.as_str())
    }
}

impl crate::registry::Registry {
    /// The first rule that makes this tag immutable.
    pub fn immutable_rule(&self, name: &RepoName, tag: &Tag) -> Option<&ImmutableRule> {
        self.options.immutable.iter().find(|rule| rule.covers(name, tag))
    }

    /// Refuses to point an immutable tag that exists (at `current`) at
    /// anything but what it points at; pass `None` for `to` to delete.
    /// `operation` (`push`, `delete`, `copy`...) is what the refusal reports.
    pub(crate) fn check_mutable(
        &self,
        name: &RepoName,
        tag: &Tag,
        change: (Option<&Digest>, Option<&Digest>),
        operation: &'static str,
    ) -> Result<(), RegistryError> {
        let (current, to) = change;
        let Some(current) = current else { return Ok(()) };
        if to == Some(current) {
            return Ok(());
        }
        match self.immutable_rule(name, tag) {
            Some(rule) => Err(RegistryError::Immutable {
                name: name.clone(),
                tag: tag.clone(),
                rule: rule.name.clone(),
                digest: to.cloned(),
                operation,
            }),
            None => Ok(()),
        }
    }
}
