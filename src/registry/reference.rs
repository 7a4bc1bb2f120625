//! Manifest references: a tag or a digest.

use std::fmt;

use super::digest::{Digest, DigestError};

/// The longest tag the OCI grammar allows.
const MAX_TAG_LEN: usize = 128;

/// A valid tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Checks a tag; `None` when it does not match the grammar.
    pub fn parse(s: &str) -> Option<Self> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        (first_ok && rest_ok && s.len() <= MAX_TAG_LEN).then(|| Tag(s.to_owned()))
    }

    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What follows `/manifests/` in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A mutable name for a manifest.
    Tag(Tag),
    /// The manifest's content digest.
    Digest(Digest),
}

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Neither a tag nor something shaped like a digest.
    #[error("invalid tag {0:?}")]
    Tag(String),
    /// Shaped like a digest (it has a `:`) but not an acceptable one.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl Reference {
    /// Parses a reference: anything with a `:` must be a digest.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if s.contains(':') {
            return Ok(Reference::Digest(s.parse()?));
        }
        Tag::parse(s).map(Reference::Tag).ok_or_else(|| ReferenceError::Tag(s.to_owned()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests() {
        assert!(matches!(Reference::parse("latest"), Ok(Reference::Tag(_))));
        assert!(matches!(Reference::parse("_v1.0-rc"), Ok(Reference::Tag(_))));
        assert!(Reference::parse(&"a".repeat(128)).is_ok());
        for bad in ["", ".x", "-x", "a/b", "a b", &"a".repeat(129)] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(Reference::parse("sha256:xyz"), Err(ReferenceError::Digest(_))));
    }
}
