//! `berth`: settings distribution does not have. distribution ignores
//! top-level keys it does not know, so a config.yml with this section still
//! serves distribution unchanged.

use std::time::Duration;

use super::retention::Retention;
use crate::config::{
    duration,
    section::{Problems, Section, Visitor},
    tree::KeyPath,
};

/// `berth`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Berth {
    /// `berth.gc`.
    pub gc: Gc,
    /// `berth.limits`.
    pub limits: Limits,
    /// `berth.retention`.
    pub retention: Retention,
    /// `berth.ui`.
    pub ui: Ui,
    /// `berth.tags`.
    pub tags: super::TagRules,
    /// `berth.catalog`.
    pub catalog: CatalogIndex,
}

impl Section for Berth {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("gc", &mut self.gc);
        v.section("limits", &mut self.limits);
        v.section("retention", &mut self.retention);
        v.section("ui", &mut self.ui);
        v.section("tags", &mut self.tags);
        v.section("catalog", &mut self.catalog);
    }

    /// Retention sweeps untagged manifests as collection does, sparing what
    /// pushes claimed; a claim protects for the grace period, so a shorter
    /// `untaggedgrace` leaves a push that reuses such a manifest exposed.
    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        let policies = at.key("retention").key("policies");
        for (i, policy) in self.retention.policies.iter().enumerate() {
            let grace = policy.untaggedgrace;
            if !grace.is_zero() && grace < self.gc.grace {
                p.warn(format!(
                    "configuration key `{}` ({}) is shorter than berth.gc.grace ({}): a push that reuses an untagged \
                     manifest while retention runs may lose it",
                    policies.index(i).key("untaggedgrace"),
                    duration::format(grace),
                    duration::format(self.gc.grace)
                ));
            }
        }
    }
}

/// `berth.ui`: the web UI under `/ui/` (docs/ui.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Ui {
    /// `enabled`: serve the UI (default true). Off, `/ui/` is a 404.
    pub enabled: bool,
}

impl Default for Ui {
    fn default() -> Self {
        Ui { enabled: true }
    }
}

impl Section for Ui {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
    }
}

/// `berth.catalog`: the catalog index, which spares the catalog a walk of
/// every repository directory.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogIndex {
    /// `index`: keep and serve the index (unset: on for object storage,
    /// where a walk costs a listing per directory; off for a filesystem,
    /// where a walk is cheap and `rm -R` shows at once).
    pub index: Option<bool>,
    /// `reconcile`: how often the index is checked against the tree, for
    /// changes other processes made (default 1h).
    pub reconcile: Duration,
}

impl Default for CatalogIndex {
    fn default() -> Self {
        CatalogIndex { index: None, reconcile: Duration::from_secs(3600) }
    }
}

impl Section for CatalogIndex {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("index", &mut self.index);
        v.value("reconcile", &mut self.reconcile);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        if self.reconcile.is_zero() {
            p.invalid(&at.key("reconcile"), "must be greater than 0");
        }
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

/// `berth.limits`: what one request, one connection and all clients together
/// may make the server spend. distribution has none of these; docs/limits.md
/// explains each and the memory bound they give.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `maxconnections`: connections served at once; more wait in the
    /// kernel's accept queue (default 4096; 0: no limit).
    pub maxconnections: usize,
    /// `headertimeout`: a client gets this long to send a request's headers,
    /// and an idle kept-alive connection is closed after it (default 30s).
    pub headertimeout: Duration,
    /// `bodytimeout`: a request body that sends nothing for this long is cut
    /// off (default 60s). It bounds silence, not duration, so a slow upload
    /// that keeps sending is never cut.
    pub bodytimeout: Duration,
    /// `maxheaderbytes`: request line plus headers (default 64 KiB).
    pub maxheaderbytes: usize,
    /// `manifestsize`: the largest manifest accepted (default 4 MiB, the
    /// spec's minimum).
    pub manifestsize: usize,
    /// `memory`: request bytes held in memory by all requests together
    /// (manifest bodies, upload write batches); a request over it waits up
    /// to `bodytimeout`, then gets 429 TOOMANYREQUESTS (default 1 GiB).
    pub memory: usize,
    /// `clientmemory`: the part of `memory` one client address may hold
    /// (default 256 MiB).
    pub clientmemory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            maxconnections: 4096,
            headertimeout: Duration::from_secs(30),
            bodytimeout: Duration::from_secs(60),
            maxheaderbytes: 64 * 1024,
            manifestsize: 4 * 1024 * 1024,
            memory: 1024 * 1024 * 1024,
            clientmemory: 256 * 1024 * 1024,
        }
    }
}

impl Section for Limits {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("maxconnections", &mut self.maxconnections);
        v.value("headertimeout", &mut self.headertimeout);
        v.value("bodytimeout", &mut self.bodytimeout);
        v.value("maxheaderbytes", &mut self.maxheaderbytes);
        v.value("manifestsize", &mut self.manifestsize);
        v.value("memory", &mut self.memory);
        v.value("clientmemory", &mut self.clientmemory);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        // hyper refuses read buffers smaller than this.
        if self.maxheaderbytes < MIN_HEADER_BYTES {
            p.invalid(&at.key("maxheaderbytes"), format!("must be at least {MIN_HEADER_BYTES}"));
        }
        if self.manifestsize == 0 {
            p.invalid(&at.key("manifestsize"), "must be greater than 0");
        }
        // A request's reservation never exceeds either budget, so a budget
        // smaller than a manifest would refuse every manifest.
        for (key, value) in [("memory", self.memory), ("clientmemory", self.clientmemory)] {
            if value < self.manifestsize {
                p.invalid(&at.key(key), format!("must be at least manifestsize ({} bytes)", self.manifestsize));
            }
        }
    }
}

/// The smallest `maxheaderbytes`.
const MIN_HEADER_BYTES: usize = 8192;
