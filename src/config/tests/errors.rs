//! Bad configurations: every problem is reported, each naming the key and
//! the value.

use super::*;

const STORAGE: &str = "version: 0.1\nstorage:\n  inmemory:\n";

fn errors_of(extra: &str) -> Vec<String> {
    messages(Config::read(&format!("{STORAGE}{extra}"), Vec::new()))
}

#[test]
fn bad_values_name_the_key_and_the_value() {
    let cases = [
        (
            "http:\n  draintimeout: 5 minutes\n",
            "configuration key `http.draintimeout`: \"5 minutes\" is not a duration (such as 10s, 1h30m or 168h)",
        ),
        (
            "storage:\n  inmemory:\n  delete: {enabled: maybe}\n",
            "configuration key `storage.delete.enabled`: \"maybe\" is not a boolean (true or false)",
        ),
        ("catalog: {maxentries: lots}\n", "configuration key `catalog.maxentries`: \"lots\" is not an integer"),
        (
            "log: {level: verbose}\n",
            "configuration key `log.level`: \"verbose\" is not one of error, warn, info, debug",
        ),
        ("log: {formatter: xml}\n", "configuration key `log.formatter`: \"xml\" is not one of text, json, logstash"),
        ("http: {secret: [a, b]}\n", "configuration key `http.secret`: must be a single value, not a list"),
        (
            "http: {headers: {X-A: [a, {b: c}]}}\n",
            "configuration key `http.headers`: X-A: item 1: must be a single value, not a mapping",
        ),
        ("http: 5000\n", "configuration key `http`: must be a mapping, not a scalar"),
        (
            "http: {prefix: registry/}\n",
            "configuration key `http.prefix`: \"registry/\" must start with / (such as /registry/)",
        ),
        (
            "http: {host: registry.example.com}\n",
            "configuration key `http.host`: \"registry.example.com\" is not an absolute URL",
        ),
        ("http: {net: udp}\n", "configuration key `http.net`: \"udp\" is not one of tcp, unix"),
        ("http: {tls: {certificate: /c.pem}}\n", "configuration key `http.tls.key`: is required with certificate"),
        (
            "http: {tls: {minimumtls: tls1.2}}\n",
            "configuration key `http.tls`: set certificate and key (or letsencrypt) to serve HTTPS",
        ),
        (
            "http: {tls: {certificate: /c, key: /k, minimumtls: ssl3}}\n",
            "configuration key `http.tls.minimumtls`: \"ssl3\" is not one of tls1.0, tls1.1, tls1.2, tls1.3",
        ),
        (
            "http: {tls: {certificate: /c, key: /k, clientauth: always}}\n",
            "configuration key `http.tls.clientauth`: \"always\" is not one of request-client-cert",
        ),
        (
            "http: {tls: {certificate: /c, key: /k, ciphersuites: [TLS_FAST]}}\n",
            "configuration key `http.tls.ciphersuites`: \"TLS_FAST\" is not a cipher suite Go knows",
        ),
        (
            "http: {tls: {letsencrypt: {email: a@b}}}\n",
            "configuration key `http.tls.letsencrypt.cachefile`: is required",
        ),
        ("auth: {htpasswd: {realm: r}}\n", "configuration key `auth.htpasswd.path`: is required"),
        ("auth: {silly: {realm: r}}\n", "configuration key `auth.silly.service`: is required"),
        (
            "auth: {token: {realm: r, service: s, rootcertbundle: /b}}\n",
            "configuration key `auth.token.issuer`: is required",
        ),
        (
            "auth: {token: {realm: r, service: s, issuer: i}}\n",
            "configuration key `auth.token.rootcertbundle`: is required",
        ),
        (
            "auth: {token: {realm: r, service: s, issuer: i, jwks: /j, signingalgorithms: [none]}}\n",
            "configuration key `auth.token.signingalgorithms`: \"none\" is not one of EdDSA",
        ),
        (
            "auth: {htpasswd: {realm: r, path: /p}, silly: {realm: r, service: s}}\n",
            "configuration key `auth`: more than one auth provider: silly, htpasswd",
        ),
        ("auth: {}\n", "configuration key `auth`: name one auth provider (silly, token, htpasswd, none)"),
        (
            "notifications: {endpoints: [{name: n}]}\n",
            "configuration key `notifications.endpoints[0].url`: is required",
        ),
        (
            "notifications: {endpoints: [{name: n, url: u, ignore: {actions: [fetch]}}]}\n",
            "configuration key `notifications.endpoints[0].ignore.actions`: \"fetch\" is not one of pull, push, delete, mount",
        ),
        (
            "notifications: {endpoints: {name: n}}\n",
            "configuration key `notifications.endpoints`: must be a list, not a mapping",
        ),
        ("proxy: {username: u}\n", "configuration key `proxy.remoteurl`: is required"),
        (
            "validation: {manifests: {indexes: {platforms: some}}}\n",
            "configuration key `validation.manifests.indexes.platforms`: \"some\" is not one of all, none, list",
        ),
        (
            "storage: {cache: {blobdescriptor: memcached}, inmemory: }\n",
            "configuration key `storage.cache.blobdescriptor`: \"memcached\" is not one of inmemory, redis",
        ),
        (
            "berth: {limits: {maxheaderbytes: 1024}}\n",
            "configuration key `berth.limits.maxheaderbytes`: must be at least 8192",
        ),
        (
            "berth: {limits: {manifestsize: 0}}\n",
            "configuration key `berth.limits.manifestsize`: must be greater than 0",
        ),
        (
            "berth: {limits: {clientmemory: 1048576}}\n",
            "configuration key `berth.limits.clientmemory`: must be at least manifestsize (4194304 bytes)",
        ),
        (
            "berth: {limits: {headertimeout: soon}}\n",
            "configuration key `berth.limits.headertimeout`: \"soon\" is not a duration",
        ),
        (
            "berth: {retention: {policies: [{tags: x, keeplatest: 1}]}}\n",
            "configuration key `berth.retention.policies[0].repository`: is required",
        ),
        (
            "berth: {retention: {policies: [{repository: 'a/[b', keeplatest: 1}]}}\n",
            "configuration key `berth.retention.policies[0].repository`: ",
        ),
        (
            "berth: {retention: {policies: [{repository: '**', tags: 'v(1', keeplatest: 1}]}}\n",
            "configuration key `berth.retention.policies[0].tags`: ",
        ),
        (
            "berth: {retention: {policies: [{repository: '**', keeptags: [ok, 'no tag'], keeplatest: 1}]}}\n",
            "configuration key `berth.retention.policies[0].keeptags`: \"no tag\" is not a valid tag",
        ),
        (
            "berth: {retention: {policies: [{repository: '**', keepwithin: 'a week'}]}}\n",
            "configuration key `berth.retention.policies[0].keepwithin`: \"a week\" is not a duration",
        ),
    ];
    for (extra, want) in cases {
        let errors = errors_of(extra);
        assert!(errors.iter().any(|e| e.starts_with(want)), "{extra}\nwant: {want}\ngot: {errors:?}");
    }
}

