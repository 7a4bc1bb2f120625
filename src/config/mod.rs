//! Configuration: distribution's config.yml (version 0.1, every key of 2.8
//! and 3.x) with distribution's `REGISTRY_*` environment overrides.
//!
//! Loading goes: the file (`load` finds it as distribution does) → a YAML
//! tree (`tree`) → the environment variables, applied to the tree (`env`) →
//! the typed sections (`sections`, read by `section::Reader` with
//! distribution's defaults, refusing unknown keys) → what berth supports
//! (`schema`). Every problem on the way is collected, not only the first.
//!
//! YAML is parsed with `granit_parser`, the event parser that serde-saphyr is
//! built on (and re-exports), into berth's own tree rather than through serde
//! into a `serde_json::Value`. A serde tree types scalars before the field
//! that reads them is known, so it loses their source text: `yes` becomes
//! `true` and `0.10` becomes `0.1`, where yaml.v2 gives a string field the
//! text as written. The environment rule must also edit the tree before it is
//! typed, and `berth config check` prints it back.

pub mod duration;
mod emit;
mod env;
mod schema;
mod section;
mod sections;
mod tree;
mod value;

use std::path::{Path, PathBuf};

pub use schema::Support;
pub use sections::*;
pub use tree::{Node, Scalar};
pub use value::Secret;

use section::{Problems, Reader, Section, Visitor, Writer};
use tree::KeyPath;

/// The configuration when there is no file: plain HTTP on 127.0.0.1:5000,
/// blobs in `./registry-data`.
const EMBEDDED: &str =
    "version: 0.1\nhttp:\n  addr: 127.0.0.1:5000\nstorage:\n  filesystem:\n    rootdirectory: registry-data\n";

/// Where config.yml is looked for when neither an argument nor
/// `REGISTRY_CONFIGURATION_PATH` names one: distribution 3.x's place, then 2.x's.
pub const DEFAULT_PATHS: &[&str] = &["/etc/distribution/config.yml", "/etc/docker/registry/config.yml"];

/// What can be wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("parsing configuration: {0}")]
    Yaml(String),
    /// A `REGISTRY_*` variable that cannot be applied.
    #[error("environment variable {var}: {why}")]
    Env {
        /// The variable.
        var: String,
        /// Why.
        why: String,
    },
    /// A key distribution does not have either.
    #[error("unknown configuration key `{key}`{}", set_by(.var))]
    UnknownKey {
        /// The key.
        key: String,
        /// The variable that set it, if one did.
        var: Option<String>,
    },
    /// A distribution key berth does not implement yet.
    #[error("configuration key `{0}` is not supported by berth yet")]
    Unsupported(String),
    /// A key with a value of the wrong type or range.
    #[error("configuration key `{key}`{}: {why}", set_by(.var))]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong with its value.
        why: String,
        /// The variable that set it, if one did.
        var: Option<String>,
    },
}

fn set_by(var: &Option<String>) -> String {
    var.as_ref().map(|v| format!(" (set by {v})")).unwrap_or_default()
}

/// Everything wrong with a configuration, one problem a line.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// Where a configuration came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    /// The file read, or `None` for the embedded default.
    pub file: Option<PathBuf>,
    /// The `REGISTRY_*` variables applied, in the order applied.
    pub variables: Vec<String>,
}

