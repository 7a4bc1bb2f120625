//! `storage`: exactly one driver, plus `delete`, `redirect`, `cache`,
//! `maintenance` and `tag`.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use crate::config::{
    section::{Choice, Problems, Section, Visitor},
    tree::{KeyPath, Node},
    value::{Secret, keywords},
};

const MIB: u64 = 1024 * 1024;

/// `storage`.
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    /// The driver: the one key of `storage` that is not an option below.
    pub driver: StorageDriver,
    /// `storage.delete`.
    pub delete: Delete,
    /// `storage.redirect`.
    pub redirect: Redirect,
    /// `storage.cache`.
    pub cache: Cache,
    /// `storage.maintenance`.
    pub maintenance: Maintenance,
    /// `storage.tag` (3.x).
    pub tag: Tag,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            driver: StorageDriver::Filesystem(Filesystem::default()),
            delete: Delete::default(),
            redirect: Redirect::default(),
            cache: Cache::default(),
            maintenance: Maintenance::default(),
            tag: Tag::default(),
        }
    }
}

impl Section for Storage {
    const GO_MAP: bool = true;

    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.choice(&mut self.driver);
        v.section("delete", &mut self.delete);
        v.section("redirect", &mut self.redirect);
        v.section("cache", &mut self.cache);
        v.section("maintenance", &mut self.maintenance);
        v.section("tag", &mut self.tag);
    }
}

/// The storage driver and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageDriver {
    /// `filesystem`.
    Filesystem(Filesystem),
    /// `inmemory`: no parameters; for tests.
    InMemory,
    /// `s3`.
    S3(S3),
    /// `azure`.
    Azure(Azure),
    /// `gcs`.
    Gcs(Gcs),
    /// `swift` (2.8 only).
    Swift(Swift),
    /// `oss` (2.8 only).
    Oss(Oss),
}

impl StorageDriver {
    /// The driver's key in `storage`.
    pub fn name(&self) -> &'static str {
        match self {
            StorageDriver::Filesystem(_) => "filesystem",
            StorageDriver::InMemory => "inmemory",
            StorageDriver::S3(_) => "s3",
            StorageDriver::Azure(_) => "azure",
            StorageDriver::Gcs(_) => "gcs",
            StorageDriver::Swift(_) => "swift",
            StorageDriver::Oss(_) => "oss",
        }
    }
}

impl Choice for StorageDriver {
    const WHAT: &'static str = "storage driver";
    const KEYS: &'static [&'static str] = &["filesystem", "inmemory", "s3", "azure", "gcs", "swift", "oss"];

    fn select(key: &str) -> Self {
        match key {
            "inmemory" => StorageDriver::InMemory,
            "s3" => StorageDriver::S3(S3::default()),
            "azure" => StorageDriver::Azure(Azure::default()),
            "gcs" => StorageDriver::Gcs(Gcs::default()),
            "swift" => StorageDriver::Swift(Swift::default()),
            "oss" => StorageDriver::Oss(Oss::default()),
            _ => StorageDriver::Filesystem(Filesystem::default()),
        }
    }

    fn key(&self) -> &'static str {
        self.name()
    }

    fn visit_variant<V: Visitor>(&mut self, v: &mut V) {
        match self {
            StorageDriver::Filesystem(d) => d.visit(v),
            StorageDriver::InMemory => {}
            StorageDriver::S3(d) => d.visit(v),
            StorageDriver::Azure(d) => d.visit(v),
            StorageDriver::Gcs(d) => d.visit(v),
            StorageDriver::Swift(d) => d.visit(v),
            StorageDriver::Oss(d) => d.visit(v),
        }
    }

    fn finish_variant(&mut self, at: &KeyPath, p: &mut Problems) {
        match self {
            StorageDriver::Filesystem(d) => d.finish(at, p),
            StorageDriver::InMemory => {}
            StorageDriver::S3(d) => d.finish(at, p),
            StorageDriver::Azure(d) => d.finish(at, p),
            StorageDriver::Gcs(d) => d.finish(at, p),
            StorageDriver::Swift(d) => d.finish(at, p),
            StorageDriver::Oss(d) => d.finish(at, p),
        }
    }
}

/// `storage.filesystem`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filesystem {
    /// `rootdirectory` (default `/var/lib/registry`).
    pub rootdirectory: PathBuf,
    /// `maxthreads`: concurrent filesystem calls (default 100, at least 25).
    pub maxthreads: u64,
}

impl Default for Filesystem {
    fn default() -> Self {
        Filesystem { rootdirectory: "/var/lib/registry".into(), maxthreads: 100 }
    }
}

