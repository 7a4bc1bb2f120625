//! `REGISTRY_*` environment variables, by distribution's rule
//! (`configuration/parser.go`), applied to the YAML tree before it is typed.
//!
//! - Variables are applied in lexical order of their names, so
//!   `REGISTRY_STORAGE=s3` replaces the storage section before
//!   `REGISTRY_STORAGE_S3_BUCKET` fills it in.
//! - The name after `REGISTRY_` is split on `_`. Each part names a field of
//!   distribution's Go structs by its Go field name, in any letter case; the
//!   few Go names that differ from the YAML keys are in `GO_NAMES`. Below a
//!   Go map (`storage`, `auth`, driver parameters, middleware options, header
//!   maps, `log.fields`) each part, lower-cased, is a map key. In a list a
//!   part is an index; the index one past the end appends.
//! - The value is read as YAML, and replaces what was there.
//! - A name that matches no field is ignored with a warning; `version` cannot
//!   be overridden; `REGISTRY_CONFIGURATION_PATH` names the file instead.

use super::{
    section::{Choice, Problems, Section, Visitor},
    tree::{self, KeyPath, Node, Seg},
    value::{Shape, Value},
};

/// The Go field names that differ from their YAML keys (beyond letter
/// case), by the YAML path of the section that holds them (`[]` is any list
/// element).
pub const GO_NAMES: &[(&str, &str, &str)] = &[
    ("notifications", "events", "EventConfig"),
    ("health", "file", "FileCheckers"),
    ("health", "http", "HTTPCheckers"),
    ("health", "tcp", "TCPCheckers"),
    ("log.hooks[]", "options", "MailOptions"),
    ("compatibility.schema1", "signingkeyfile", "TrustKey"),
];

/// Go structs inlined into a section: a variable may name the inlined
/// struct's field before the field inside it (`REGISTRY_REDIS_OPTIONS_ADDRS`
/// as well as `REGISTRY_REDIS_ADDRS`, distribution 3.1).
const INLINED: &[(&str, &str)] = &[("redis", "Options")];

/// Names the variable rule leaves alone.
const NOT_OVERRIDES: &[&str] = &["REGISTRY_CONFIGURATION_PATH"];

/// Applies the variables to the tree; returns the names of those applied.
pub fn apply(
    tree: &mut Node,
    root: &mut impl Section,
    env: impl IntoIterator<Item = (String, String)>,
    p: &mut Problems,
) -> Vec<String> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with("REGISTRY_") && !NOT_OVERRIDES.contains(&name.as_str()))
        .collect();
    vars.sort();
    let mut applied = Vec::new();
    for (name, value) in vars {
        let parts: Vec<&str> = name.split('_').skip(1).collect();
        if parts.len() == 1 && parts[0].eq_ignore_ascii_case("version") {
            p.warn(format!("{name} is ignored: the version comes from the configuration file"));
            continue;
        }
        let mut resolve = Resolve::new(&parts);
        root.visit(&mut resolve);
        match resolve.found {
            Some(Ok(target)) => match override_with(tree, &target, &value) {
                Ok(()) => {
                    p.origins.push((target.path, name.clone()));
                    applied.push(name);
                }
                Err(why) => p.errors.push(super::ConfigError::Env { var: name, why }),
            },
            Some(Err(why)) => p.errors.push(super::ConfigError::Env { var: name, why }),
            None => {
                let hint = resolve.hint.map(|h| format!(" ({h})")).unwrap_or_default();
                p.warn(format!("{name} matches no configuration key and is ignored{hint}"));
            }
        }
    }
    applied
}

/// Where a variable leads.
struct Target {
    path: KeyPath,
    /// The length of the path's prefix that is a Go map section (`storage`,
    /// `auth`), where a single word stands for a key with no settings.
    word_form: Option<usize>,
}

/// Reads the value as YAML and puts it at the target.
fn override_with(tree: &mut Node, target: &Target, value: &str) -> Result<(), String> {
    let (node, _) = tree::parse(value).map_err(|e| format!("{value:?} is not valid YAML: {e}"))?;
    if let Some(n) = target.word_form {
        tree.expand_word(&target.path.0[..n]);
    }
    tree.set(&target.path.0, node).map_err(|why| format!("cannot set `{}`: {why}", target.path))
}

/// Follows a variable's name through the typed configuration's fields.
struct Resolve<'a> {
    parts: &'a [&'a str],
    at: KeyPath,
    found: Option<Result<Target, String>>,
    hint: Option<String>,
}

