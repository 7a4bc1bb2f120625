//! Driver paths as S3 keys: distribution's layout under `rootdirectory`, so
//! a bucket written by distribution's s3 driver is read as it is. A
//! directory is a key prefix ending in `/`; nothing stands for it alone.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What `x-amz-copy-source` may carry unescaped: RFC 3986's unreserved
/// characters and the `/` between key segments.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// Maps driver paths to keys below a root prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// `rootdirectory` without its outer slashes, then `/`; empty for the
    /// bucket's top.
    prefix: String,
}

impl Keys {
    /// Keys below `rootdirectory` (`/`, empty or `/a/b/` alike).
    pub(super) fn new(rootdirectory: &str) -> Self {
        let root = rootdirectory.trim_matches('/');
        Keys { prefix: if root.is_empty() { String::new() } else { format!("{root}/") } }
    }

    /// The key of the object at `path`.
    pub(super) fn object(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The prefix of every key inside the directory `path`.
    pub(super) fn dir(&self, path: &str) -> String {
        format!("{}{path}/", self.prefix)
    }
}

/// `x-amz-copy-source` for a key of a bucket.
pub(super) fn copy_source(bucket: &str, key: &str) -> String {
    format!("{bucket}/{}", utf8_percent_encode(key, COPY_SOURCE))
}

/// The name of a direct child of `dir_prefix` that `key` (an object key or
/// a common prefix) stands for.
pub(super) fn child_name<'a>(dir_prefix: &str, key: &'a str) -> Option<&'a str> {
    let name = key.strip_prefix(dir_prefix)?.trim_end_matches('/');
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// The directories that the keys of a flat listing below a directory imply,
/// relative to it. A directory whose name `enter` refuses is found but its
/// subdirectories are not.
pub(super) fn implied_dirs<'a>(
    relative_keys: impl Iterator<Item = &'a str>,
    enter: fn(&str) -> bool,
) -> std::collections::HashSet<String> {
    let mut dirs = std::collections::HashSet::new();
    for key in relative_keys {
        let mut segments: Vec<&str> = key.split('/').collect();
        segments.pop(); // the object's own name
        for depth in 1..=segments.len() {
            dirs.insert(segments[..depth].join("/"));
            if !enter(segments[depth - 1]) {
                break;
            }
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_distribution() {
        for root in ["", "/"] {
            assert_eq!(Keys::new(root).object("docker/registry/v2/x"), "docker/registry/v2/x");
        }
        for root in ["/reg", "reg/", "/reg/"] {
            assert_eq!(Keys::new(root).object("docker/x"), "reg/docker/x");
            assert_eq!(Keys::new(root).dir("docker"), "reg/docker/");
        }
        assert_eq!(copy_source("b", "a b/c+d"), "b/a%20b/c%2Bd");
        assert_eq!(child_name("a/", "a/b/"), Some("b"));
        assert_eq!(child_name("a/", "a/b"), Some("b"));
        assert_eq!(child_name("a/", "a/b/c"), None);
    }

    #[test]
    fn implied_dirs_stop_at_refused_names() {
        let keys = ["b/c/d", "x/_skip/y/z", "top"];
        let mut dirs: Vec<String> = implied_dirs(keys.into_iter(), |n| !n.starts_with('_')).into_iter().collect();
        dirs.sort();
        assert_eq!(dirs, ["b", "b/c", "x", "x/_skip"]);
    }
}
