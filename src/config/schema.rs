//! What berth does with each key of distribution's config.yml (2.8 and 3.x).
//! A key berth does not implement yet stops startup, naming itself, so a
//! setting is never silently dropped. (Keys distribution does not have at all
//! are found while the configuration is typed: see `section::Reader`.)
//!
//! Flipping a key to `Yes` once it works is a one-line change in `KEYS`.

use super::{ConfigError, section::Problems, tree::Node};

/// What berth does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Honoured.
    Yes,
    /// Present in distribution's stock config.yml, so accepted with a
    /// warning that names it; implemented by a later release.
    Warn,
    /// Refused at startup with "not supported yet".
    No,
}

/// Key patterns: `*` matches one map key; a pattern ending in `.**` covers
/// everything below a key (whole sections berth does not implement yet).
const KEYS: &[(&str, Support)] = &[
    ("version", Support::Yes),
    ("loglevel", Support::Yes),
    ("log.level", Support::Yes),
    ("log.formatter", Support::Yes),
    ("log.fields.*", Support::Yes),
    ("log.accesslog.disabled", Support::Yes),
    ("log.hooks", Support::No),
    ("log.reportcaller", Support::No),
    ("storage.filesystem", Support::Yes),
    ("storage.filesystem.rootdirectory", Support::Yes),
    ("storage.filesystem.maxthreads", Support::No),
    ("storage.inmemory", Support::Yes),
    ("storage.s3.**", Support::Yes),
    ("storage.azure.**", Support::No),
    ("storage.gcs.**", Support::No),
    ("storage.swift.**", Support::No),
    ("storage.oss.**", Support::No),
    ("storage.delete.enabled", Support::Yes),
    ("storage.redirect.disable", Support::Yes),
    // By value: `redis` is honoured, `inmemory` warns (`check_blob_cache`).
    ("storage.cache.blobdescriptor", Support::Yes),
    ("storage.cache.blobdescriptorsize", Support::Warn),
    ("storage.cache.layerinfo", Support::Yes),
    ("storage.maintenance.uploadpurging.enabled", Support::Yes),
    ("storage.maintenance.uploadpurging.age", Support::Yes),
    ("storage.maintenance.uploadpurging.interval", Support::Yes),
    ("storage.maintenance.uploadpurging.dryrun", Support::Yes),
    ("storage.maintenance.readonly.enabled", Support::Yes),
    ("storage.tag.concurrencylimit", Support::No),
    ("auth.**", Support::Yes),
    ("middleware.**", Support::No),
    ("http.addr", Support::Yes),
    ("http.net", Support::Yes),
    ("http.prefix", Support::Yes),
    ("http.host", Support::Yes),
    ("http.secret", Support::Yes),
    ("http.relativeurls", Support::Yes),
    ("http.draintimeout", Support::Yes),
    ("http.tls.**", Support::Yes),
    ("http.debug.**", Support::Yes),
    ("http.headers.*", Support::Yes),
    ("http.http2.disabled", Support::Yes),
    ("http.h2c.enabled", Support::Yes),
    ("notifications.events.includereferences", Support::Yes),
    ("notifications.endpoints", Support::Yes),
    ("redis.addr", Support::Yes),
    ("redis.addrs", Support::Yes),
    ("redis.db", Support::Yes),
    ("redis.username", Support::Yes),
    ("redis.password", Support::Yes),
    ("redis.dialtimeout", Support::Yes),
    ("redis.readtimeout", Support::Yes),
    ("redis.writetimeout", Support::Yes),
    // berth keeps one multiplexed connection and one subscription per
    // replica: pool sizes, retries and the RESP version have nothing to set.
    ("redis.pool.**", Support::Warn),
    ("redis.clientname", Support::Warn),
    ("redis.protocol", Support::Warn),
    ("redis.maxretries", Support::Warn),
    ("redis.minretrybackoff", Support::Warn),
    ("redis.maxretrybackoff", Support::Warn),
    ("redis.contexttimeoutenabled", Support::Warn),
    ("redis.poolfifo", Support::Warn),
    ("redis.poolsize", Support::Warn),
    ("redis.pooltimeout", Support::Warn),
    ("redis.minidleconns", Support::Warn),
    ("redis.maxidleconns", Support::Warn),
    ("redis.maxactiveconns", Support::Warn),
    ("redis.connmaxidletime", Support::Warn),
    ("redis.connmaxlifetime", Support::Warn),
    ("redis.disableidentity", Support::Warn),
    ("redis.identitysuffix", Support::Warn),
    ("redis.unstableresp3", Support::Warn),
    ("redis.**", Support::No),
    ("health.storagedriver.enabled", Support::Yes),
    ("health.storagedriver.interval", Support::Yes),
    ("health.storagedriver.threshold", Support::Yes),
    ("health.file", Support::Yes),
    ("health.http", Support::Yes),
    ("health.tcp", Support::Yes),
    ("proxy.remoteurl", Support::Yes),
    ("proxy.username", Support::Yes),
    ("proxy.password", Support::Yes),
    ("proxy.ttl", Support::Yes),
    ("proxy.exec.**", Support::No),
    ("proxy.cachewritetimeout", Support::No),
    ("proxy.remotenamespace", Support::No),
    ("catalog.maxentries", Support::Yes),
    ("berth.gc.grace", Support::Yes),
    ("berth.gc.interval", Support::Yes),
    ("berth.gc.deleteuntagged", Support::Yes),
    ("berth.gc.dryrun", Support::Yes),
    ("berth.limits.*", Support::Yes),
    ("berth.ui.enabled", Support::Yes),
    ("tags.maxtags", Support::No),
    ("validation.**", Support::No),
    ("policy.**", Support::No),
    ("compatibility.**", Support::No),
    ("reporting.**", Support::No),
];

