//! `policy`: undocumented in distribution, present in 2.8 and 3.x.

use crate::config::section::{Section, Visitor};

/// `policy`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// `policy.repository`.
    pub repository: RepositoryPolicy,
}

impl Section for Policy {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("repository", &mut self.repository);
    }
}

/// `policy.repository`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepositoryPolicy {
    /// `classes`: the repository classes content may have (empty: any).
    pub classes: Vec<String>,
}

impl Section for RepositoryPolicy {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("classes", &mut self.classes);
    }
}
