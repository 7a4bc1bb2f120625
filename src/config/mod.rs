//! Configuration: distribution's config.yml (version 0.1).
//!
//! The file is read into a YAML tree, every key is checked against
//! distribution's schema (`schema`), then the settings berth uses are read
//! out with their types and defaults.

mod schema;

use std::{collections::BTreeMap, path::PathBuf};

use serde_json::Value;

pub use schema::Support;

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
    /// A key distribution does not have either.
    #[error("unknown configuration key `{0}`")]
    UnknownKey(String),
    /// A distribution key berth does not implement yet.
    #[error("configuration key `{0}` is not supported by berth yet")]
    Unsupported(String),
    /// A key with a value of the wrong type or range.
    #[error("configuration key `{key}`: {why}")]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong with its value.
        why: String,
    },
}

/// Where blobs and metadata are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageDriver {
    /// `storage.filesystem` with its root directory.
    Filesystem {
        /// `rootdirectory`.
        root: PathBuf,
    },
    /// `storage.inmemory`.
    InMemory,
}

/// The settings berth uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// `log.level` (or the old top-level `loglevel`).
    pub log_level: String,
    /// `http.addr`, as a socket address to bind.
    pub addr: String,
    /// `http.secret`: signs upload locations. Random per start when unset.
    pub secret: Option<String>,
    /// `http.headers`: added to every response.
    pub headers: BTreeMap<String, Vec<String>>,
    /// The storage driver.
    pub storage: StorageDriver,
    /// `storage.delete.enabled`.
    pub delete_enabled: bool,
    /// `catalog.maxentries`.
    pub catalog_max_entries: usize,
    /// Keys accepted with a warning (see `Support::Warn`).
    pub warnings: Vec<String>,
}

impl Default for Config {
    /// The embedded default: plain HTTP on 127.0.0.1:5000, files in
    /// `./registry-data`.
    fn default() -> Self {
        Config {
            log_level: "info".into(),
            addr: "127.0.0.1:5000".into(),
            secret: None,
            headers: BTreeMap::new(),
            storage: StorageDriver::Filesystem { root: "registry-data".into() },
            delete_enabled: false,
            catalog_max_entries: 1000,
            warnings: Vec::new(),
        }
    }
}

/// distribution's default `rootdirectory`.
const DEFAULT_ROOT: &str = "/var/lib/registry";

impl Config {
    /// Reads a config.yml file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Config::parse(&text)
    }

    /// Parses config.yml text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let tree: Value = serde_saphyr::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        if !tree.is_object() {
            return Err(ConfigError::Yaml("the configuration must be a mapping".into()));
        }
        let mut warnings = Vec::new();
        check_keys(&tree, &mut Vec::new(), &mut warnings)?;
        let version = string(&tree, "version")?
            .ok_or(ConfigError::Invalid { key: "version".into(), why: "required (use version: 0.1)".into() })?;
        if version != "0.1" {
            return Err(invalid("version", format!("{version:?} is not supported; only 0.1 exists")));
        }
        let defaults = Config::default();
        Ok(Config {
            log_level: log_level(&tree)?,
            addr: bind_addr(string(&tree, "http.addr")?.unwrap_or_else(|| ":5000".into())),
            secret: string(&tree, "http.secret")?.filter(|s| !s.is_empty()),
            headers: headers(&tree)?,
            storage: storage(&tree)?,
            delete_enabled: boolean(&tree, "storage.delete.enabled")?.unwrap_or(false),
            catalog_max_entries: match lookup(&tree, "catalog.maxentries") {
                None | Some(Value::Null) => defaults.catalog_max_entries,
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid("catalog.maxentries", "must be a positive integer"))?
                    as usize,
            },
            warnings,
        })
    }
}

fn invalid(key: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), why: why.into() }
}

/// Walks the tree and refuses keys berth must not ignore.
fn check_keys(value: &Value, path: &mut Vec<String>, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    let key: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Value::Object(map) = value
        && (key.is_empty() || schema::is_section(&key))
    {
        for (k, v) in map {
            path.push(k.clone());
            check_keys(v, path, warnings)?;
            path.pop();
        }
        return Ok(());
    }
    let joined = key.join(".");
    match schema::support(&key) {
        Some(Support::Yes) => Ok(()),
        Some(Support::Warn) => {
            warnings.push(joined);
            Ok(())
        }
        Some(Support::No) => Err(ConfigError::Unsupported(joined)),
        None => Err(ConfigError::UnknownKey(joined)),
    }
}

fn lookup<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(tree, |node, part| node.get(part))
}

/// A scalar as text. YAML gives `version: 0.1` or `secret: 1234` as numbers.
fn string(tree: &Value, key: &str) -> Result<Option<String>, ConfigError> {
    match lookup(tree, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

/// A boolean, accepting YAML 1.1 spellings as distribution's yaml.v2 does.
fn boolean(tree: &Value, key: &str) -> Result<Option<bool>, ConfigError> {
    match lookup(tree, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Ok(Some(true)),
            "false" | "no" | "off" | "n" => Ok(Some(false)),
            _ => Err(invalid(key, format!("{s:?} is not a boolean"))),
        },
        Some(_) => Err(invalid(key, "must be a boolean")),
    }
}

fn log_level(tree: &Value) -> Result<String, ConfigError> {
    let (key, level) = match string(tree, "log.level")? {
        Some(level) => ("log.level", level),
        None => ("loglevel", string(tree, "loglevel")?.unwrap_or_else(|| "info".into())),
    };
    match level.as_str() {
        "error" | "warn" | "info" | "debug" | "trace" => Ok(level),
        "panic" | "fatal" => Ok("error".into()),
        "warning" => Ok("warn".into()),
        _ => Err(invalid(key, format!("{level:?} is not one of error, warn, info, debug"))),
    }
}

/// Go's `:5000` means every interface.
fn bind_addr(addr: String) -> String {
    if addr.starts_with(':') { format!("0.0.0.0{addr}") } else { addr }
}

fn headers(tree: &Value) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let Some(Value::Object(map)) = lookup(tree, "http.headers") else { return Ok(BTreeMap::new()) };
    map.iter()
        .map(|(name, values)| {
            let key = format!("http.headers.{name}");
            let values = match values {
                Value::Array(items) => items.iter().map(|v| scalar(v, &key)).collect::<Result<_, _>>()?,
                other => vec![scalar(other, &key)?],
            };
            Ok((name.clone(), values))
        })
        .collect()
}

fn scalar(v: &Value, key: &str) -> Result<String, ConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(invalid(key, "must be a string or a list of strings")),
    }
}

fn storage(tree: &Value) -> Result<StorageDriver, ConfigError> {
    let Some(Value::Object(section)) = lookup(tree, "storage") else {
        return Err(invalid("storage", "a storage driver is required"));
    };
    let extras = ["delete", "redirect", "cache", "maintenance", "tag"];
    let drivers: Vec<&String> = section.keys().filter(|k| !extras.contains(&k.as_str())).collect();
    match drivers.as_slice() {
        [d] if d.as_str() == "filesystem" => Ok(StorageDriver::Filesystem {
            root: string(tree, "storage.filesystem.rootdirectory")?.unwrap_or_else(|| DEFAULT_ROOT.into()).into(),
        }),
        [d] if d.as_str() == "inmemory" => Ok(StorageDriver::InMemory),
        [d] => Err(ConfigError::Unsupported(format!("storage.{d}"))),
        [] => Err(invalid("storage", "a storage driver is required")),
        _ => Err(invalid("storage", "more than one storage driver is configured")),
    }
}

#[cfg(test)]
mod tests;