impl Section for Filesystem {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("rootdirectory", &mut self.rootdirectory);
        v.value("maxthreads", &mut self.maxthreads);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        if self.maxthreads < 25 {
            p.invalid(&at.key("maxthreads"), format!("{} is below the minimum, 25", self.maxthreads));
        }
    }
}

/// `storage.s3`.
#[derive(Debug, Clone, PartialEq)]
pub struct S3 {
    /// `accesskey` (unset: IAM credentials).
    pub accesskey: Option<Secret>,
    /// `secretkey`.
    pub secretkey: Option<Secret>,
    /// `region` (required unless `regionendpoint` is set).
    pub region: String,
    /// `regionendpoint`: an S3-compatible service's URL.
    pub regionendpoint: Option<String>,
    /// `forcepathstyle` (3.x).
    pub forcepathstyle: bool,
    /// `accelerate`: S3 Transfer Acceleration.
    pub accelerate: bool,
    /// `bucket` (required).
    pub bucket: String,
    /// `encrypt`: server-side encryption.
    pub encrypt: bool,
    /// `keyid`: the KMS key for `encrypt`.
    pub keyid: Option<String>,
    /// `secure`: HTTPS (default true).
    pub secure: bool,
    /// `skipverify`: do not verify TLS certificates.
    pub skipverify: bool,
    /// `v4auth`: AWS signature version 4 (default true).
    pub v4auth: bool,
    /// `chunksize`: multipart upload part size (default 10 MiB, at least 5 MiB).
    pub chunksize: u64,
    /// `multipartcopychunksize` (default 32 MiB).
    pub multipartcopychunksize: u64,
    /// `multipartcopymaxconcurrency` (default 100).
    pub multipartcopymaxconcurrency: u64,
    /// `multipartcopythresholdsize` (default 32 MiB).
    pub multipartcopythresholdsize: u64,
    /// `rootdirectory`: key prefix in the bucket.
    pub rootdirectory: String,
    /// `storageclass` (default `STANDARD`).
    pub storageclass: String,
    /// `useragent`.
    pub useragent: Option<String>,
    /// `objectacl` (default `private`).
    pub objectacl: String,
    /// `usedualstack`.
    pub usedualstack: bool,
    /// `usefipsendpoint` (3.1).
    pub usefipsendpoint: bool,
    /// `loglevel` of the AWS client (default `off`).
    pub loglevel: String,
}

impl Default for S3 {
    fn default() -> Self {
        S3 {
            accesskey: None,
            secretkey: None,
            region: String::new(),
            regionendpoint: None,
            forcepathstyle: false,
            accelerate: false,
            bucket: String::new(),
            encrypt: false,
            keyid: None,
            secure: true,
            skipverify: false,
            v4auth: true,
            chunksize: 10 * MIB,
            multipartcopychunksize: 32 * MIB,
            multipartcopymaxconcurrency: 100,
            multipartcopythresholdsize: 32 * MIB,
            rootdirectory: String::new(),
            storageclass: "STANDARD".into(),
            useragent: None,
            objectacl: "private".into(),
            usedualstack: false,
            usefipsendpoint: false,
            loglevel: "off".into(),
        }
    }
}

impl Section for S3 {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("accesskey", &mut self.accesskey);
        v.value("secretkey", &mut self.secretkey);
        v.value("region", &mut self.region);
        v.value("regionendpoint", &mut self.regionendpoint);
        v.value("forcepathstyle", &mut self.forcepathstyle);
        v.value("accelerate", &mut self.accelerate);
        v.value("bucket", &mut self.bucket);
        v.value("encrypt", &mut self.encrypt);
        v.value("keyid", &mut self.keyid);
        v.value("secure", &mut self.secure);
        v.value("skipverify", &mut self.skipverify);
        v.value("v4auth", &mut self.v4auth);
        v.value("chunksize", &mut self.chunksize);
        v.value("multipartcopychunksize", &mut self.multipartcopychunksize);
        v.value("multipartcopymaxconcurrency", &mut self.multipartcopymaxconcurrency);
        v.value("multipartcopythresholdsize", &mut self.multipartcopythresholdsize);
        v.value("rootdirectory", &mut self.rootdirectory);
        v.value("storageclass", &mut self.storageclass);
        v.value("useragent", &mut self.useragent);
        v.value("objectacl", &mut self.objectacl);
        v.value("usedualstack", &mut self.usedualstack);
        v.value("usefipsendpoint", &mut self.usefipsendpoint);
        v.value("loglevel", &mut self.loglevel);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "bucket", !self.bucket.is_empty());
        p.require(at, "region", !self.region.is_empty() || self.regionendpoint.is_some());
        if self.chunksize < 5 * MIB {
            p.invalid(&at.key("chunksize"), format!("{} is below S3's minimum part size, 5242880", self.chunksize));
        }
    }
}

