//! Repository names, checked against the OCI distribution grammar.
//!
//! A name is the only piece of a request that becomes a storage path with
//! more than one segment, so this check is what keeps every path inside the
//! storage root: the grammar admits no `.`-only, empty or `_`-prefixed
//! segment.

use std::fmt;

/// distribution refuses names longer than this.
const MAX_NAME_LEN: usize = 255;

/// A valid repository name such as `library/ubuntu`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository name {0:?}: {1}")]
pub struct NameError(pub String, pub &'static str);

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        debug_assert!(i > sep_start);
    }
}

impl RepoName {
    /// Checks a name.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let err = |why| Err(NameError(name.to_owned(), why));
        if name.is_empty() {
            return err("empty");
        }
        if name.len() > MAX_NAME_LEN {
            return err("longer than 255 characters");
        }
        if !name.split('/').all(is_component) {
            return err("must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*");
        }
        Ok(RepoName(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for ok in ["a", "library/ubuntu", "a/b/c/d/e/f/g/h", "my-app", "my--app", "a_b", "a__b", "a.b", "0x/9-9"] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_invalid_names() {
        let long = "a".repeat(256);
        for bad in [
            "",
            "..",
            "a/..",
            "../a",
            "a//b",
            "/a",
            "a/",
            "A",
            "a/B",
            "a___b",
            "a.-b",
            "-a",
            "a-",
            "_a",
            "a/_layers",
            "a b",
            "a%2e",
            ".",
            "a/./b",
            "a\\b",
            &long,
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
