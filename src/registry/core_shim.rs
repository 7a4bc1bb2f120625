//! TEMPORARY stand-in for `tags/pattern.rs` (core branch); removed at merge.

use super::RepoName;

/// A glob over repository names.
#[derive(Debug, Clone)]
pub struct RepoGlob(globset::GlobMatcher);

impl RepoGlob {
    /// Parses a glob.
    pub fn parse(text: &str) -> Result<RepoGlob, String> {
        let glob = globset::GlobBuilder::new(text).literal_separator(true).build().map_err(|e| e.to_string())?;
        Ok(RepoGlob(glob.compile_matcher()))
    }

    /// True when the name matches.
    pub fn matches(&self, name: &RepoName) -> bool {
        self.0.is_match(name.as_str())
    }
}

/// A regex over whole tags.
#[derive(Debug, Clone)]
pub struct TagRegex(regex::Regex);

impl TagRegex {
    /// Parses a regex, anchored.
    pub fn parse(text: &str) -> Result<TagRegex, String> {
        regex::Regex::new(&format!("^(?:{text})$")).map(TagRegex).map_err(|e| e.to_string())
    }

    /// True when the whole tag matches.
    pub fn matches(&self, tag: &str) -> bool {
        self.0.is_match(tag)
    }
}

/// Stand-in for `tags/immutable.rs`.
#[derive(Debug, Clone)]
pub struct ImmutableRule {
    /// Its name.
    pub name: String,
}

impl super::Registry {
    /// Stand-in: no rules.
    pub fn immutable_rule(&self, _name: &RepoName, _tag: &super::Tag) -> Option<&ImmutableRule> {
        None
    }

    /// Stand-in for `tags/moves.rs`'s, without locks.
    pub async fn delete_tag_if(
        &self,
        name: &RepoName,
        tag: &super::Tag,
        expected: &super::Digest,
    ) -> Result<bool, super::RegistryError> {
        if self.read_link(&super::layout::tag_current(name, tag)).await?.as_ref() != Some(expected) {
            return Ok(false);
        }
        self.driver.delete(&super::layout::tag_dir(name, tag)).await?;
        self.listings.forget(name);
        Ok(true)
    }
}