/// `storage.azure`.
#[derive(Debug, Clone, PartialEq)]
pub struct Azure {
    /// `accountname`.
    pub accountname: String,
    /// `accountkey`.
    pub accountkey: Option<Secret>,
    /// `container` (required).
    pub container: String,
    /// `realm`: the endpoint's domain suffix (default `core.windows.net`).
    pub realm: String,
    /// `rootdirectory`: prefix of every blob name.
    pub rootdirectory: String,
    /// `serviceurl` (3.x): the blob service's URL.
    pub serviceurl: Option<String>,
    /// `credentials` (3.x).
    pub credentials: Option<AzureCredentials>,
    /// `max_retries` (3.x, default 5).
    pub max_retries: u64,
    /// `retry_delay` (3.x, default 100ms).
    pub retry_delay: Duration,
    /// `copy_status_poll_max_retry` (default 5; -1 disables retries).
    pub copy_status_poll_max_retry: i64,
    /// `copy_status_poll_delay` (default 100ms).
    pub copy_status_poll_delay: Duration,
}

impl Default for Azure {
    fn default() -> Self {
        Azure {
            accountname: String::new(),
            accountkey: None,
            container: String::new(),
            realm: "core.windows.net".into(),
            rootdirectory: String::new(),
            serviceurl: None,
            credentials: None,
            max_retries: 5,
            retry_delay: Duration::from_millis(100),
            copy_status_poll_max_retry: 5,
            copy_status_poll_delay: Duration::from_millis(100),
        }
    }
}

impl Section for Azure {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("accountname", &mut self.accountname);
        v.value("accountkey", &mut self.accountkey);
        v.value("container", &mut self.container);
        v.value("realm", &mut self.realm);
        v.value("rootdirectory", &mut self.rootdirectory);
        v.value("serviceurl", &mut self.serviceurl);
        v.optional("credentials", &mut self.credentials);
        v.value("max_retries", &mut self.max_retries);
        v.value("retry_delay", &mut self.retry_delay);
        v.value("copy_status_poll_max_retry", &mut self.copy_status_poll_max_retry);
        v.value("copy_status_poll_delay", &mut self.copy_status_poll_delay);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "container", !self.container.is_empty());
    }
}

/// `storage.azure.credentials`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AzureCredentials {
    /// `type`: `client_secret`, `shared_key` or `default_credentials`.
    pub kind: String,
    /// `clientid`.
    pub clientid: String,
    /// `tenantid`.
    pub tenantid: String,
    /// `secret`.
    pub secret: Option<Secret>,
}

impl Section for AzureCredentials {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("type", &mut self.kind);
        v.value("clientid", &mut self.clientid);
        v.value("tenantid", &mut self.tenantid);
        v.value("secret", &mut self.secret);
    }
}

/// `storage.gcs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gcs {
    /// `bucket` (required).
    pub bucket: String,
    /// `keyfile`: a service account key file (JSON).
    pub keyfile: Option<PathBuf>,
    /// `credentials`: the service account key's fields, inline.
    pub credentials: BTreeMap<String, Node>,
    /// `rootdirectory`: key prefix in the bucket.
    pub rootdirectory: String,
    /// `chunksize` (default 5242880; a multiple of 256 KiB).
    pub chunksize: u64,
    /// `maxconcurrency` (2.8, default 50).
    pub maxconcurrency: u64,
    /// `disablekeepalives` (3.x).
    pub disablekeepalives: bool,
}

impl Default for Gcs {
    fn default() -> Self {
        Gcs {
            bucket: String::new(),
            keyfile: None,
            credentials: BTreeMap::new(),
            rootdirectory: String::new(),
            chunksize: 5 * MIB,
            maxconcurrency: 50,
            disablekeepalives: false,
        }
    }
}

impl Section for Gcs {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("bucket", &mut self.bucket);
        v.value("keyfile", &mut self.keyfile);
        v.value("credentials", &mut self.credentials);
        v.value("rootdirectory", &mut self.rootdirectory);
        v.value("chunksize", &mut self.chunksize);
        v.value("maxconcurrency", &mut self.maxconcurrency);
        v.value("disablekeepalives", &mut self.disablekeepalives);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "bucket", !self.bucket.is_empty());
        if self.chunksize == 0 || !self.chunksize.is_multiple_of(256 * 1024) {
            p.invalid(&at.key("chunksize"), format!("{} is not a multiple of 262144 (256 KiB)", self.chunksize));
        }
    }
}

