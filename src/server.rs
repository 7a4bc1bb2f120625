//! Assembles a running registry from a configuration: storage driver,
//! registry, auth, TLS, health checks, metrics, listeners. This is the one
//! place where configuration sections become the options of the layers.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use tokio::{
    net::{TcpListener, UnixListener},
    sync::watch,
    task::JoinHandle,
};

use crate::{
    client::{Credentials, Upstream},
    config::{self, Config, Net, Secret, StorageDriver},
    health::{CheckSpec, Health, Probe},
    http::{
        self, App, Auth, Listener, Settings, Transport, UploadSigner, Urls,
        auth::{Htpasswd, TokenAuth, TokenOptions},
        debug::Debug,
        limits::Limits,
        tls::{self, AcmeOptions, CertSource, TlsOptions},
        ui::UiSettings,
    },
    metrics::{GcTotals, Metrics},
    notifications::{Action, BerthRecord, Notifier, Origin, Target},
    redis::{Channel, Locks, Redis},
    registry::{
        self, GcOptions, ImmutableRule, Options, Policies, Policy, Registry, RepoGlob, RetentionReport, TagRegex,
        tags::retention,
    },
    storage::{CACHE_TTL, Cached, Driver, Filesystem, InMemory, Listeners, S3},
};

/// A registry serving on a socket.
pub struct Server {
    /// The TCP address it listens on (unspecified with `http.net: unix`).
    pub addr: SocketAddr,
    /// Where clients reach it: `http://…`, `https://…` or `unix:…`.
    pub url: String,
    /// The debug listener's address, when `http.debug.addr` is set.
    pub debug_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Endless maintenance (ACME renewals, upload purging): aborted at shutdown.
    background: Vec<JoinHandle<()>>,
    /// Flushed at shutdown, once no request can publish any more.
    notifier: Arc<Notifier>,
}

impl Server {
    /// Builds everything the configuration describes and starts serving.
    pub async fn start(config: &Config) -> anyhow::Result<Server> {
        let driver = open_driver(config).await?;
        let (mut registry, listening) = serving_registry(config, &driver)?;
        if let Some(proxy) = &config.proxy {
            registry = registry.with_proxy(upstream(proxy)?);
        }
        if config.http.secret.is_none() {
            tracing::warn!(
                "http.secret is not set: using a random one, so uploads in progress do not survive a restart"
            );
        }
        let health = Health::start(health_checks(config, &driver)?);
        let metrics = Arc::new(Metrics::default());
        let notifier = Notifier::start(&config.notifications, &config.addr, &metrics)?;
        let settings = Settings {
            signer: UploadSigner::new(config.http.secret.as_ref().map(Secret::expose)),
            auth: auth(config)?,
            read_only: config.storage.maintenance.readonly.enabled,
            proxy: config.proxy.is_some(),
            max_catalog_entries: config.catalog.maxentries,
            headers: config.http.headers.clone(),
            urls: Urls {
                host: config.http.host.clone(),
                relative: config.http.relativeurls,
                prefix: config.http.prefix.clone(),
            },
            health: health.clone(),
            metrics: metrics.clone(),
            access_log: !config.log.accesslog.disabled,
            notifier: notifier.clone(),
            limits: limits(config),
            ui: UiSettings { enabled: config.berth.ui.enabled },
        };
        let app = Arc::new(App::new(registry, settings)?);
        let (transport, acme) = transport(config)?;
        let (stop, stopped) = watch::channel(false);
        let until_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };

