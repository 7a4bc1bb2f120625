//! `catalog` and `tags`: page sizes of the listing endpoints.

use crate::config::section::{Section, Visitor};

/// What a zero or negative limit means, as in distribution.
const DEFAULT_LIMIT: usize = 1000;

/// Reads a limit where zero or less means the default.
fn limit<V: Visitor>(v: &mut V, key: &str, field: &mut usize) {
    let mut n = i64::try_from(*field).unwrap_or(i64::MAX);
    v.value(key, &mut n);
    *field = if n <= 0 { DEFAULT_LIMIT } else { usize::try_from(n).unwrap_or(usize::MAX) };
}

/// `catalog`.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// `catalog.maxentries`: the most repositories a catalog page holds
    /// (default 1000; zero or less means the default).
    pub maxentries: usize,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog { maxentries: DEFAULT_LIMIT }
    }
}

impl Section for Catalog {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        limit(v, "maxentries", &mut self.maxentries);
    }
}

/// `tags` (3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Tags {
    /// `tags.maxtags`: the most tags a tag list page holds (default 1000).
    pub maxtags: usize,
}

impl Default for Tags {
    fn default() -> Self {
        Tags { maxtags: DEFAULT_LIMIT }
    }
}

impl Section for Tags {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        limit(v, "maxtags", &mut self.maxtags);
    }
}
