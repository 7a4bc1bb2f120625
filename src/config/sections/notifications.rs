//! `notifications`: webhooks for registry events.

use std::{collections::BTreeMap, time::Duration};

use crate::config::{
    section::{Problems, Section, Visitor},
    tree::KeyPath,
};

/// The actions an endpoint can ignore.
const ACTIONS: &[&str] = &["pull", "push", "delete", "mount", "deny"];

/// `notifications`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notifications {
    /// `notifications.events` (Go field `EventConfig`).
    pub events: Events,
    /// `notifications.endpoints`.
    pub endpoints: Vec<Endpoint>,
}

impl Section for Notifications {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("events", &mut self.events);
        v.list("endpoints", &mut self.endpoints);
    }
}

/// `notifications.events`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    /// `includereferences`: manifest events list the manifest's references.
    pub includereferences: bool,
}

impl Section for Events {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("includereferences", &mut self.includereferences);
    }
}

/// `notifications.endpoints[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `name` (required).
    pub name: String,
    /// `disabled`.
    pub disabled: bool,
    /// `url` events are POSTed to (required).
    pub url: String,
    /// `headers` added to each request.
    pub headers: BTreeMap<String, Vec<String>>,
    /// `timeout` of a request (default 1s).
    pub timeout: Duration,
    /// `threshold`: failures before backing off (default 10).
    pub threshold: u64,
    /// `backoff` after failures (default 1s).
    pub backoff: Duration,
    /// `ignoredmediatypes`: target media types not sent.
    pub ignoredmediatypes: Vec<String>,
    /// `ignore`.
    pub ignore: Ignore,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            name: String::new(),
            disabled: false,
            url: String::new(),
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(1),
            threshold: 10,
            backoff: Duration::from_secs(1),
            ignoredmediatypes: Vec::new(),
            ignore: Ignore::default(),
        }
    }
}

impl Section for Endpoint {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("name", &mut self.name);
        v.value("disabled", &mut self.disabled);
        v.value("url", &mut self.url);
        v.value("headers", &mut self.headers);
        v.value("timeout", &mut self.timeout);
        v.value("threshold", &mut self.threshold);
        v.value("backoff", &mut self.backoff);
        v.value("ignoredmediatypes", &mut self.ignoredmediatypes);
        v.section("ignore", &mut self.ignore);
    }

    /// distribution replaces zero timeouts, thresholds and backoffs with
    /// its defaults.
    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "name", !self.name.is_empty());
        p.require(at, "url", !self.url.is_empty());
        let defaults = Endpoint::default();
        if self.timeout.is_zero() {
            self.timeout = defaults.timeout;
        }
        if self.threshold == 0 {
            self.threshold = defaults.threshold;
        }
        if self.backoff.is_zero() {
            self.backoff = defaults.backoff;
        }
    }
}

/// `notifications.endpoints[].ignore`: events not sent (either matches).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ignore {
    /// `mediatypes`.
    pub mediatypes: Vec<String>,
    /// `actions`: among pull, push, delete, mount.
    pub actions: Vec<String>,
}

impl Section for Ignore {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("mediatypes", &mut self.mediatypes);
        v.value("actions", &mut self.actions);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        for action in self.actions.iter().filter(|a| !ACTIONS.contains(&a.to_ascii_lowercase().as_str())) {
            p.invalid(&at.key("actions"), format!("{action:?} is not one of {}", ACTIONS.join(", ")));
        }
    }
}
