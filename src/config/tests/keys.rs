//! Every key of distribution's 2.8 and 3.x references lands in the typed
//! configuration with its value, and what is unset keeps distribution's
//! default.

use std::{path::PathBuf, time::Duration};

use super::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn distribution_2_8_reference() {
    let c = read(&fixture("full-2.8.yml"), &[]);
    assert_eq!(c.version, "0.1");
    assert!(c.log.accesslog.disabled);
    assert_eq!(c.log.level, LogLevel::Debug);
    assert_eq!(c.loglevel, Some(LogLevel::Debug));
    assert_eq!(c.log.formatter, Formatter::Text);
    assert_eq!(c.log.fields["environment"], "staging");
    let hook = &c.log.hooks[0];
    assert_eq!((hook.kind.as_str(), hook.disabled, hook.levels.as_slice()), ("mail", true, &["panic".to_owned()][..]));
    assert_eq!(hook.options.smtp.addr, "mail.example.com:25");
    assert_eq!(hook.options.smtp.password.as_ref().map(Secret::expose), Some("password"));
    assert!(hook.options.smtp.insecure);
    assert_eq!(hook.options.to, ["errors@example.com"]);

    let StorageDriver::Filesystem(fs) = &c.storage.driver else { panic!("{:?}", c.storage.driver) };
    assert_eq!((fs.rootdirectory.as_path(), fs.maxthreads), (PathBuf::from("/var/lib/registry").as_path(), 100));
    assert_eq!(c.storage.cache.blobdescriptor, Some(BlobDescriptorCache::Redis));
    assert_eq!(c.storage.maintenance.uploadpurging.age, secs(168 * 3600));
    assert_eq!(c.storage.maintenance.uploadpurging.interval, secs(24 * 3600));
    assert!(!c.storage.maintenance.readonly.enabled);

    let Some(Auth::Token { realm, issuer, rootcertbundle, autoredirect, autoredirectpath, .. }) = &c.auth else {
        panic!("{:?}", c.auth)
    };
    assert_eq!((realm.as_str(), issuer.as_str()), ("token-realm", "registry-token-issuer"));
    assert_eq!(rootcertbundle.as_deref(), Some(std::path::Path::new("/root/certs/bundle")));
    assert!(*autoredirect);
    assert_eq!(autoredirectpath, "/auth/token/", "default");

    assert_eq!(c.middleware.storage.len(), 2);
    assert_eq!(c.middleware.storage[0].options["duration"].text(), Some("3000s"));
    assert_eq!(c.middleware.registry[0].options["foo"].text(), Some("bar"));
    assert_eq!(c.reporting.bugsnag.apikey.as_ref().map(Secret::expose), Some("bugsnagapikey"));
    assert!(c.reporting.newrelic.verbose);

    let h = &c.http;
    assert_eq!((h.addr.as_str(), h.prefix.as_str()), ("localhost:5000", "/my/nested/registry/"));
    assert_eq!(h.host.as_deref(), Some("https://myregistryaddress.org:5000"));
    assert_eq!(h.secret.as_ref().map(Secret::expose), Some("asecretforlocaldevelopment"));
    assert_eq!(h.draintimeout, secs(60));
    let tls = h.tls.as_ref().expect("tls");
    assert_eq!(tls.clientcas.len(), 2);
    assert_eq!(tls.clientauth, ClientAuth::RequireAndVerifyClientCert, "default");
    assert_eq!(tls.minimumtls, MinimumTls::Tls12);
    assert_eq!(tls.letsencrypt.as_ref().map(|l| l.hosts.clone()), Some(vec!["myregistryaddress.org".to_owned()]));
    assert_eq!(h.debug.addr.as_deref(), Some("localhost:5001"));
    assert!(h.debug.prometheus.enabled);
    assert_eq!(h.headers["X-Content-Type-Options"], ["nosniff"]);

    assert!(c.notifications.events.includereferences);
    let e = &c.notifications.endpoints[0];
    assert_eq!((e.name.as_str(), e.timeout, e.threshold, e.backoff), ("alistener", secs(1), 10, secs(1)));
    assert_eq!(e.headers["Authorization"], ["Bearer alistenertoken"]);
    assert_eq!(e.ignore.actions, ["pull"]);

    let redis = c.redis.as_ref().expect("redis");
    assert_eq!(redis.addr.as_deref(), Some("localhost:6379"));
    assert_eq!(redis.dialtimeout, Duration::from_millis(10));
    assert_eq!((redis.pool.maxidle, redis.pool.maxactive, redis.pool.idletimeout), (16, 64, secs(300)));

    assert_eq!(c.health.storagedriver.threshold, 3);
    assert_eq!(c.health.file[0].file, "/path/to/checked/file");
    assert_eq!((c.health.http[0].statuscode, c.health.http[0].timeout), (200, secs(3)));
    assert_eq!(c.health.tcp[0].addr, "redis-server.domain.com:6379");

    let proxy = c.proxy.as_ref().expect("proxy");
    assert_eq!((proxy.remoteurl.as_str(), proxy.ttl), ("https://registry-1.docker.io", secs(168 * 3600)));
    assert_eq!(proxy.password.as_ref().map(Secret::expose), Some("hubpassword"));
    assert_eq!(c.compatibility.schema1.signingkeyfile, Some(PathBuf::from("/etc/registry/key.json")));
    assert!(c.compatibility.schema1.enabled);
    assert!(c.validation.enabled);
    assert_eq!(c.validation.manifests.urls.deny, [r"^https?://www\.example\.com/"]);
    assert_eq!(c.policy.repository.classes, ["image", "plugin"]);
    assert_eq!(c.catalog.maxentries, 100);
    assert_eq!(c.tags.maxtags, 1000, "default");
}