/// A configuration: every section of distribution's config.yml, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `version`: always `0.1`.
    pub version: String,
    /// `log`.
    pub log: Log,
    /// `loglevel`: deprecated; used for `log.level` when that is unset.
    pub loglevel: Option<LogLevel>,
    /// `storage`.
    pub storage: Storage,
    /// `auth`: none when unset.
    pub auth: Option<Auth>,
    /// `middleware`.
    pub middleware: Middleware,
    /// `http`.
    pub http: Http,
    /// `notifications`.
    pub notifications: Notifications,
    /// `redis`: none when unset.
    pub redis: Option<Redis>,
    /// `health`.
    pub health: Health,
    /// `proxy`: pull-through cache mode when set.
    pub proxy: Option<Proxy>,
    /// `validation`.
    pub validation: Validation,
    /// `catalog`.
    pub catalog: Catalog,
    /// `tags` (3.1).
    pub tags: Tags,
    /// `policy`.
    pub policy: Policy,
    /// `compatibility` (2.8).
    pub compatibility: Compatibility,
    /// `reporting` (2.8).
    pub reporting: Reporting,
    /// `berth`: berth's own settings.
    pub berth: Berth,
    /// Where to listen: `http.addr` with Go's `:port` (every interface)
    /// spelled out for a socket bind. Kept apart from `http.addr` so a test
    /// or an embedder can move the listener without touching the settings.
    pub addr: String,
    /// Keys accepted but without effect yet, ignored variables, and other
    /// doubts, one sentence each.
    pub warnings: Vec<String>,
    /// Where it came from.
    pub origin: Origin,
}

impl Default for Config {
    /// The embedded default: plain HTTP on 127.0.0.1:5000, files in
    /// `./registry-data`.
    fn default() -> Self {
        build(EMBEDDED, None, Vec::new(), true).expect("the embedded configuration is valid")
    }
}

impl Config {
    /// Loads the configuration as `berth serve` does: the file at `path`, or
    /// at `REGISTRY_CONFIGURATION_PATH`, or at the first of `DEFAULT_PATHS`
    /// that exists, or else the embedded default; then the `REGISTRY_*`
    /// variables of `env`; then refuses what berth does not support.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigErrors> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let defaults: Vec<PathBuf> = DEFAULT_PATHS.iter().map(PathBuf::from).collect();
        match locate(path, &env, &defaults) {
            Some(file) => {
                let text = std::fs::read_to_string(&file)
                    .map_err(|source| ConfigError::Read { path: file.clone(), source })?;
                build(&text, Some(file), env, true)
            }
            None => build(EMBEDDED, None, env, true),
        }
    }

    /// Parses config.yml text (without environment variables) and refuses
    /// what berth does not support.
    pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
        build(text, None, Vec::new(), true)
    }

    /// Reads config.yml text and environment variables into the typed
    /// configuration, without refusing keys berth does not implement yet.
    pub fn read(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigErrors> {
        build(text, None, env, false)
    }

    /// The garbage-collection grace period that applies: `berth.gc.grace`,
    /// or zero in read-only mode, where nothing can be pushed and so no
    /// push needs protecting.
    pub fn gc_grace(&self) -> std::time::Duration {
        if self.storage.maintenance.readonly.enabled { std::time::Duration::ZERO } else { self.berth.gc.grace }
    }

    /// The configuration as YAML, defaults filled in and secrets masked.
    pub fn to_yaml(&self) -> String {
        emit::to_yaml(&Writer::write(&mut self.clone()))
    }

    /// Every section at distribution's defaults.
    fn blank() -> Config {
        Config {
            version: "0.1".into(),
            log: Log::default(),
            loglevel: None,
            storage: Storage::default(),
            auth: None,
            middleware: Middleware::default(),
            http: Http::default(),
            notifications: Notifications::default(),
            redis: None,
            health: Health::default(),
            proxy: None,
            validation: Validation::default(),
            catalog: Catalog::default(),
            tags: Tags::default(),
            policy: Policy::default(),
            compatibility: Compatibility::default(),
            reporting: Reporting::default(),
            berth: Berth::default(),
            addr: String::new(),
            warnings: Vec::new(),
            origin: Origin::default(),
        }
    }
}

impl Section for Config {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("version", &mut self.version);
        v.section("log", &mut self.log);
        v.value("loglevel", &mut self.loglevel);
        v.section("storage", &mut self.storage);
        v.optional("auth", &mut self.auth);
        v.section("middleware", &mut self.middleware);
        v.section("http", &mut self.http);
        v.section("notifications", &mut self.notifications);
        v.optional("redis", &mut self.redis);
        v.section("health", &mut self.health);
        v.optional("proxy", &mut self.proxy);
        v.section("validation", &mut self.validation);
        v.section("catalog", &mut self.catalog);
        v.section("tags", &mut self.tags);
        v.section("policy", &mut self.policy);
        v.section("compatibility", &mut self.compatibility);
        v.section("reporting", &mut self.reporting);
        v.section("berth", &mut self.berth);
    }
}

