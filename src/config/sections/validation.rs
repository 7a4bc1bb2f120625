//! `validation`: what pushed manifests must satisfy.

use crate::config::{
    section::{Section, Visitor},
    value::keywords,
};

/// `validation`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validation {
    /// `enabled`: deprecated in favour of `disabled`.
    pub enabled: bool,
    /// `disabled`: skip the checks below.
    pub disabled: bool,
    /// `manifests`.
    pub manifests: ManifestValidation,
}

impl Section for Validation {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
        v.value("disabled", &mut self.disabled);
        v.section("manifests", &mut self.manifests);
    }
}

/// `validation.manifests`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManifestValidation {
    /// `urls`.
    pub urls: UrlValidation,
    /// `indexes` (3.x).
    pub indexes: IndexValidation,
}

impl Section for ManifestValidation {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("urls", &mut self.urls);
        v.section("indexes", &mut self.indexes);
    }
}

/// `validation.manifests.urls`: foreign layer URLs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlValidation {
    /// `allow`: regular expressions every URL must match (unset: no URLs).
    pub allow: Vec<String>,
    /// `deny`: regular expressions no URL may match.
    pub deny: Vec<String>,
}

impl Section for UrlValidation {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("allow", &mut self.allow);
        v.value("deny", &mut self.deny);
    }
}

keywords! {
    /// `validation.manifests.indexes.platforms`: which images of an index
    /// must exist.
    #[derive(Default)]
    pub enum Platforms {
        /// Every image (the default).
        #[default]
        All = "all",
        /// None: sparse indexes are accepted.
        None = "none",
        /// Those of `platformlist`.
        List = "list",
    }
}

/// `validation.manifests.indexes` (3.x).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexValidation {
    /// `platforms` (default `all`).
    pub platforms: Platforms,
    /// `platformlist`.
    pub platformlist: Vec<Platform>,
}

impl Section for IndexValidation {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("platforms", &mut self.platforms);
        v.list("platformlist", &mut self.platformlist);
    }
}

/// `validation.manifests.indexes.platformlist[]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Platform {
    /// `architecture`.
    pub architecture: String,
    /// `os`.
    pub os: String,
}

impl Section for Platform {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("architecture", &mut self.architecture);
        v.value("os", &mut self.os);
    }
}