#[test]
fn distribution_3_reference() {
    let c = read(&fixture("full-3.yml"), &[]);
    assert_eq!(c.log.formatter, Formatter::Json);
    assert!(c.log.reportcaller);
    let StorageDriver::S3(s3) = &c.storage.driver else { panic!("{:?}", c.storage.driver) };
    assert_eq!(s3.accesskey.as_ref().map(Secret::expose), Some("awsaccesskey"));
    assert_eq!((s3.region.as_str(), s3.bucket.as_str()), ("us-west-1", "bucketname"));
    assert!(s3.forcepathstyle && s3.encrypt && s3.secure && s3.v4auth && !s3.accelerate);
    assert_eq!((s3.chunksize, s3.multipartcopychunksize, s3.multipartcopymaxconcurrency), (5242880, 33554432, 100));
    assert_eq!((s3.objectacl.as_str(), s3.loglevel.as_str()), ("bucket-owner-full-control", "debug"));
    assert_eq!(c.storage.tag.concurrencylimit, 8);
    assert!(c.storage.delete.enabled && c.storage.redirect.disable);
    assert_eq!(c.storage.cache.blobdescriptorsize, 0);
    let purging = &c.storage.maintenance.uploadpurging;
    assert_eq!((purging.enabled, purging.age, purging.interval, purging.dryrun), (false, secs(5400), secs(1800), true));
    assert!(c.storage.maintenance.readonly.enabled);

    let Some(Auth::Token { jwks, signingalgorithms, autoredirectpath, .. }) = &c.auth else { panic!("{:?}", c.auth) };
    assert_eq!(jwks.as_deref(), Some(std::path::Path::new("/path/to/jwks")));
    assert_eq!(signingalgorithms, &["EdDSA", "HS256", "ES512"]);
    assert_eq!(autoredirectpath, "/token/");
    assert!(c.middleware.repository[0].disabled);
    assert_eq!(c.middleware.storage[2].options["trimpathprefix"].text(), Some("/prefix"));

    let tls = c.http.tls.as_ref().expect("tls");
    assert_eq!((tls.clientauth, tls.minimumtls), (ClientAuth::VerifyClientCertIfGiven, MinimumTls::Tls13));
    assert_eq!(tls.ciphersuites.len(), 2);
    let acme = tls.letsencrypt.as_ref().expect("letsencrypt");
    assert_eq!(acme.directoryurl.as_deref(), Some("https://acme-v02.api.letsencrypt.org/directory"));
    assert!(c.http.relativeurls && c.http.http2.disabled && c.http.h2c.enabled);
    assert_eq!(c.http.net, Net::Tcp);

    let redis = c.redis.as_ref().expect("redis");
    assert_eq!(redis.addrs, ["localhost:6379"]);
    assert_eq!((redis.protocol, redis.poolsize, redis.maxactiveconns), (3, 64, 128));
    assert_eq!(redis.sentinelpassword.as_ref().map(Secret::expose), Some("sentinelsecret"));
    assert_eq!((redis.minretrybackoff, redis.connmaxlifetime), (Duration::from_millis(8), secs(3600)));
    assert!(redis.readonly && redis.routebylatency && redis.disableidentity && !redis.routerandomly);
    assert_eq!(redis.mastername, "mymaster");
    assert_eq!(redis.tls.certificate, Some(PathBuf::from("/path/to/cert.crt")));
    assert_eq!((redis.tls.clientcas.len(), redis.tls.rootcas.len()), (1, 1));
    assert_eq!(c.health.file[0].threshold, 2);

    let proxy = c.proxy.as_ref().expect("proxy");
    let exec = proxy.exec.as_ref().expect("exec");
    assert_eq!((exec.command.as_str(), exec.lifetime), ("docker-credential-helper", Some(secs(3600))));
    assert_eq!((proxy.cachewritetimeout, proxy.remotenamespace.as_deref()), (secs(120), Some("namespace")));
    assert_eq!(c.validation.manifests.indexes.platforms, Platforms::List);
    let platform = &c.validation.manifests.indexes.platformlist[0];
    assert_eq!((platform.architecture.as_str(), platform.os.as_str()), ("amd64", "linux"));
    assert_eq!((c.catalog.maxentries, c.tags.maxtags), (200, 300));
}