/// `storage.swift` (2.8).
#[derive(Debug, Clone, PartialEq)]
pub struct Swift {
    /// `authurl` (required).
    pub authurl: String,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: Option<Secret>,
    /// `region`.
    pub region: String,
    /// `container` (required).
    pub container: String,
    /// `tenant`.
    pub tenant: String,
    /// `tenantid`.
    pub tenantid: String,
    /// `domain` (Identity v3).
    pub domain: String,
    /// `domainid` (Identity v3).
    pub domainid: String,
    /// `tenantdomain`.
    pub tenantdomain: String,
    /// `tenantdomainid`.
    pub tenantdomainid: String,
    /// `trustid` (Identity v3).
    pub trustid: String,
    /// `insecureskipverify`.
    pub insecureskipverify: bool,
    /// `chunksize`: segment size of large objects (default 5 MiB).
    pub chunksize: u64,
    /// `prefix`: key prefix in the container.
    pub prefix: String,
    /// `rootdirectory`, as distribution's reference lists it.
    pub rootdirectory: String,
    /// `secretkey`: signs temporary URLs.
    pub secretkey: Option<Secret>,
    /// `accesskey`: for temporary URLs on HP Cloud.
    pub accesskey: Option<Secret>,
    /// `authversion` (0: from `authurl`).
    pub authversion: u64,
    /// `endpointtype` (default `public`).
    pub endpointtype: String,
    /// `tempurlcontainerkey`.
    pub tempurlcontainerkey: bool,
    /// `tempurlmethods`.
    pub tempurlmethods: Vec<String>,
}

impl Default for Swift {
    fn default() -> Self {
        Swift {
            authurl: String::new(),
            username: String::new(),
            password: None,
            region: String::new(),
            container: String::new(),
            tenant: String::new(),
            tenantid: String::new(),
            domain: String::new(),
            domainid: String::new(),
            tenantdomain: String::new(),
            tenantdomainid: String::new(),
            trustid: String::new(),
            insecureskipverify: false,
            chunksize: 5 * MIB,
            prefix: String::new(),
            rootdirectory: String::new(),
            secretkey: None,
            accesskey: None,
            authversion: 0,
            endpointtype: "public".into(),
            tempurlcontainerkey: false,
            tempurlmethods: Vec::new(),
        }
    }
}

impl Section for Swift {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("authurl", &mut self.authurl);
        v.value("username", &mut self.username);
        v.value("password", &mut self.password);
        v.value("region", &mut self.region);
        v.value("container", &mut self.container);
        v.value("tenant", &mut self.tenant);
        v.value("tenantid", &mut self.tenantid);
        v.value("domain", &mut self.domain);
        v.value("domainid", &mut self.domainid);
        v.value("tenantdomain", &mut self.tenantdomain);
        v.value("tenantdomainid", &mut self.tenantdomainid);
        v.value("trustid", &mut self.trustid);
        v.value("insecureskipverify", &mut self.insecureskipverify);
        v.value("chunksize", &mut self.chunksize);
        v.value("prefix", &mut self.prefix);
        v.value("rootdirectory", &mut self.rootdirectory);
        v.value("secretkey", &mut self.secretkey);
        v.value("accesskey", &mut self.accesskey);
        v.value("authversion", &mut self.authversion);
        v.value("endpointtype", &mut self.endpointtype);
        v.value("tempurlcontainerkey", &mut self.tempurlcontainerkey);
        v.value("tempurlmethods", &mut self.tempurlmethods);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "authurl", !self.authurl.is_empty());
        p.require(at, "container", !self.container.is_empty());
    }
}

/// `storage.oss` (2.8).
#[derive(Debug, Clone, PartialEq)]
pub struct Oss {
    /// `accesskeyid`.
    pub accesskeyid: Option<Secret>,
    /// `accesskeysecret`.
    pub accesskeysecret: Option<Secret>,
    /// `region` (required).
    pub region: String,
    /// `endpoint`.
    pub endpoint: Option<String>,
    /// `internal`: use the internal endpoint.
    pub internal: bool,
    /// `bucket` (required).
    pub bucket: String,
    /// `encrypt`: server-side encryption.
    pub encrypt: bool,
    /// `encryptionkeyid`: the KMS key for `encrypt`.
    pub encryptionkeyid: Option<String>,
    /// `secure`: HTTPS (default true).
    pub secure: bool,
    /// `chunksize` (default 10 MiB, at least 5 MiB).
    pub chunksize: u64,
    /// `rootdirectory`: key prefix in the bucket.
    pub rootdirectory: String,
}