/// The file to read: the argument, else `REGISTRY_CONFIGURATION_PATH`, else
/// the first default path that exists.
fn locate(path: Option<&Path>, env: &[(String, String)], defaults: &[PathBuf]) -> Option<PathBuf> {
    let from_env = env.iter().find(|(k, v)| k == "REGISTRY_CONFIGURATION_PATH" && !v.is_empty()).map(|(_, v)| v);
    path.map(Path::to_path_buf)
        .or_else(|| from_env.map(PathBuf::from))
        .or_else(|| defaults.iter().find(|p| p.is_file()).cloned())
}

/// Text and environment to a configuration, collecting every problem.
fn build(
    text: &str,
    file: Option<PathBuf>,
    env: impl IntoIterator<Item = (String, String)>,
    check_support: bool,
) -> Result<Config, ConfigErrors> {
    let (mut tree, repeated) = tree::parse(text).map_err(ConfigError::Yaml)?;
    if tree == Node::Null {
        tree = Node::Map(Vec::new());
    }
    if !matches!(tree, Node::Map(_)) {
        return Err(ConfigError::Yaml(format!("the configuration must be a mapping, not {}", tree.kind())).into());
    }
    let mut p = Problems { warnings: repeated, ..Problems::default() };
    check_version(&tree, &mut p);
    let variables = env::apply(&mut tree, &mut Config::blank(), env, &mut p);
    let mut config = Config::blank();
    Reader::read(&tree, &KeyPath::default(), &mut config, &mut p);
    if tree.get("storage").is_none_or(|s| *s == Node::Null) {
        p.invalid(&KeyPath::default().key("storage"), "is required: name one storage driver");
    }
    if tree.lookup("log.level").is_none_or(|l| *l == Node::Null)
        && let Some(level) = config.loglevel
    {
        config.log.level = level;
    }
    if check_support {
        schema::check(&tree, &mut p);
        check_blob_cache(&config, &mut p);
    }
    if !p.errors.is_empty() {
        return Err(ConfigErrors(p.errors));
    }
    config.addr = bind_addr(&config.http.addr);
    config.warnings = p.warnings;
    config.origin = Origin { file, variables };
    Ok(config)
}

/// `storage.cache.blobdescriptor` (or its old name `layerinfo`): `redis`
/// is what replicas share, so it needs the `redis` section, as in
/// distribution; `inmemory` is what berth's own read cache already does.
fn check_blob_cache(config: &Config, p: &mut Problems) {
    let cache = &config.storage.cache;
    for (key, value) in [("blobdescriptor", cache.blobdescriptor), ("layerinfo", cache.layerinfo)] {
        let at = KeyPath::default().key("storage").key("cache").key(key);
        match value {
            Some(BlobDescriptorCache::Redis) if config.redis.is_none() => {
                p.invalid(&at, "redis needs the `redis` section");
            }
            Some(BlobDescriptorCache::InMemory) => {
                p.warn(format!("configuration key `storage.cache.{key}` has no effect in berth yet"));
            }
            _ => {}
        }
    }
}

/// distribution reads the version from the file, before the environment.
fn check_version(tree: &Node, p: &mut Problems) {
    let key = KeyPath::default().key("version");
    match tree.get("version") {
        None | Some(Node::Null) => p.warn("configuration key `version` is missing; reading the file as version 0.1"),
        Some(Node::Scalar(v)) if v.text == "0.1" => {}
        Some(Node::Scalar(v)) => p.invalid(&key, format!("{:?} is not supported; the only version is 0.1", v.text)),
        Some(other) => p.invalid(&key, format!("must be 0.1, not {}", other.kind())),
    }
}

/// A `host:port` to bind: Go's `:5000` means every interface.
pub fn bind_addr(addr: &str) -> String {
    if addr.starts_with(':') { format!("0.0.0.0{addr}") } else { addr.to_owned() }
}

#[cfg(test)]
mod tests;
