//! distribution's environment rule, row by row: variables → the value at a
//! path of the tree, or an error, or a warning.

use super::*;
use crate::config::env as rule;

/// The config.yml every row starts from: the registry image's, plus a list
/// for index rows.
const BASE: &str = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n  headers:\n    X-Content-Type-Options: [nosniff]\n  tls:\n    letsencrypt:\n      cachefile: /acme\n      hosts: [a.example]\n";

enum Expect {
    /// The node at a path (`a.b[0].c`), as YAML.
    At(&'static str, &'static str),
    /// Nothing at the path.
    Absent(&'static str),
    /// An error containing this text.
    Error(&'static str),
    /// A warning containing this text.
    Warning(&'static str),
}

use Expect::*;

/// Each row: variables (in any order), what must follow.
const ROWS: &[(&[(&str, &str)], Expect)] = &[
    // Go field names that are the YAML keys, any letter case.
    (
        &[("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/somewhere")],
        At("storage.filesystem.rootdirectory", "/somewhere"),
    ),
    (&[("REGISTRY_HTTP_ADDR", "0.0.0.0:443")], At("http.addr", "0.0.0.0:443")),
    (&[("REGISTRY_Http_Secret", "s")], At("http.secret", "s")),
    (&[("REGISTRY_CATALOG_MAXENTRIES", "50")], At("catalog.maxentries", "50")),
    (&[("REGISTRY_BERTH_LIMITS_BODYTIMEOUT", "5m")], At("berth.limits.bodytimeout", "5m")),
    (&[("REGISTRY_LOGLEVEL", "debug")], At("loglevel", "debug")),
    // The Go names that are not the YAML keys.
    (
        &[("REGISTRY_NOTIFICATIONS_EVENTCONFIG_INCLUDEREFERENCES", "true")],
        At("notifications.events.includereferences", "true"),
    ),
    (
        &[("REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES", "true")],
        Warning("distribution names `notifications.events` EVENTCONFIG"),
    ),
    (&[("REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES", "true")], Absent("notifications")),
    (&[("REGISTRY_HEALTH_FILECHECKERS_0_FILE", "/down")], At("health.file[0].file", "/down")),
    (&[("REGISTRY_HEALTH_HTTPCHECKERS_0_URI", "http://x/")], At("health.http[0].uri", "http://x/")),
    (&[("REGISTRY_HEALTH_TCPCHECKERS_0_ADDR", "db:5432")], At("health.tcp[0].addr", "db:5432")),
    (&[("REGISTRY_HEALTH_FILE_0_FILE", "/down")], Warning("FILECHECKERS")),
    (&[("REGISTRY_LOG_HOOKS_0_MAILOPTIONS_SMTP_ADDR", "mail:25")], At("log.hooks[0].options.smtp.addr", "mail:25")),
    (&[("REGISTRY_LOG_HOOKS_0_OPTIONS_SMTP_ADDR", "mail:25")], Warning("MAILOPTIONS")),
    (&[("REGISTRY_COMPATIBILITY_SCHEMA1_TRUSTKEY", "/k.json")], At("compatibility.schema1.signingkeyfile", "/k.json")),
    // redis's inlined go-redis options: with or without the struct's name.
    (&[("REGISTRY_REDIS_ADDRS", "[r1:6379, r2:6379]")], At("redis.addrs", "[r1:6379, r2:6379]")),
    (&[("REGISTRY_REDIS_OPTIONS_POOLSIZE", "10")], At("redis.poolsize", "10")),
    (&[("REGISTRY_REDIS_TLS_ROOTCAS_0", "/ca.pem")], At("redis.tls.rootcas", "[/ca.pem]")),
    // Go maps: every name below them lower-cased.
    (&[("REGISTRY_STORAGE_DELETE_ENABLED", "true")], At("storage.delete.enabled", "true")),
    (&[("REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE", "24h")], At("storage.maintenance.uploadpurging.age", "24h")),
    (&[("REGISTRY_STORAGE_S3_REGIONENDPOINT", "http://minio")], At("storage.s3.regionendpoint", "http://minio")),
    (&[("REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS", "[DENY]")], At("http.headers.x-frame-options", "[DENY]")),
    (
        &[("REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS", "[none]")],
        At("http.headers.X-Content-Type-Options", "[none]"),
    ),
    (&[("REGISTRY_LOG_FIELDS_ENVIRONMENT", "staging")], At("log.fields.environment", "staging")),
    (
        &[
            ("REGISTRY_MIDDLEWARE_STORAGE_0_NAME", "cloudfront"),
            ("REGISTRY_MIDDLEWARE_STORAGE_0_OPTIONS_BASEURL", "https://cdn/"),
        ],
        At("middleware.storage[0]", "name: cloudfront\noptions:\n  baseurl: https://cdn/\n"),
    ),
    (
        &[("REGISTRY_NOTIFICATIONS_ENDPOINTS_0_HEADERS_AUTHORIZATION", "[Bearer t]")],
        At("notifications.endpoints[0].headers.authorization", "[Bearer t]"),
    ),
    // A whole section, then its keys: lexical order, whatever the input order.
    (
        &[("REGISTRY_STORAGE_S3_BUCKET", "b"), ("REGISTRY_STORAGE", "s3"), ("REGISTRY_STORAGE_S3_REGION", "r")],
        At("storage", "{s3: {bucket: b, region: r}}"),
    ),
    (
        &[
            ("REGISTRY_AUTH_HTPASSWD_REALM", "Registry Realm"),
            ("REGISTRY_AUTH", "htpasswd"),
            ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
        ],
        At("auth", "{htpasswd: {path: /auth/htpasswd, realm: Registry Realm}}"),
    ),
    (&[("REGISTRY_HTTP", "{addr: ':6000'}")], At("http", "{addr: ':6000'}")),
    // The value is YAML.
    (&[("REGISTRY_HTTP_TLS_CLIENTCAS", "[/a.pem, /b.pem]")], At("http.tls.clientcas", "[/a.pem, /b.pem]")),
    (&[("REGISTRY_HTTP_SECRET", "")], At("http.secret", "~")),
    (&[("REGISTRY_HTTP_SECRET", "[unclosed")], Error("REGISTRY_HTTP_SECRET: \"[unclosed\" is not valid YAML")),
    // List indexes: replace, append at the end, refuse past it.
    (&[("REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_0", "b.example")], At("http.tls.letsencrypt.hosts", "[b.example]")),
    (
        &[("REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_1", "b.example")],
        At("http.tls.letsencrypt.hosts", "[a.example, b.example]"),
    ),
    (
        &[("REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_2", "b.example")],
        Error(
            "REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_2: cannot set `http.tls.letsencrypt.hosts[2]`: index 2 is past the end of a list of 1",
        ),
    ),
    (&[("REGISTRY_NOTIFICATIONS_ENDPOINTS_1_NAME", "x")], Error("index 1 is past the end of a list of 0")),
    (
        &[("REGISTRY_NOTIFICATIONS_ENDPOINTS_NAME", "x")],
        Error("REGISTRY_NOTIFICATIONS_ENDPOINTS_NAME: NAME is not a list index of `notifications.endpoints`"),
    ),
    // What is not an override.
    (&[("REGISTRY_VERSION", "0.2")], Warning("REGISTRY_VERSION is ignored")),
    (&[("REGISTRY_VERSION", "0.2")], At("version", "0.1")),
    (&[("REGISTRY_BOGUS", "1")], Warning("REGISTRY_BOGUS matches no configuration key")),
    (&[("REGISTRY_HTTP_ADDR_PORT", "1")], Warning("REGISTRY_HTTP_ADDR_PORT matches no configuration key")),
    (
        &[("REGISTRY_CONFIGURATION_PATH", "/etc/x.yml"), ("HOME", "/root"), ("registry_http_addr", "x")],
        At("http.addr", ":5000"),
    ),
];

/// The node at `a.b[0].c`.
fn at<'n>(tree: &'n Node, path: &str) -> Option<&'n Node> {
    path.split('.').try_fold(tree, |node, part| {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
            None => (part, None),
        };
        let node = node.get(key)?;
        match (index, node) {
            (None, _) => Some(node),
            (Some(i), Node::Seq(items)) => items.get(i),
            _ => None,
        }
    })
}

