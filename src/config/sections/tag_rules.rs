//! `berth.tags`: rules over tags (docs/lifecycle.md).

use crate::{
    config::{
        section::{Problems, Section, Visitor},
        tree::KeyPath,
    },
    registry::{RepoGlob, TagRegex},
};

/// `berth.tags`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagRules {
    /// `immutable`: tags that, once pushed, may not be re-pointed or deleted.
    pub immutable: Vec<ImmutableTags>,
}

impl Section for TagRules {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.list("immutable", &mut self.immutable);
    }

    fn finish(&mut self, at: &KeyPath, _p: &mut Problems) {
        // Refusals name the rule; an unnamed one is named by its place.
        for (i, rule) in self.immutable.iter_mut().enumerate() {
            if rule.name.is_empty() {
                rule.name = at.key("immutable").index(i).to_string();
            }
        }
    }
}

/// `berth.tags.immutable[]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImmutableTags {
    /// `name`: how refusals name the rule (default: its key path).
    pub name: String,
    /// `repository`: a glob over repository names (required).
    pub repository: String,
    /// `tags`: a regular expression the whole tag must match (required).
    pub tags: String,
}

impl Section for ImmutableTags {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("name", &mut self.name);
        v.value("repository", &mut self.repository);
        v.value("tags", &mut self.tags);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "repository", !self.repository.is_empty());
        p.require(at, "tags", !self.tags.is_empty());
        if !self.repository.is_empty()
            && let Err(why) = RepoGlob::parse(&self.repository)
        {
            p.invalid(&at.key("repository"), why);
        }
        if !self.tags.is_empty()
            && let Err(why) = TagRegex::parse(&self.tags)
        {
            p.invalid(&at.key("tags"), why);
        }
    }
}
