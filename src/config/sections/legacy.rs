//! Sections distribution 3.0 removed: `compatibility` (schema 1 manifests)
//! and `reporting` (Bugsnag, New Relic).

use std::path::PathBuf;

use crate::config::{
    section::{Section, Visitor},
    value::Secret,
};

/// `compatibility` (2.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compatibility {
    /// `compatibility.schema1`.
    pub schema1: Schema1,
}

impl Section for Compatibility {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("schema1", &mut self.schema1);
    }
}

/// `compatibility.schema1` (2.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema1 {
    /// `signingkeyfile` (Go field `TrustKey`): signs schema 1 manifests.
    pub signingkeyfile: Option<PathBuf>,
    /// `enabled`: accept schema 1 manifests.
    pub enabled: bool,
}

impl Section for Schema1 {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("signingkeyfile", &mut self.signingkeyfile);
        v.value("enabled", &mut self.enabled);
    }
}

/// `reporting` (2.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reporting {
    /// `reporting.bugsnag`.
    pub bugsnag: Bugsnag,
    /// `reporting.newrelic`.
    pub newrelic: NewRelic,
}

impl Section for Reporting {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("bugsnag", &mut self.bugsnag);
        v.section("newrelic", &mut self.newrelic);
    }
}

/// `reporting.bugsnag` (2.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bugsnag {
    /// `apikey`.
    pub apikey: Option<Secret>,
    /// `releasestage`.
    pub releasestage: String,
    /// `endpoint`.
    pub endpoint: String,
}

impl Section for Bugsnag {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("apikey", &mut self.apikey);
        v.value("releasestage", &mut self.releasestage);
        v.value("endpoint", &mut self.endpoint);
    }
}

/// `reporting.newrelic` (2.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRelic {
    /// `licensekey`.
    pub licensekey: Option<Secret>,
    /// `name` of the application.
    pub name: String,
    /// `verbose`.
    pub verbose: bool,
}

impl Section for NewRelic {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("licensekey", &mut self.licensekey);
        v.value("name", &mut self.name);
        v.value("verbose", &mut self.verbose);
    }
}
