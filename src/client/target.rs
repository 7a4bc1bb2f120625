//! What a command names: `NAME`, `NAME:TAG` or `NAME@DIGEST`, checked with
//! the registry's own grammar before anything is sent.

use super::error::ClientError;
use crate::registry::{Digest, Reference, RepoName, Tag};

/// A repository name.
pub fn repository(text: &str) -> Result<RepoName, ClientError> {
    RepoName::parse(text).map_err(|e| ClientError::Usage(format!("{text:?}: {e}")))
}

/// `NAME:TAG` or `NAME@DIGEST`. The tag is after the last `:` of the last
/// segment, so a `host:port/` at the front is no tag (and no valid name).
pub fn reference(text: &str) -> Result<(RepoName, Reference), ClientError> {
    let usage = || ClientError::Usage(format!("{text:?}: expected NAME:TAG or NAME@DIGEST"));
    if let Some((name, digest)) = text.split_once('@') {
        let digest: Digest = digest.parse().map_err(|e| ClientError::Usage(format!("{text:?}: {e}")))?;
        return Ok((repository(name)?, Reference::Digest(digest)));
    }
    let last_segment = text.rfind('/').map_or(0, |i| i + 1);
    let colon = text[last_segment..].rfind(':').ok_or_else(usage)? + last_segment;
    let tag = Tag::parse(&text[colon + 1..]).ok_or_else(usage)?;
    Ok((repository(&text[..colon])?, Reference::Tag(tag)))
}

/// `NAME:TAG` only; a digest is refused with `hint` (what to do instead).
pub fn tagged(text: &str, hint: &str) -> Result<(RepoName, Tag), ClientError> {
    match reference(text)? {
        (name, Reference::Tag(tag)) => Ok((name, tag)),
        (_, Reference::Digest(_)) => Err(ClientError::Usage(format!("{text:?}: expected NAME:TAG ({hint})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let (name, r) = reference("a/b:v1.0").unwrap();
        assert_eq!((name.as_str(), r.to_string().as_str()), ("a/b", "v1.0"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let (name, r) = reference(&format!("a/b@{digest}")).unwrap();
        assert_eq!((name.as_str(), r), ("a/b", Reference::Digest(digest.parse().unwrap())));
        assert!(reference("a/b").is_err(), "no tag");
        assert!(reference("localhost:5000/a").is_err(), "a port is no tag");
        assert!(reference("A:v1").is_err(), "invalid name");
        assert!(reference("a@sha256:xyz").is_err());
        let by_digest = tagged(&format!("a@{digest}"), "use this").unwrap_err().to_string();
        assert!(by_digest.ends_with(": expected NAME:TAG (use this)"), "{by_digest}");
        assert_eq!(tagged("a:t", "").unwrap().1.as_str(), "t");
    }
}
