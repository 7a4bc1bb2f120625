use super::*;

#[test]
fn parses_the_stock_distribution_config() {
    let cfg = Config::parse(
        "version: 0.1\nlog:\n  fields:\n    service: registry\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n  headers:\n    X-Content-Type-Options: [nosniff]\nhealth:\n  storagedriver:\n    enabled: true\n    interval: 10s\n    threshold: 3\n",
    )
    .unwrap();
    assert_eq!(cfg.addr, "0.0.0.0:5000");
    assert_eq!(cfg.storage, StorageDriver::Filesystem { root: "/var/lib/registry".into() });
    assert_eq!(cfg.headers["X-Content-Type-Options"], ["nosniff"]);
    assert!(!cfg.delete_enabled);
    assert_eq!(cfg.warnings.len(), 5, "{:?}", cfg.warnings);
}

#[test]
fn reads_honoured_keys() {
    let cfg = Config::parse(
        "version: 0.1\nlog: {level: debug}\nhttp: {addr: '127.0.0.1:0', secret: 12345}\nstorage:\n  inmemory:\n  delete: {enabled: yes}\ncatalog: {maxentries: 7}\n",
    )
    .unwrap();
    assert_eq!(cfg.log_level, "debug");
    assert_eq!(cfg.secret.as_deref(), Some("12345"));
    assert_eq!(cfg.storage, StorageDriver::InMemory);
    assert!(cfg.delete_enabled);
    assert_eq!(cfg.catalog_max_entries, 7);
}

#[test]
fn refuses_unknown_and_unsupported_keys() {
    let base = "version: 0.1\nstorage: {inmemory: {}}\n";
    let err = Config::parse(&format!("{base}http: {{adr: x}}\n")).unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownKey(k) if k == "http.adr"), "{err}");
    assert!(err.to_string().contains("http.adr"));
    let err = Config::parse(&format!("{base}auth: {{htpasswd: {{realm: r, path: /p}}}}\n")).unwrap_err();
    assert!(matches!(&err, ConfigError::Unsupported(k) if k == "auth"), "{err}");
    let err = Config::parse(&format!("{base}bogus: 1\n")).unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownKey(k) if k == "bogus"));
    let err = Config::parse("version: 0.1\nstorage: {s3: {bucket: b, region: r}}\n").unwrap_err();
    assert!(matches!(&err, ConfigError::Unsupported(_)), "{err}");
    assert!(Config::parse("version: 0.2\nstorage: {inmemory: {}}\n").is_err());
    assert!(Config::parse("storage: {inmemory: {}}\n").is_err());
    assert!(Config::parse("version: 0.1\n").is_err());
    assert!(Config::parse("version: 0.1\nstorage: {inmemory: {}, filesystem: {}}\n").is_err());
    assert!(Config::parse(&format!("{base}storage2: [\n")).is_err());
}