        let mut tasks = Vec::new();
        let mut background: Vec<JoinHandle<()>> = listening.into_iter().collect();
        if let Some(acme) = acme {
            background.push(tokio::spawn(tls::drive_acme(acme)));
        }
        let purging = &config.storage.maintenance.uploadpurging;
        let read_only = config.storage.maintenance.readonly.enabled;
        if purging.enabled && !read_only {
            background.push(tokio::spawn(purge_uploads(app.registry.clone(), purging.clone(), metrics.clone())));
        }
        if !config.berth.gc.interval.is_zero() && !read_only {
            background.push(tokio::spawn(collect_garbage(
                app.registry.clone(),
                config.berth.gc.clone(),
                metrics.clone(),
            )));
        }
        if registry_options(config).catalog_index && !read_only {
            let every = config.berth.catalog.reconcile;
            background.push(tokio::spawn(reconcile_catalog_index(app.registry.clone(), every)));
        }
        let retention = &config.berth.retention;
        if !retention.interval.is_zero() && !read_only {
            let policies = retention_policies(config)?;
            let retention = Retention { interval: retention.interval, dry_run: retention.dryrun, policies };
            let job = apply_retention(app.registry.clone(), retention, metrics.clone(), notifier.clone());
            background.push(tokio::spawn(job));
        }
        if let Some(proxy) = config.proxy.as_ref().filter(|p| !p.ttl.is_zero() && !read_only) {
            background.push(tokio::spawn(expire_cache(app.registry.clone(), proxy.ttl)));
        }
        let debug_addr = match &config.http.debug.addr {
            Some(addr) => {
                let listener = TcpListener::bind(config::bind_addr(addr))
                    .await
                    .with_context(|| format!("http.debug.addr {addr}"))?;
                let bound = listener.local_addr()?;
                let metrics =
                    config.http.debug.prometheus.enabled.then(|| (metrics, config.http.debug.prometheus.path.clone()));
                let debug = Arc::new(Debug { health, metrics });
                tasks.push(tokio::spawn(http::debug::serve(listener, debug, until_stopped(stopped.clone()))));
                Some(bound)
            }
            None => None,
        };

        let scheme = if transport.tls.is_some() { "https" } else { "http" };
        let (listener, addr, url) = match config.http.net {
            Net::Tcp => {
                let listener = TcpListener::bind(&config.addr)
                    .await
                    .with_context(|| format!("cannot listen on {} (http.addr)", config.addr))?;
                let addr = listener.local_addr()?;
                (Listener::Tcp(listener), addr, format!("{scheme}://{addr}"))
            }
            Net::Unix => {
                let path = Path::new(&config.http.addr);
                remove_stale_socket(path)?;
                let listener = UnixListener::bind(path)
                    .with_context(|| format!("cannot listen on {} (http.addr)", path.display()))?;
                (Listener::Unix(listener), SocketAddr::from(([0, 0, 0, 0], 0)), format!("unix:{}", path.display()))
            }
        };
        tasks.push(tokio::spawn(http::serve(listener, transport, app, until_stopped(stopped))));
        Ok(Server { addr, url, debug_addr, stop, tasks, background, notifier })
    }

    /// Stops accepting, drains requests in flight, and returns.
    pub async fn shutdown(self) {
        for task in &self.background {
            task.abort();
        }
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.notifier.shutdown().await;
    }
}

/// The pull-through cache of `proxy.remoteurl`.
fn upstream(proxy: &config::Proxy) -> anyhow::Result<registry::proxy::Proxy> {
    let credentials = (!proxy.username.is_empty()).then(|| Credentials {
        username: proxy.username.clone(),
        password: proxy.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default(),
    });
    let upstream = Upstream::new(&proxy.remoteurl, credentials).context("proxy.remoteurl")?;
    Ok(registry::proxy::Proxy::new(Arc::new(upstream)))
}