#[test]
fn the_rule_row_by_row() {
    for (i, (env, expect)) in ROWS.iter().enumerate() {
        let (mut tree, _) = tree::parse(BASE).unwrap();
        let mut p = section::Problems::default();
        rule::apply(&mut tree, &mut Config::blank(), vars(env), &mut p);
        let row = format!("row {i}: {env:?}");
        let errors: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
        match expect {
            At(path, yaml) => {
                assert!(errors.is_empty(), "{row}: {errors:?}");
                let want = tree::parse(yaml).unwrap().0;
                assert_eq!(at(&tree, path), Some(&want), "{row}");
            }
            Absent(path) => assert_eq!(at(&tree, path), None, "{row}"),
            Error(text) => assert!(errors.iter().any(|e| e.contains(text)), "{row}: {errors:?}"),
            Warning(text) => assert!(p.warnings.iter().any(|w| w.contains(text)), "{row}: {:?}", p.warnings),
        }
    }
}

#[test]
fn values_are_typed_like_the_file() {
    let c = read(
        BASE,
        &[
            ("REGISTRY_CATALOG_MAXENTRIES", "0100"),
            ("REGISTRY_HTTP_DRAINTIMEOUT", "60"),
            ("REGISTRY_STORAGE_DELETE_ENABLED", "yes"),
            ("REGISTRY_HTTP_SECRET", "0.10"),
            ("REGISTRY_HTTP_TLS_CERTIFICATE", "/c.pem"),
            ("REGISTRY_HTTP_TLS_KEY", "/k.pem"),
        ],
    );
    assert_eq!(c.catalog.maxentries, 64, "yaml.v2 reads 0100 as octal");
    assert_eq!(c.http.draintimeout, std::time::Duration::from_nanos(60), "a bare integer is nanoseconds");
    assert!(c.storage.delete.enabled);
    assert_eq!(c.http.secret.as_ref().map(Secret::expose), Some("0.10"));
    assert_eq!(c.http.tls.and_then(|t| t.key), Some("/k.pem".into()));
    assert_eq!(
        c.origin.variables,
        [
            "REGISTRY_CATALOG_MAXENTRIES",
            "REGISTRY_HTTP_DRAINTIMEOUT",
            "REGISTRY_HTTP_SECRET",
            "REGISTRY_HTTP_TLS_CERTIFICATE",
            "REGISTRY_HTTP_TLS_KEY",
            "REGISTRY_STORAGE_DELETE_ENABLED"
        ]
    );
}