#[test]
fn the_other_storage_drivers() {
    let c = read(&fixture("drivers/azure.yml"), &[]);
    let StorageDriver::Azure(az) = &c.storage.driver else { panic!("{:?}", c.storage.driver) };
    assert_eq!((az.container.as_str(), az.realm.as_str()), ("containername", "core.chinacloudapi.cn"));
    assert_eq!(az.credentials.as_ref().map(|c| c.kind.as_str()), Some("client_secret"));
    assert_eq!((az.max_retries, az.retry_delay), (10, Duration::from_millis(100)));
    assert_eq!((az.copy_status_poll_max_retry, az.copy_status_poll_delay), (-1, Duration::from_millis(200)));

    let c = read(&fixture("drivers/gcs.yml"), &[]);
    let StorageDriver::Gcs(gcs) = &c.storage.driver else { panic!("{:?}", c.storage.driver) };
    assert_eq!(gcs.credentials["client_email"].text(), Some("client@example.com"));
    assert_eq!((gcs.chunksize, gcs.maxconcurrency, gcs.disablekeepalives), (5242880, 25, true));

    let c = read(&fixture("drivers/swift.yml"), &[]);
    let StorageDriver::Swift(swift) = &c.storage.driver else { panic!("{:?}", c.storage.driver) };
    assert_eq!((swift.authversion, swift.endpointtype.as_str()), (3, "internal"));
    assert_eq!(swift.tempurlmethods, ["GET", "PUT"]);
    assert!(swift.insecureskipverify && swift.tempurlcontainerkey);

    let c = read(&fixture("drivers/oss.yml"), &[]);
    let StorageDriver::Oss(oss) = &c.storage.driver else { panic!("{:?}", c.storage.driver) };
    assert_eq!(oss.accesskeysecret.as_ref().map(Secret::expose), Some("accesskeysecret"));
    assert!(oss.internal && oss.encrypt && !oss.secure);

    let c = read("version: 0.1\nstorage: inmemory\n", &[]);
    assert_eq!(c.storage.driver, StorageDriver::InMemory);
}

#[test]
fn the_other_auth_providers() {
    let storage = "version: 0.1\nstorage: {inmemory: }\n";
    let c = read(&format!("{storage}auth:\n  htpasswd:\n    realm: basic-realm\n    path: /path/to/htpasswd\n"), &[]);
    assert_eq!(c.auth, Some(Auth::Htpasswd { realm: "basic-realm".into(), path: "/path/to/htpasswd".into() }));
    let c = read(&format!("{storage}auth:\n  silly:\n    realm: silly-realm\n    service: silly-service\n"), &[]);
    assert_eq!(c.auth, Some(Auth::Silly { realm: "silly-realm".into(), service: "silly-service".into() }));
    assert_eq!(read(&format!("{storage}auth:\n  none:\n"), &[]).auth, Some(Auth::None));
    assert_eq!(read(&format!("{storage}auth: none\n"), &[]).auth, Some(Auth::None));
    assert_eq!(read(storage, &[]).auth, None);
}

#[test]
fn unset_keys_take_distribution_defaults() {
    let c = read("version: 0.1\nstorage:\n  filesystem:\n", &[]);
    let StorageDriver::Filesystem(fs) = &c.storage.driver else { panic!("{:?}", c.storage.driver) };
    assert_eq!((fs.rootdirectory.to_str(), fs.maxthreads), (Some("/var/lib/registry"), 100));
    assert_eq!((c.log.level, c.log.formatter), (LogLevel::Info, Formatter::Text));
    assert_eq!((c.http.addr.as_str(), c.addr.as_str()), (":5000", "0.0.0.0:5000"));
    assert_eq!((c.http.net, c.http.draintimeout, c.http.secret.clone()), (Net::Tcp, Duration::ZERO, None));
    assert_eq!(c.http.debug.prometheus.path, "/metrics");
    assert!(c.storage.maintenance.uploadpurging.enabled);
    assert_eq!(c.storage.cache.blobdescriptorsize, 10_000);
    assert_eq!((c.catalog.maxentries, c.tags.maxtags), (1000, 1000));
    assert_eq!(c.health.storagedriver.interval, secs(10));
    assert_eq!(c.validation.manifests.indexes.platforms, Platforms::All);
    assert!(c.auth.is_none() && c.redis.is_none() && c.proxy.is_none() && c.http.tls.is_none());

    let c = read("version: 0.1\nstorage: {s3: {bucket: b, region: r}}\nproxy: {remoteurl: https://r}\n", &[]);
    let StorageDriver::S3(s3) = &c.storage.driver else { panic!("{:?}", c.storage.driver) };
    assert_eq!((s3.chunksize, s3.storageclass.as_str(), s3.objectacl.as_str()), (10 << 20, "STANDARD", "private"));
    assert!(s3.secure && s3.v4auth);
    assert_eq!(c.proxy.map(|p| (p.ttl, p.cachewritetimeout)), Some((secs(168 * 3600), secs(300))));
}