/// Removes cached content older than `ttl`, checking every quarter of it
/// (between a second and an hour), the first time after `first_delay`.
async fn expire_cache(registry: Registry, ttl: Duration) {
    let interval = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::time::sleep(first_delay(interval)).await;
    loop {
        match registry.expire_cached(std::time::SystemTime::now() - ttl).await {
            Ok(e) => tracing::info!(
                tags = e.tags,
                manifests = e.manifests,
                layers = e.layers,
                blobs = e.blobs,
                "proxy: expired cached content"
            ),
            Err(e) => tracing::warn!(error = %e, "proxy: expiring cached content failed"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// Deletes upload sessions older than `age` every `interval`, as
/// distribution's purger. The first run waits a random part of the interval
/// (at most an hour), so replicas started together do not purge at once.
async fn purge_uploads(registry: Registry, purging: config::UploadPurging, metrics: Arc<Metrics>) {
    tokio::time::sleep(first_delay(purging.interval)).await;
    loop {
        let cutoff = std::time::SystemTime::now() - purging.age;
        match registry.purge_uploads(cutoff, purging.dryrun).await {
            Ok(purged) => {
                for p in &purged {
                    tracing::info!(repository = %p.repository, upload = %p.id, dry_run = purging.dryrun, "purging upload");
                }
                tracing::info!(count = purged.len(), dry_run = purging.dryrun, "upload purge done");
                if !purging.dryrun {
                    metrics.uploads_purged(purged.len() as u64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "upload purge failed"),
        }
        tokio::time::sleep(purging.interval.max(Duration::from_secs(1))).await;
    }
}

/// Reconciles the catalog index with the tree every `every` (the first
/// catalog request builds it), for what other writers of the storage changed.
async fn reconcile_catalog_index(registry: Registry, every: Duration) {
    tokio::time::sleep(first_delay(every)).await;
    loop {
        let started = std::time::Instant::now();
        match registry.reconcile_catalog_index().await {
            Ok((added, removed)) => {
                tracing::info!(added, removed, took = ?started.elapsed(), "catalog index reconciled");
            }
            Err(e) => tracing::warn!(error = %e, "catalog index reconciliation failed"),
        }
        tokio::time::sleep(every).await;
    }
}

/// A random part of `interval`, at most an hour: the wait before a
/// scheduled job's first run, so replicas started together do not run it
/// at once.
fn first_delay(interval: Duration) -> Duration {
    let spread = interval.min(Duration::from_secs(3600));
    let random = u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or_default());
    Duration::from_millis(random % spread.as_millis().max(1) as u64)
}

/// Applies the retention policies every `berth.retention.interval`, the
/// first time after `first_delay`. Removals are logged at info level and
/// notified as the DELETEs that would remove them.
async fn apply_retention(registry: Registry, retention: Retention, metrics: Arc<Metrics>, notifier: Arc<Notifier>) {
    tokio::time::sleep(first_delay(retention.interval)).await;
    loop {
        let started = std::time::Instant::now();
        let report =
            registry.retention(&retention.policies, retention.dry_run, |line| tracing::info!("retention: {line}"));
        match report.await {
            Ok(report) => {
                for kept in &report.immutable {
                    let (repository, tag, policy, rule) = (&kept.repository, &kept.tag, &kept.policy, &kept.rule);
                    tracing::info!(%repository, %tag, %policy, %rule, "retention: kept by an immutable rule");
                }
                if !retention.dry_run {
                    metrics.retention_done(report.tags() as u64, report.manifests() as u64, started.elapsed());
                    notify_removals(&notifier, &report);
                }
            }
            Err(e) => {
                metrics.retention_failed();
                tracing::warn!(error = %e, "retention failed");
            }
        }
        tokio::time::sleep(retention.interval.max(Duration::from_secs(1))).await;
    }
}

/// A `delete` event per removal, as a DELETE of the tag or manifest sends.
fn notify_removals(notifier: &Notifier, report: &RetentionReport) {
    for removal in &report.removed {
        let repository = removal.repository.as_str();
        let target = match &removal.target {
            retention::Target::Tag(tag, _) => Target::tag(repository, tag.as_str()),
            retention::Target::Manifest(digest) => Target::deleted(repository, &digest.to_string()),
        };
        let berth =
            BerthRecord { operation: "retention".to_owned(), policy: removal.policy.clone(), ..BerthRecord::default() };
        notifier.publish_with(Action::Delete, target, &Origin::default(), berth);
    }
}

/// `berth.retention` as the server applies it.
struct Retention {
    /// How often (never zero here).
    interval: Duration,
    /// Only log what would go.
    dry_run: bool,
    /// The compiled policies.
    policies: Policies,
}

/// Collects garbage every `berth.gc.interval`, while serving: the grace
/// period and the pushes' claims keep it from taking what a push needs.
/// Each item is logged at debug level, the totals at info.
async fn collect_garbage(registry: Registry, gc: config::Gc, metrics: Arc<Metrics>) {
    let options = GcOptions { dry_run: gc.dryrun, delete_untagged: gc.deleteuntagged, grace: gc.grace };
    loop {
        tokio::time::sleep(gc.interval).await;
        let started = std::time::Instant::now();
        tracing::info!(dry_run = gc.dryrun, delete_untagged = gc.deleteuntagged, "garbage collection starting");
        let report = registry.garbage_collect(options, |line| tracing::debug!("gc: {}", line.trim())).await;
        match report {
            Ok(report) => {
                let totals = GcTotals {
                    manifests: report.manifests.len() as u64,
                    blobs: report.blobs.len() as u64,
                    layer_links: report.layer_links as u64,
                    bytes: report.bytes,
                    young: report.young as u64,
                    took: started.elapsed(),
                };
                tracing::info!(
                    dry_run = gc.dryrun,
                    manifests = totals.manifests,
                    blobs = totals.blobs,
                    layer_links = totals.layer_links,
                    bytes = totals.bytes,
                    young = totals.young,
                    seconds = totals.took.as_secs_f64(),
                    "garbage collection done"
                );
                if !gc.dryrun {
                    metrics.gc_done(&totals);
                }
            }
            Err(e) => {
                metrics.gc_failed();
                tracing::warn!(error = %e, "garbage collection failed");
            }
        }
    }
}

/// A socket file left by a previous run would make the bind fail; anything
/// else at that path is not ours to remove.
fn remove_stale_socket(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => Ok(std::fs::remove_file(path)?),
        Ok(_) => bail!("http.addr {} exists and is not a socket", path.display()),
        Err(_) => Ok(()),
    }
}

/// The registry a server serves: serving reads the same small objects over
/// and over, so it reads through the cache. With `redis`, it is one replica
/// of several: its cache and memos follow the others' announcements (the
/// returned task listens to them) and its tag locks are shared.
fn serving_registry(config: &Config, driver: &Arc<dyn Driver>) -> anyhow::Result<(Registry, Option<JoinHandle<()>>)> {
    let options = registry_options(config);
    let Some(section) = &config.redis else {
        let cached: Arc<dyn Driver> = Arc::new(Cached::new(driver.clone(), CACHE_TTL));
        return Ok((Registry::with_cache(driver.clone(), cached, options), None));
    };
    let redis = Redis::open(section)?;
    let channel = Arc::new(Channel::new(redis.clone()));
    let cached = Cached::with_peers(driver.clone(), CACHE_TTL, channel.clone());
    let cache_listener = cached.listener();
    let registry = Registry::with_cache(driver.clone(), Arc::new(cached), options)
        .with_replicas(channel.clone(), Arc::new(Locks::new(redis)));
    let listening = channel.listen(Arc::new(Listeners(vec![cache_listener, registry.listener()])));
    Ok((registry, Some(listening)))
}

/// The registry over the configured storage driver, uncached, for commands
/// such as `garbage-collect`. With `redis`, what it changes is announced to
/// the serving replicas and its tag changes take the shared locks.
pub async fn open_registry(config: &Config) -> anyhow::Result<(Registry, Arc<dyn Driver>)> {
    let driver = open_driver(config).await?;
    let options = registry_options(config);
    let Some(section) = &config.redis else {
        return Ok((Registry::new(driver.clone(), options), driver));
    };
    let redis = Redis::open(section)?;
    let channel = Arc::new(Channel::new(redis.clone()));
    // A zero lifetime caches nothing: this driver only announces.
    let announcing = Arc::new(Cached::with_peers(driver.clone(), Duration::ZERO, channel.clone()));
    // Listening tells whether Redis is up; a command has no cache to drop.
    channel.listen(Arc::new(Listeners::default()));
    let registry =
        Registry::with_cache(driver.clone(), announcing, options).with_replicas(channel, Arc::new(Locks::new(redis)));
    Ok((registry, driver))
}

/// `berth.retention.policies`, compiled. The configuration checked every
/// pattern already, so an error here is a bug, reported rather than
/// panicking.
pub fn retention_policies(config: &Config) -> anyhow::Result<Policies> {
    let compile = |p: &config::RetentionPolicy| -> anyhow::Result<Policy> {
        let (name, repository, tags) = (&p.name, &p.repository, &p.tags);
        Ok(Policy {
            name: name.clone(),
            repository: RepoGlob::parse(repository).map_err(|e| anyhow::anyhow!("policy {name}: repository: {e}"))?,
            tags: TagRegex::parse(tags).map_err(|e| anyhow::anyhow!("policy {name}: tags: {e}"))?,
            keep_latest: p.keeplatest,
            keep_within: p.keepwithin,
            keep_tags: p.keeptags.iter().cloned().collect(),
            untagged_grace: p.untaggedgrace,
        })
    };
    Ok(Policies(config.berth.retention.policies.iter().map(compile).collect::<anyhow::Result<_>>()?))
}

/// The configured storage driver.
async fn open_driver(config: &Config) -> anyhow::Result<Arc<dyn Driver>> {
    Ok(match &config.storage.driver {
        StorageDriver::Filesystem(fs) => Arc::new(Filesystem::open(&fs.rootdirectory)?),
        StorageDriver::InMemory => Arc::new(InMemory::new()),
        StorageDriver::S3(s3) => Arc::new(S3::open(s3).await?),
        other => bail!("storage driver {} is not supported by berth yet", other.name()),
    })
}

fn limits(config: &Config) -> Limits {
    let l = &config.berth.limits;
    Limits {
        max_connections: l.maxconnections,
        header_timeout: l.headertimeout,
        body_timeout: l.bodytimeout,
        max_header_bytes: l.maxheaderbytes,
        manifest_size: l.manifestsize,
        memory: l.memory,
        client_memory: l.clientmemory,
    }
}

fn registry_options(config: &Config) -> Options {
    Options {
        delete_enabled: config.storage.delete.enabled,
        grace: config.gc_grace(),
        max_manifest_size: config.berth.limits.manifestsize,
        immutable: immutable_rules(config),
        catalog_index: config
            .berth
            .catalog
            .index
            .unwrap_or(!matches!(config.storage.driver, StorageDriver::Filesystem(_) | StorageDriver::InMemory)),
        redirect: !config.storage.redirect.disable,
    }
}

/// `berth.tags.immutable`, compiled. Configuration loading has checked
/// every pattern, so none is dropped here.
fn immutable_rules(config: &Config) -> Vec<ImmutableRule> {
    let rules = config.berth.tags.immutable.iter().filter_map(|rule| {
        Some(ImmutableRule {
            name: rule.name.clone(),
            repository: RepoGlob::parse(&rule.repository).ok()?,
            tags: TagRegex::parse(&rule.tags).ok()?,
        })
    });
    rules.collect()
}

fn auth(config: &Config) -> anyhow::Result<Auth> {
    Ok(match config.auth.clone().unwrap_or_default() {
        config::Auth::None => Auth::None,
        config::Auth::Silly { realm, service } => Auth::Silly { realm, service },
        config::Auth::Htpasswd { realm, path } => Auth::Htpasswd(
            Htpasswd::open(&realm, &path).with_context(|| format!("auth.htpasswd.path {}", path.display()))?,
        ),
        config::Auth::Token {
            realm,
            service,
            issuer,
            rootcertbundle,
            autoredirect,
            autoredirectpath,
            jwks,
            signingalgorithms,
        } => Auth::Token(TokenAuth::open(TokenOptions {
            realm,
            service,
            issuer,
            root_cert_bundle: rootcertbundle,
            jwks,
            signing_algorithms: signingalgorithms,
            auto_redirect: autoredirect,
            auto_redirect_path: autoredirectpath,
        })?),
    })
}

/// How the listener speaks, and the ACME client to drive when certificates
/// come from a CA.
fn transport(config: &Config) -> anyhow::Result<(Transport, Option<tls::Acme>)> {
    let (tls, acme) = match &config.http.tls {
        Some(t) => {
            let (setup, acme) = tls::server_config(&tls_options(config, t)?)?;
            (Some(setup), acme)
        }
        None => (None, None),
    };
    let http2 = if tls.is_some() { !config.http.http2.disabled } else { config.http.h2c.enabled };
    Ok((Transport { tls, http2, drain: config.http.draintimeout }, acme))
}

fn tls_options(config: &Config, t: &config::Tls) -> anyhow::Result<TlsOptions> {
    let source = match (&t.certificate, &t.key, &t.letsencrypt) {
        (Some(certificate), Some(key), _) => CertSource::Files { certificate: certificate.clone(), key: key.clone() },
        (None, None, Some(le)) => CertSource::Acme(AcmeOptions {
            cache_dir: le.cachefile.clone(),
            email: le.email.clone(),
            hosts: le.hosts.clone(),
            directory_url: le.directoryurl.clone(),
        }),
        _ => bail!("http.tls needs certificate and key, or letsencrypt"),
    };
    let client_auth = match t.clientauth {
        config::ClientAuth::RequireAndVerifyClientCert => tls::ClientAuth::RequireAndVerify,
        config::ClientAuth::VerifyClientCertIfGiven => tls::ClientAuth::VerifyIfGiven,
        config::ClientAuth::RequestClientCert => tls::ClientAuth::Request,
        config::ClientAuth::RequireAnyClientCert => tls::ClientAuth::RequireAny,
    };
    let minimum = match t.minimumtls {
        config::MinimumTls::Tls13 => tls::MinimumTls::Tls13,
        older => {
            if older != config::MinimumTls::Tls12 {
                tracing::warn!("http.tls.minimumtls {}: berth accepts TLS 1.2 and 1.3 only", older.as_str());
            }
            tls::MinimumTls::Tls12
        }
    };
    Ok(TlsOptions {
        source,
        client_cas: t.clientcas.clone(),
        client_auth,
        minimum,
        cipher_suites: t.ciphersuites.clone(),
        http2: !config.http.http2.disabled,
    })
}

fn health_checks(config: &Config, driver: &Arc<dyn Driver>) -> anyhow::Result<Vec<CheckSpec>> {
    let h = &config.health;
    let threshold = |t: u64| u32::try_from(t).unwrap_or(u32::MAX);
    let mut specs = Vec::new();
    if h.storagedriver.enabled {
        specs.push(CheckSpec {
            name: format!("storagedriver_{}", config.storage.driver.name()),
            probe: Probe::Storage(driver.clone()),
            interval: h.storagedriver.interval,
            threshold: threshold(h.storagedriver.threshold),
        });
    }
    for f in &h.file {
        let probe = Probe::File(f.file.clone().into());
        specs.push(CheckSpec { name: f.file.clone(), probe, interval: f.interval, threshold: threshold(f.threshold) });
    }
    for c in &h.http {
        let uri: ::http::Uri = c.uri.parse().with_context(|| format!("health.http uri {}", c.uri))?;
        if uri.scheme_str() != Some("http") {
            bail!("health.http uri {}: only http:// checks are supported by berth yet", c.uri);
        }
        let headers = c.headers.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone()))).collect();
        let status = u16::try_from(c.statuscode).unwrap_or(200);
        let probe = Probe::Http { uri, headers, status, timeout: c.timeout };
        specs.push(CheckSpec { name: c.uri.clone(), probe, interval: c.interval, threshold: threshold(c.threshold) });
    }
    for c in &h.tcp {
        let probe = Probe::Tcp { addr: c.addr.clone(), timeout: c.timeout };
        specs.push(CheckSpec { name: c.addr.clone(), probe, interval: c.interval, threshold: threshold(c.threshold) });
    }
    Ok(specs.into_iter().map(|s| CheckSpec { interval: s.interval.max(Duration::from_millis(10)), ..s }).collect())
}
