//! `berth.retention`: policies that remove old tags and untagged manifests
//! (docs/configuration.md). The section holds the patterns as text; the server
//! and `berth retention` compile them into the registry's policy types.

use std::time::Duration;

use crate::{
    config::{
        section::{Problems, Section, Visitor},
        tree::KeyPath,
    },
    registry::{RepoGlob, Tag, TagRegex},
};

/// `berth.retention`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retention {
    /// `interval`: the server applies the policies every interval
    /// (default 0: never; `berth retention` runs them by hand).
    pub interval: Duration,
    /// `dryrun`: scheduled runs only log what they would remove.
    pub dryrun: bool,
    /// `policies`: the first one matching a tag governs it.
    pub policies: Vec<RetentionPolicy>,
}

impl Section for Retention {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("interval", &mut self.interval);
        v.value("dryrun", &mut self.dryrun);
        v.list("policies", &mut self.policies);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        if !self.interval.is_zero() && self.policies.is_empty() {
            p.warn(format!("configuration key `{}` is set but there are no policies", at.key("interval")));
        }
    }
}

/// `berth.retention.policies[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPolicy {
    /// `name`, used in output and events (default: the key,
    /// `berth.retention.policies[0]`).
    pub name: String,
    /// `repository`: a glob over repository names (required).
    pub repository: String,
    /// `tags`: a regex over the whole tag; the tags this policy governs
    /// (default `.*`).
    pub tags: String,
    /// `keeplatest`: keep the N most recently pushed governed tags (0: no
    /// such rule).
    pub keeplatest: usize,
    /// `keepwithin`: keep governed tags pushed within this (0: no such rule).
    pub keepwithin: Duration,
    /// `keeptags`: tags never removed.
    pub keeptags: Vec<String>,
    /// `untaggedgrace`: remove untagged manifests older than this (0: never).
    pub untaggedgrace: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            name: String::new(),
            repository: String::new(),
            tags: ".*".to_owned(),
            keeplatest: 0,
            keepwithin: Duration::ZERO,
            keeptags: Vec::new(),
            untaggedgrace: Duration::ZERO,
        }
    }
}

impl Section for RetentionPolicy {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("name", &mut self.name);
        v.value("repository", &mut self.repository);
        v.value("tags", &mut self.tags);
        v.value("keeplatest", &mut self.keeplatest);
        v.value("keepwithin", &mut self.keepwithin);
        v.value("keeptags", &mut self.keeptags);
        v.value("untaggedgrace", &mut self.untaggedgrace);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        if self.name.is_empty() {
            self.name = at.to_string();
        }
        p.require(at, "repository", !self.repository.is_empty());
        if !self.repository.is_empty()
            && let Err(why) = RepoGlob::parse(&self.repository)
        {
            p.invalid(&at.key("repository"), why);
        }
        if let Err(why) = TagRegex::parse(&self.tags) {
            p.invalid(&at.key("tags"), why);
        }
        for tag in &self.keeptags {
            if Tag::parse(tag).is_none() {
                p.invalid(&at.key("keeptags"), format!("{tag:?} is not a valid tag"));
            }
        }
        if self.keeplatest == 0 && self.keepwithin.is_zero() && self.untaggedgrace.is_zero() {
            p.warn(format!(
                "configuration key `{at}` removes nothing: it sets none of keeplatest, keepwithin, untaggedgrace"
            ));
        }
    }
}
