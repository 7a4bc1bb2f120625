//! The patterns tag rules are written in: a glob over repository names and a
//! regular expression over a whole tag. Configuration checks its values with
//! these same parsers, so what loads is what the registry matches.

use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;

use crate::registry::RepoName;

/// A glob over repository names: `*` and `?` stay within one `/` segment,
/// `**` spans segments (`team/*` is `team/app`, not `team/app/web`).
#[derive(Debug, Clone)]
pub struct RepoGlob {
    text: String,
    matcher: GlobMatcher,
}

impl RepoGlob {
    /// Parses a glob; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<RepoGlob, String> {
        if text.is_empty() {
            return Err("an empty pattern matches no repository".into());
        }
        let glob = GlobBuilder::new(text).literal_separator(true).build().map_err(|e| e.kind().to_string())?;
        Ok(RepoGlob { text: text.to_owned(), matcher: glob.compile_matcher() })
    }

    /// Whether the repository matches.
    pub fn matches(&self, name: &RepoName) -> bool {
        self.matcher.is_match(name.as_str())
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A regular expression that must match a whole tag: `v1` matches `v1`,
/// not `dev-v1x`, so a rule never reaches tags its author did not mean.
#[derive(Debug, Clone)]
pub struct TagRegex {
    text: String,
    regex: Regex,
}

impl TagRegex {
    /// Parses a regular expression (Rust `regex` syntax, close to Go's RE2).
    pub fn parse(text: &str) -> Result<TagRegex, String> {
        let regex = Regex::new(&format!("^(?:{text})$")).map_err(|e| e.to_string())?;
        Ok(TagRegex { text: text.to_owned(), regex })
    }

    /// Whether the whole tag matches.
    pub fn matches(&self, tag: &str) -> bool {
        self.regex.is_match(tag)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(text: &str, name: &str) -> bool {
        RepoGlob::parse(text).unwrap().matches(&RepoName::parse(name).unwrap())
    }

    #[test]
    fn globs_keep_to_segments_unless_doubled() {
        assert!(glob("team/*", "team/app"));
        assert!(!glob("team/*", "team/app/web"));
        assert!(glob("team/**", "team/app/web"));
        assert!(glob("**", "a/b/c"));
        assert!(glob("*", "app"));
        assert!(!glob("*", "a/b"));
        assert!(glob("app?", "app1"));
        assert!(!glob("app", "app1"));
        assert!(RepoGlob::parse("").is_err());
        assert!(RepoGlob::parse("a/[b").is_err());
    }

    #[test]
    fn tag_expressions_match_whole_tags() {
        let r = TagRegex::parse(r"v\d+\.\d+").unwrap();
        assert!(r.matches("v1.2"));
        assert!(!r.matches("v1.2-rc"));
        assert!(!r.matches("dev-v1.2"));
        let alt = TagRegex::parse("latest|beta").unwrap();
        assert!(alt.matches("beta") && alt.matches("latest") && !alt.matches("latestx"));
        assert!(TagRegex::parse("(").is_err());
    }
}
