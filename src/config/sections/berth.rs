//! `berth`: settings distribution does not have. distribution ignores
//! top-level keys it does not know, so a config.yml with this section still
//! serves distribution unchanged.

use std::time::Duration;

use crate::config::section::{Section, Visitor};

/// `berth`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Berth {
    /// `berth.gc`.
    pub gc: Gc,
}

impl Section for Berth {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("gc", &mut self.gc);
    }
}

/// `berth.gc`: garbage collection while serving.
#[derive(Debug, Clone, PartialEq)]
pub struct Gc {
    /// `grace`: content written or used more recently than this is never
    /// collected, which is what makes collection safe while clients push
    /// (default 1h; 0 turns the protection off).
    pub grace: Duration,
    /// `interval`: the server collects every interval (default 0: never).
    pub interval: Duration,
    /// `deleteuntagged`: scheduled runs also delete manifests no tag reaches.
    pub deleteuntagged: bool,
    /// `dryrun`: scheduled runs only log what they would delete.
    pub dryrun: bool,
}

impl Default for Gc {
    fn default() -> Self {
        Gc { grace: Duration::from_secs(3600), interval: Duration::ZERO, deleteuntagged: false, dryrun: false }
    }
}

impl Section for Gc {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("grace", &mut self.grace);
        v.value("interval", &mut self.interval);
        v.value("deleteuntagged", &mut self.deleteuntagged);
        v.value("dryrun", &mut self.dryrun);
    }
}