fn matches(pattern: &str, key: &[&str]) -> bool {
    let pat: Vec<&str> = pattern.split('.').collect();
    if pat.last() == Some(&"**") {
        let prefix = &pat[..pat.len() - 1];
        return key.len() >= prefix.len() && prefix.iter().zip(key).all(|(p, k)| p == k);
    }
    pat.len() == key.len() && pat.iter().zip(key).all(|(p, k)| *p == "*" || p == k)
}

/// What berth does with a full key path, or `None` for a key not listed.
pub fn support(key: &[&str]) -> Option<Support> {
    KEYS.iter().find(|(pattern, _)| matches(pattern, key)).map(|(_, s)| *s)
}

/// True when some listed key lies below this path (so it is a section, not a
/// leaf, and its children are classified instead).
fn is_section(key: &[&str]) -> bool {
    KEYS.iter().any(|(pattern, _)| {
        let pat: Vec<&str> = pattern.split('.').collect();
        pat.len() > key.len() && pat.iter().zip(key).all(|(p, k)| *p == "*" || p == k) && pat[key.len()] != "**"
    })
}

/// Classifies every key the tree sets: warnings for `Warn`, errors for `No`.
/// Keys set to nothing (null, empty) are skipped: they change nothing.
pub fn check(tree: &Node, p: &mut Problems) {
    walk(tree, &mut Vec::new(), p);
}

fn walk(node: &Node, path: &mut Vec<String>, p: &mut Problems) {
    let key: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Node::Map(entries) = node
        && (key.is_empty() || is_section(&key))
    {
        for (k, v) in entries {
            path.push(k.clone());
            walk(v, path, p);
            path.pop();
        }
        return;
    }
    if node.is_empty() {
        return;
    }
    let joined = key.join(".");
    match support(&key) {
        Some(Support::Warn) => p.warn(format!("configuration key `{joined}` has no effect in berth yet")),
        Some(Support::No) => p.errors.push(ConfigError::Unsupported(joined)),
        Some(Support::Yes) | None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_keys() {
        assert_eq!(support(&["http", "addr"]), Some(Support::Yes));
        assert_eq!(support(&["http", "headers", "X-Frame-Options"]), Some(Support::Yes));
        assert_eq!(support(&["auth", "htpasswd", "path"]), Some(Support::Yes));
        assert_eq!(support(&["http", "tls", "certificate"]), Some(Support::Yes));
        assert_eq!(support(&["http", "tls", "letsencrypt", "hosts"]), Some(Support::Yes));
        assert_eq!(support(&["redis", "addr"]), Some(Support::Yes));
        assert_eq!(support(&["redis", "pool", "maxidle"]), Some(Support::Warn));
        assert_eq!(support(&["redis", "tls", "enabled"]), Some(Support::No));
        assert_eq!(support(&["redis", "mastername"]), Some(Support::No));
        assert_eq!(support(&["http", "adr"]), None);
        assert!(is_section(&["http"]));
        assert!(is_section(&["storage", "filesystem"]));
        assert!(!is_section(&["http", "addr"]));
        assert!(!is_section(&["auth"]));
    }
}
