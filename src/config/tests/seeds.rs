//! The seed guides' config.yml snippets and docker-compose `environment:`
//! blocks (copied to `testdata/seeds/`, each naming its guide) parse as
//! written. The blocks override the registry image's own config.yml.

use std::path::PathBuf;

use super::*;

/// The `environment:` of a compose file or snippet, in list or map form.
fn environment(compose: &str) -> Vec<(String, String)> {
    let (tree, _) = tree::parse(compose).unwrap();
    let block = tree.get("environment").or_else(|| tree.lookup("registry.environment")).expect("environment");
    match block {
        Node::Seq(items) => items
            .iter()
            .map(|item| {
                let (k, v) = item.text().and_then(|t| t.split_once('=')).expect("NAME=value");
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        Node::Map(entries) => entries.iter().map(|(k, v)| (k.clone(), v.text().unwrap_or("").to_owned())).collect(),
        other => panic!("environment is {}", other.kind()),
    }
}

/// The image's config.yml with a compose file's variables, unchecked.
fn image_with(compose: &str) -> Config {
    let env = environment(&fixture(compose));
    Config::read(&fixture("seeds/registry-image-config.yml"), env).unwrap_or_else(|e| panic!("{compose}: {e}"))
}

#[test]
fn the_image_config_runs_as_is() {
    let c = Config::parse(&fixture("seeds/registry-image-config.yml")).unwrap();
    assert_eq!(c.addr, "0.0.0.0:5000");
    assert_eq!(c.http.headers["X-Content-Type-Options"], ["nosniff"]);
    assert_eq!(c.warnings, ["configuration key `storage.cache.blobdescriptor` has no effect in berth yet"]);
}

#[test]
fn seed_001_htpasswd_and_tls_variables() {
    let c = image_with("seeds/001-htpasswd.yml");
    assert_eq!(c.auth, Some(Auth::Htpasswd { realm: "Registry Realm".into(), path: "/auth/htpasswd".into() }));
    let c = image_with("seeds/001-tls.yml");
    assert_eq!(c.http.addr, "0.0.0.0:443", "the comment after the value is YAML's, not the value's");
    let tls = c.http.tls.expect("tls");
    assert_eq!(
        (tls.certificate, tls.key),
        (Some(PathBuf::from("/certs/ca.crt")), Some(PathBuf::from("/certs/ca.key")))
    );
}

#[test]
fn seed_002_compose_files_and_config() {
    let c = image_with("seeds/002-compose-tls.yml");
    assert_eq!(c.http.tls.and_then(|t| t.certificate), Some(PathBuf::from("/certs/domain.crt")));
    let c = image_with("seeds/002-compose-auth.yml");
    assert_eq!(c.auth, Some(Auth::Htpasswd { realm: "Registry Realm".into(), path: "/auth/htpasswd".into() }));
    assert_eq!(c.http.tls.and_then(|t| t.key), Some(PathBuf::from("/certs/domain.key")));
    let c = Config::read(&fixture("seeds/002-config.yml"), Vec::new()).unwrap();
    assert!(c.storage.delete.enabled);
    assert!(!c.storage.maintenance.readonly.enabled);
    assert!(c.warnings.iter().any(|w| w.contains("`version` is missing")), "{:?}", c.warnings);
}

#[test]
fn seed_003_config() {
    let c = Config::read(&fixture("seeds/003-config.yml"), Vec::new()).unwrap();
    assert_eq!(c.log.level, LogLevel::Debug);
    assert_eq!(c.storage.cache.layerinfo, Some(BlobDescriptorCache::InMemory));
    assert_eq!(c.http.secret.as_ref().map(Secret::expose), Some("asecretforlocaldevelopment"));
    assert_eq!(c.http.debug.addr.as_deref(), Some("localhost:5001"));
    let redis = c.redis.expect("redis");
    assert_eq!((redis.addr.as_deref(), redis.pool.maxactive), (Some("localhost:6379"), 64));
    let endpoints = &c.notifications.endpoints;
    assert_eq!(endpoints.len(), 2);
    assert_eq!(endpoints[0].headers["Authorization"], ["Bearer <an example token>"]);
    assert!(endpoints[1].disabled && endpoints[1].headers.is_empty());
}

#[test]
fn seed_004_compose_runs_with_deletes() {
    let env = environment(&fixture("seeds/004-compose.yml"));
    let c = Config::read(&fixture("seeds/registry-image-config.yml"), env.clone()).unwrap();
    assert!(c.storage.delete.enabled);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, fixture("seeds/registry-image-config.yml")).unwrap();
    let c = Config::load(Some(&file), env).expect("berth serves it today");
    assert!(c.storage.delete.enabled);
}