impl Default for Oss {
    fn default() -> Self {
        Oss {
            accesskeyid: None,
            accesskeysecret: None,
            region: String::new(),
            endpoint: None,
            internal: false,
            bucket: String::new(),
            encrypt: false,
            encryptionkeyid: None,
            secure: true,
            chunksize: 10 * MIB,
            rootdirectory: String::new(),
        }
    }
}

impl Section for Oss {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("accesskeyid", &mut self.accesskeyid);
        v.value("accesskeysecret", &mut self.accesskeysecret);
        v.value("region", &mut self.region);
        v.value("endpoint", &mut self.endpoint);
        v.value("internal", &mut self.internal);
        v.value("bucket", &mut self.bucket);
        v.value("encrypt", &mut self.encrypt);
        v.value("encryptionkeyid", &mut self.encryptionkeyid);
        v.value("secure", &mut self.secure);
        v.value("chunksize", &mut self.chunksize);
        v.value("rootdirectory", &mut self.rootdirectory);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        p.require(at, "bucket", !self.bucket.is_empty());
        p.require(at, "region", !self.region.is_empty());
    }
}

/// `storage.delete`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delete {
    /// `storage.delete.enabled`: allow DELETE of manifests, blobs and tags.
    pub enabled: bool,
}

impl Section for Delete {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
    }
}

/// `storage.redirect`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Redirect {
    /// `storage.redirect.disable`: serve blobs instead of redirecting to the
    /// backend's signed URLs.
    pub disable: bool,
}

impl Section for Redirect {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("disable", &mut self.disable);
    }
}

keywords! {
    /// `storage.cache.blobdescriptor`: where blob descriptors are cached.
    pub enum BlobDescriptorCache {
        /// In the registry process.
        InMemory = "inmemory",
        /// In the `redis` section's server.
        Redis = "redis",
    }
}

/// `storage.cache`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cache {
    /// `storage.cache.blobdescriptor` (none by default).
    pub blobdescriptor: Option<BlobDescriptorCache>,
    /// `storage.cache.blobdescriptorsize` (3.x): entries of the in-memory
    /// cache (default 10000; 0 is unbounded).
    pub blobdescriptorsize: u64,
    /// `storage.cache.layerinfo`: the old name of `blobdescriptor`.
    pub layerinfo: Option<BlobDescriptorCache>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache { blobdescriptor: None, blobdescriptorsize: 10_000, layerinfo: None }
    }
}

impl Section for Cache {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("blobdescriptor", &mut self.blobdescriptor);
        v.value("blobdescriptorsize", &mut self.blobdescriptorsize);
        v.value("layerinfo", &mut self.layerinfo);
    }
}

/// `storage.maintenance`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintenance {
    /// `storage.maintenance.uploadpurging`.
    pub uploadpurging: UploadPurging,
    /// `storage.maintenance.readonly`.
    pub readonly: ReadOnly,
}

impl Section for Maintenance {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("uploadpurging", &mut self.uploadpurging);
        v.section("readonly", &mut self.readonly);
    }
}

/// `storage.maintenance.uploadpurging`: removal of abandoned uploads.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadPurging {
    /// `enabled` (default true).
    pub enabled: bool,
    /// `age`: uploads older than this are removed (default 168h).
    pub age: Duration,
    /// `interval`: between purges (default 24h).
    pub interval: Duration,
    /// `dryrun`: only log what would be removed.
    pub dryrun: bool,
}

impl Default for UploadPurging {
    fn default() -> Self {
        UploadPurging {
            enabled: true,
            age: Duration::from_secs(168 * 3600),
            interval: Duration::from_secs(24 * 3600),
            dryrun: false,
        }
    }
}

impl Section for UploadPurging {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
        v.value("age", &mut self.age);
        v.value("interval", &mut self.interval);
        v.value("dryrun", &mut self.dryrun);
    }
}

/// `storage.maintenance.readonly`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOnly {
    /// `storage.maintenance.readonly.enabled`: refuse every write.
    pub enabled: bool,
}

impl Section for ReadOnly {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("enabled", &mut self.enabled);
    }
}

/// `storage.tag` (3.x).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tag {
    /// `storage.tag.concurrencylimit`: parallel tag lookups when a manifest
    /// is deleted (0: one per CPU).
    pub concurrencylimit: u64,
}

impl Section for Tag {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("concurrencylimit", &mut self.concurrencylimit);
    }
}