#[test]
fn zero_values_become_distribution_defaults() {
    let c = read(
        "version: 0.1\nstorage: {inmemory: }\ncatalog: {maxentries: 0}\ntags: {maxtags: -5}\nloglevel: warn\nnotifications:\n  endpoints:\n    - {name: n, url: u, timeout: 0, threshold: 0}\nhealth:\n  http: [{uri: u, statuscode: 0, interval: 0}]\n",
        &[],
    );
    assert_eq!((c.catalog.maxentries, c.tags.maxtags), (1000, 1000));
    assert_eq!(c.log.level, LogLevel::Warn, "loglevel stands in for log.level");
    assert_eq!((c.notifications.endpoints[0].timeout, c.notifications.endpoints[0].threshold), (secs(1), 10));
    assert_eq!((c.health.http[0].statuscode, c.health.http[0].interval), (200, secs(10)));
    let c =
        read("version: 0.1\nstorage: {inmemory: }\nlog: {level: error}\nloglevel: debug\nhttp: {secret: ''}\n", &[]);
    assert_eq!(c.log.level, LogLevel::Error, "log.level wins over loglevel");
    assert_eq!(c.http.secret, None, "an empty secret is no secret");
}

#[test]
fn yaml_1_1_scalars_as_yaml_v2_reads_them() {
    let c = read(
        "version: 0.1\nstorage:\n  inmemory:\n  delete: {enabled: yes}\nhttp:\n  secret: 12345\n  relativeurls: on\n  headers:\n    X-Flag: [yes]\n    X-Num: 0.10\nlog:\n  level: DEBUG\n  fields: {build: 007}\n",
        &[],
    );
    assert!(c.storage.delete.enabled && c.http.relativeurls);
    assert_eq!(c.http.secret.as_ref().map(Secret::expose), Some("12345"));
    assert_eq!(c.http.headers["X-Flag"], ["yes"]);
    assert_eq!(c.http.headers["X-Num"], ["0.10"]);
    assert_eq!(c.log.level, LogLevel::Debug);
    assert_eq!(c.log.fields["build"], "007");
    let c = read(
        "version: 0.1\nstorage: {inmemory: }\nhttp: {draintimeout: 1500000000}\ncatalog: {maxentries: 0x10}\n",
        &[],
    );
    assert_eq!(c.http.draintimeout, Duration::from_millis(1500), "a bare integer is nanoseconds");
    assert_eq!(c.catalog.maxentries, 16);
}

/// Every key the references use is classified in `schema::KEYS`.
#[test]
fn every_reference_key_is_classified() {
    fn unclassified(node: &Node, path: &mut Vec<String>, out: &mut Vec<String>) {
        let key: Vec<&str> = path.iter().map(String::as_str).collect();
        if schema::support(&key).is_some() {
            return;
        }
        match node {
            Node::Map(entries) => {
                for (k, v) in entries {
                    path.push(k.clone());
                    unclassified(v, path, out);
                    path.pop();
                }
            }
            _ => out.push(key.join(".")),
        }
    }
    for name in
        ["full-2.8.yml", "full-3.yml", "drivers/azure.yml", "drivers/gcs.yml", "drivers/swift.yml", "drivers/oss.yml"]
    {
        let (tree, _) = tree::parse(&fixture(name)).unwrap();
        let mut out = Vec::new();
        unclassified(&tree, &mut Vec::new(), &mut out);
        assert!(out.is_empty(), "{name}: {out:?}");
    }
}

/// `config check`'s YAML reads back as the same configuration.
#[test]
fn printed_configuration_reads_back() {
    for name in ["full-2.8.yml", "full-3.yml", "drivers/azure.yml", "drivers/gcs.yml"] {
        let c = read(&fixture(name), &[]);
        let printed = c.to_yaml();
        let again = read(&printed, &[]);
        assert_eq!(again.to_yaml(), printed, "{name}");
        for secret in
            ["asecretforlocaldevelopment", "awssecretkey", "hubpassword", "alistenertoken", "private_key_string"]
        {
            assert!(!printed.contains(secret), "{name} shows {secret}:\n{printed}");
        }
    }
}