impl<'a> Resolve<'a> {
    fn new(parts: &'a [&'a str]) -> Self {
        Resolve { parts, at: KeyPath::default(), found: None, hint: None }
    }

    /// The parts after this field's name, if the next part names it.
    fn enter(&mut self, key: &str) -> Option<&'a [&'a str]> {
        let (first, rest) = self.parts.split_first().filter(|_| self.found.is_none())?;
        let go = go_name(&self.at, key);
        if first.eq_ignore_ascii_case(go) {
            return Some(rest);
        }
        if first.eq_ignore_ascii_case(key) {
            let at = self.at.key(key);
            self.hint = Some(format!("distribution names `{at}` {} in variables", go.to_ascii_uppercase()));
        }
        None
    }

    /// Continues inside a section.
    fn descend<S: Section>(&mut self, path: KeyPath, rest: &'a [&'a str], section: &mut S) {
        if rest.is_empty() {
            return self.set(path, None);
        }
        if S::GO_MAP {
            let n = path.0.len();
            return self.set(map_path(path, rest), Some(n));
        }
        let rest = skip_inlined(&path, rest);
        let mut inner = Resolve { parts: rest, at: path, found: None, hint: None };
        section.visit(&mut inner);
        self.found = inner.found;
        self.hint = inner.hint.or(self.hint.take());
    }

    fn set(&mut self, path: KeyPath, word_form: Option<usize>) {
        self.found = Some(Ok(Target { path, word_form }));
    }
}

impl Visitor for Resolve<'_> {
    fn value<T: Value>(&mut self, key: &str, _field: &mut T) {
        let Some(rest) = self.enter(key) else { return };
        let path = self.at.key(key);
        match (T::SHAPE, rest) {
            (_, []) => self.set(path, None),
            (Shape::List, [index]) => match index.parse() {
                Ok(i) => self.set(path.index(i), None),
                Err(_) => self.found = Some(Err(format!("{index} is not a list index of `{path}`"))),
            },
            (Shape::Map, _) => self.set(map_path(path, rest), None),
            _ => {}
        }
    }

    fn section<S: Section>(&mut self, key: &str, field: &mut S) {
        let Some(rest) = self.enter(key) else { return };
        let path = self.at.key(key);
        self.descend(path, rest, field);
    }

    fn optional<S: Section + Default>(&mut self, key: &str, _field: &mut Option<S>) {
        let Some(rest) = self.enter(key) else { return };
        let path = self.at.key(key);
        self.descend(path, rest, &mut S::default());
    }

    fn list<S: Section + Default>(&mut self, key: &str, _field: &mut Vec<S>) {
        let Some(rest) = self.enter(key) else { return };
        let path = self.at.key(key);
        let Some((index, rest)) = rest.split_first() else { return self.set(path, None) };
        match index.parse() {
            Ok(i) => self.descend(path.index(i), rest, &mut S::default()),
            Err(_) => self.found = Some(Err(format!("{index} is not a list index of `{path}`"))),
        }
    }

    /// Choices sit in Go maps, which `descend` resolves without visiting.
    fn choice<C: Choice>(&mut self, _field: &mut C) {}
}

/// A field's Go name: its YAML key unless `GO_NAMES` says otherwise.
fn go_name<'k>(section: &KeyPath, key: &'k str) -> &'k str {
    let pattern = section.pattern();
    GO_NAMES.iter().find(|(s, k, _)| *s == pattern && *k == key).map_or(key, |(_, _, go)| go)
}

/// Drops the name of an inlined struct (`OPTIONS` in `REDIS_OPTIONS_ADDRS`).
fn skip_inlined<'a>(section: &KeyPath, rest: &'a [&'a str]) -> &'a [&'a str] {
    let pattern = section.pattern();
    match rest.split_first() {
        Some((first, inner)) if !inner.is_empty() => {
            let inlined = INLINED.iter().any(|(s, go)| *s == pattern && first.eq_ignore_ascii_case(go));
            if inlined { inner } else { rest }
        }
        _ => rest,
    }
}

/// Below a Go map every part, lower-cased, is a key.
fn map_path(mut path: KeyPath, rest: &[&str]) -> KeyPath {
    path.0.extend(rest.iter().map(|part| Seg::Key(part.to_ascii_lowercase())));
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_differ_only_where_listed() {
        let notifications = KeyPath::default().key("notifications");
        assert_eq!(go_name(&notifications, "events"), "EventConfig");
        assert_eq!(go_name(&notifications, "endpoints"), "endpoints");
        let hook = KeyPath::default().key("log").key("hooks").index(3);
        assert_eq!(go_name(&hook, "options"), "MailOptions");
    }

    #[test]
    fn inlined_names_are_skipped_only_before_a_field() {
        let redis = KeyPath::default().key("redis");
        assert_eq!(skip_inlined(&redis, &["OPTIONS", "ADDRS"]), ["ADDRS"]);
        assert_eq!(skip_inlined(&redis, &["OPTIONS"]), ["OPTIONS"]);
        assert_eq!(skip_inlined(&KeyPath::default().key("http"), &["OPTIONS", "X"]), ["OPTIONS", "X"]);
    }
}