#[test]
fn a_second_driver_from_the_environment_is_refused_as_in_distribution() {
    let errors = messages(Config::read(BASE, vars(&[("REGISTRY_STORAGE_S3_BUCKET", "b")])));
    assert!(errors.iter().any(|e| e.contains("more than one storage driver: filesystem, s3")), "{errors:?}");
    let c = read(
        BASE,
        &[("REGISTRY_STORAGE", "s3"), ("REGISTRY_STORAGE_S3_BUCKET", "b"), ("REGISTRY_STORAGE_S3_REGION", "r")],
    );
    assert!(matches!(c.storage.driver, StorageDriver::S3(_)));
}

#[test]
fn errors_name_the_variable_that_set_the_key() {
    let errors = messages(Config::read(BASE, vars(&[("REGISTRY_HTTP_DRAINTIMEOUT", "5 minutes")])));
    assert_eq!(
        errors,
        [
            "configuration key `http.draintimeout` (set by REGISTRY_HTTP_DRAINTIMEOUT): \"5 minutes\" is not a duration (such as 10s, 1h30m or 168h)"
        ]
    );
    let errors = messages(Config::read(BASE, vars(&[("REGISTRY_STORAGE_FILESYSTEM_ROOTDIR", "/x")])));
    assert_eq!(
        errors,
        ["unknown configuration key `storage.filesystem.rootdir` (set by REGISTRY_STORAGE_FILESYSTEM_ROOTDIR)"]
    );
}

#[test]
fn every_go_name_quirk_is_a_field() {
    for (section, key, go) in rule::GO_NAMES {
        let var = format!("REGISTRY_{}_{}", section.replace("[]", "_0").replace('.', "_"), go).to_ascii_uppercase();
        let (mut tree, _) = tree::parse(BASE).unwrap();
        let mut p = section::Problems::default();
        rule::apply(&mut tree, &mut Config::blank(), vars(&[(&var, "x")]), &mut p);
        let path = format!("{}.{key}", section.replace("[]", "[0]"));
        assert!(at(&tree, &path).is_some(), "{var} → {path}: {:?} {:?}", p.warnings, p.errors);
    }
}