#[test]
fn storage_drivers_check_their_parameters() {
    let cases = [
        ("storage: {s3: {region: r}}\n", "configuration key `storage.s3.bucket`: is required"),
        ("storage: {s3: {bucket: b}}\n", "configuration key `storage.s3.region`: is required"),
        (
            "storage: {s3: {bucket: b, region: r, chunksize: 1024}}\n",
            "configuration key `storage.s3.chunksize`: 1024 is below",
        ),
        (
            "storage: {filesystem: {maxthreads: 5}}\n",
            "configuration key `storage.filesystem.maxthreads`: 5 is below the minimum, 25",
        ),
        (
            "storage: {gcs: {bucket: b, chunksize: 1000}}\n",
            "configuration key `storage.gcs.chunksize`: 1000 is not a multiple of 262144",
        ),
        ("storage: {azure: {accountname: a}}\n", "configuration key `storage.azure.container`: is required"),
        ("storage: {swift: {container: c}}\n", "configuration key `storage.swift.authurl`: is required"),
        ("storage: {oss: {bucket: b}}\n", "configuration key `storage.oss.region`: is required"),
        (
            "storage: {inmemory: , filesystem: }\n",
            "configuration key `storage`: more than one storage driver: filesystem, inmemory",
        ),
        ("storage: {delete: {enabled: true}}\n", "configuration key `storage`: name one storage driver"),
        ("storage: rados\n", "unknown configuration key `storage.rados`"),
    ];
    for (extra, want) in cases {
        let errors = messages(Config::read(&format!("version: 0.1\n{extra}"), Vec::new()));
        assert!(errors.iter().any(|e| e.starts_with(want)), "{extra}\nwant: {want}\ngot: {errors:?}");
    }
}

