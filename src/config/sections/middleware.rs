//! `middleware`: named plug-ins wrapped around the registry, repositories
//! and the storage driver.

use std::collections::BTreeMap;

use crate::config::{
    section::{Problems, Section, Visitor},
    tree::{KeyPath, Node},
};

/// `middleware`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Middleware {
    /// `middleware.registry`.
    pub registry: Vec<MiddlewareEntry>,
    /// `middleware.repository`.
    pub repository: Vec<MiddlewareEntry>,
    /// `middleware.storage` (`cloudfront`, `redirect`, `rewrite`).
    pub storage: Vec<MiddlewareEntry>,
}

impl Section for Middleware {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.list("registry", &mut self.registry);
        v.list("repository", &mut self.repository);
        v.list("storage", &mut self.storage);
    }
}

/// One middleware.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MiddlewareEntry {
    /// `name` it registered under (required).
    pub name: String,
    /// `disabled`.
    pub disabled: bool,
    /// `options`: free-form, for the middleware to read.
    pub options: BTreeMap<String, Node>,
}

impl Section for MiddlewareEntry {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("name", &mut self.name);
        v.value("disabled", &mut self.disabled);
        v.value("options", &mut self.options);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "name", !self.name.is_empty());
    }
}