#[test]
fn unknown_keys_are_refused_anywhere() {
    let errors = errors_of(
        "http: {adr: x}\nbogus: 1\nnotifications: {endpoints: [{name: n, url: u, uri: v}]}\nauth: {htpasswd: {realm: r, path: /p, users: x}}\n",
    );
    assert_eq!(
        errors,
        [
            "unknown configuration key `auth.htpasswd.users`",
            "unknown configuration key `http.adr`",
            "unknown configuration key `notifications.endpoints[0].uri`",
            "unknown configuration key `bogus`",
        ]
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let result = Config::parse(
        "version: 0.1\nstorage: {inmemory: }\nhttp:\n  draintimeout: soon\n  tls: {certificate: /c}\nproxy: {remoteurl: 'https://registry-1.docker.io', remotenamespace: library}\nredis: {addr: 'localhost:6379', tls: {enabled: true}}\nlog: {level: loud}\n",
    );
    let errors = messages(result);
    assert_eq!(errors.len(), 5, "{errors:#?}");
    for key in [
        "log.level",
        "http.draintimeout",
        "http.tls.key",
        "`proxy.remotenamespace` is not supported",
        "`redis.tls` is not",
    ] {
        assert!(errors.iter().any(|e| e.contains(key)), "{key}: {errors:#?}");
    }
}

#[test]
fn unsupported_keys_stop_loading_and_warn_keys_warn() {
    let base = "version: 0.1\nstorage: {inmemory: {}}\n";
    let errors = messages(Config::parse(&format!("{base}redis: {{addr: 'localhost:6379', mastername: m}}\n")));
    assert_eq!(errors, ["configuration key `redis.mastername` is not supported by berth yet"]);
    let c = Config::parse(&format!("{base}redis: {{addr: 'localhost:6379', pool: {{maxidle: 16}}}}\n")).unwrap();
    assert_eq!(c.warnings, ["configuration key `redis.pool` has no effect in berth yet"]);
    let errors = messages(Config::parse("version: 0.1\nstorage: {gcs: {bucket: b}}\n"));
    assert_eq!(errors, ["configuration key `storage.gcs` is not supported by berth yet"]);
    assert!(Config::parse("version: 0.1\nstorage: {s3: {bucket: b, region: r}}\n").is_ok());
    let c = Config::parse("version: 0.1\nstorage: {inmemory: {}, cache: {blobdescriptor: inmemory}}\nauth:\n").unwrap();
    assert_eq!(c.warnings, ["configuration key `storage.cache.blobdescriptor` has no effect in berth yet"]);
    assert!(Config::read(&format!("{base}redis: {{addr: 'localhost:6379'}}\n"), Vec::new()).is_ok());
}

#[test]
fn a_redis_blob_cache_needs_the_redis_section() {
    let base = "version: 0.1\nstorage: {inmemory: {}, cache: {blobdescriptor: redis}}\n";
    let errors = messages(Config::parse(base));
    assert_eq!(errors, ["configuration key `storage.cache.blobdescriptor`: redis needs the `redis` section"]);
    let c = Config::parse(&format!("{base}redis: {{addr: 'localhost:6379'}}\n")).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let old_name = "version: 0.1\nstorage: {inmemory: {}, cache: {layerinfo: redis}}\n";
    assert_eq!(messages(Config::parse(old_name)).len(), 1);
}

#[test]
fn the_version() {
    let errors = messages(Config::parse("version: 0.2\nstorage: {inmemory: }\n"));
    assert_eq!(errors, ["configuration key `version`: \"0.2\" is not supported; the only version is 0.1"]);
    assert!(messages(Config::parse("version: [0.1]\nstorage: {inmemory: }\n"))[0].contains("must be 0.1, not a list"));
    let c = Config::parse("storage: {inmemory: }\n").unwrap();
    assert_eq!(c.warnings, ["configuration key `version` is missing; reading the file as version 0.1"]);
    assert!(Config::parse("version: '0.1'\nstorage: {inmemory: }\n").is_ok());
}

#[test]
fn files_that_are_not_a_configuration() {
    for (text, want) in [
        ("", "configuration key `storage`: is required"),
        ("version: 0.1\n", "configuration key `storage`: is required"),
        ("- a\n", "parsing configuration: the configuration must be a mapping, not a list"),
        ("version: 0.1\nstorage: [\n", "parsing configuration:"),
    ] {
        let errors = messages(Config::parse(text));
        assert!(errors[0].starts_with(want), "{text:?}: {errors:?}");
    }
}

#[test]
fn tls_below_1_2_is_read_as_1_2_with_a_warning() {
    let c = Config::read(
        &format!("{STORAGE}http: {{tls: {{certificate: /c, key: /k, minimumtls: tls1.0}}}}\n"),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(c.http.tls.map(|t| t.minimumtls), Some(MinimumTls::Tls12));
    assert!(c.warnings.iter().any(|w| w.contains("tls1.0 is below berth's minimum")), "{:?}", c.warnings);
}

#[test]
fn repeated_keys_warn() {
    let c = Config::read(&format!("{STORAGE}http: {{addr: ':1'}}\nhttp: {{addr: ':2'}}\n"), Vec::new()).unwrap();
    assert_eq!(c.http.addr, ":2");
    assert!(c.warnings.iter().any(|w| w.contains("key `http` is repeated")), "{:?}", c.warnings);
}

#[test]
fn retention_policies_get_defaults_and_warnings() {
    let text = "version: 0.1\nstorage: {inmemory: }\nberth:\n  retention:\n    interval: 24h\n    policies:\n      \
                - {repository: 'app/*', keeplatest: 5, keepwithin: 720h, keeptags: [latest]}\n      \
                - {name: noop, repository: '**'}\n";
    let c = read(text, &[]);
    let r = &c.berth.retention;
    assert_eq!(r.interval, std::time::Duration::from_secs(86_400));
    let first = &r.policies[0];
    assert_eq!((first.name.as_str(), first.tags.as_str(), first.keeplatest), ("berth.retention.policies[0]", ".*", 5));
    assert_eq!(first.keeptags, ["latest"]);
    assert_eq!(
        c.warnings,
        ["configuration key `berth.retention.policies[1]` removes nothing: it sets none of keeplatest, keepwithin, \
          untaggedgrace"]
    );
    let c = read("version: 0.1\nstorage: {inmemory: }\nberth: {retention: {interval: 1h}}\n", &[]);
    assert_eq!(c.warnings, ["configuration key `berth.retention.interval` is set but there are no policies"]);
    let text =
        "version: 0.1\nstorage: {inmemory: }\nberth: {retention: {policies: [{repository: a, untaggedgrace: 10m}]}}\n";
    let c = read(text, &[]);
    assert_eq!(
        c.warnings,
        [
            "configuration key `berth.retention.policies[0].untaggedgrace` (10m0s) is shorter than berth.gc.grace (1h0m0s): \
          a push that reuses an untagged manifest while retention runs may lose it"
        ]
    );
}

#[test]
fn immutable_rules_are_checked_and_named() {
    let errors =
        errors_of("berth:\n  tags:\n    immutable:\n      - repository: 'a/[b'\n        tags: '('\n      - tags: v1\n");
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("configuration key `berth.tags.immutable[0].repository`"), "{errors:?}");
    assert!(errors[1].starts_with("configuration key `berth.tags.immutable[0].tags`"), "{errors:?}");
    assert!(errors[2].contains("`berth.tags.immutable[1].repository`: is required"), "{errors:?}");
    let config = Config::read(&format!("{STORAGE}berth:\n  tags:\n    immutable:\n      - {{repository: '**', tags: v1}}\n      - {{name: rel, repository: a, tags: v2}}\n"), Vec::new()).unwrap();
    let names: Vec<&str> = config.berth.tags.immutable.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["berth.tags.immutable[0]", "rel"]);
}
