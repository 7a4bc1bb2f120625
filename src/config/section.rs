//! Sections: how each part of the typed configuration lists its keys, once,
//! for every walk over it.
//!
//! A section's `visit` names each key and the field that holds it. The same
//! `visit` serves reading a YAML tree (`Reader`: types, defaults, unknown keys,
//! every error collected), printing the effective configuration (`Writer`)
//! and resolving environment variables (`env`).

use super::{
    ConfigError,
    tree::{KeyPath, Node},
    value::Value,
};

/// A mapping of configuration keys.
pub trait Section {
    /// distribution's Go type for this section is a map (`storage`, `auth`),
    /// not a struct: the environment rule lower-cases every name below it
    /// instead of matching field names, and a single word (`storage: s3`)
    /// stands for that key with no settings.
    const GO_MAP: bool = false;

    /// Names each key with the field that holds it.
    fn visit<V: Visitor>(&mut self, v: &mut V);

    /// After reading: checks that involve several keys, and distribution's
    /// replacements for zero values.
    fn finish(&mut self, _at: &KeyPath, _p: &mut Problems) {}
}

/// A mapping that holds exactly one of several keys, each with its own
/// settings: the storage driver, the auth provider.
pub trait Choice: Sized {
    /// What a variant is, in messages ("storage driver").
    const WHAT: &'static str;
    /// The keys that select a variant.
    const KEYS: &'static [&'static str];
    /// The variant a key selects, with its default settings.
    fn select(key: &str) -> Self;
    /// The key of this variant.
    fn key(&self) -> &'static str;
    /// Names each key of the variant's settings.
    fn visit_variant<V: Visitor>(&mut self, v: &mut V);
    /// Checks the variant's settings.
    fn finish_variant(&mut self, _at: &KeyPath, _p: &mut Problems) {}
}

/// A walk over a section's keys.
pub trait Visitor {
    /// A key holding a value.
    fn value<T: Value>(&mut self, key: &str, field: &mut T);
    /// A key holding a section.
    fn section<S: Section>(&mut self, key: &str, field: &mut S);
    /// A key holding a section whose presence means something.
    fn optional<S: Section + Default>(&mut self, key: &str, field: &mut Option<S>);
    /// A key holding a list of sections.
    fn list<S: Section + Default>(&mut self, key: &str, field: &mut Vec<S>);
    /// The one key of `C::KEYS` present in this mapping.
    fn choice<C: Choice>(&mut self, field: &mut C);
}

/// A choice's variant seen as a section.
struct Variant<'c, C>(&'c mut C);

impl<C: Choice> Section for Variant<'_, C> {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        self.0.visit_variant(v);
    }

    fn finish(&mut self, at: &KeyPath, p: &mut Problems) {
        self.0.finish_variant(at, p);
    }
}

/// Errors and warnings collected while building a configuration.
#[derive(Debug, Default)]
pub struct Problems {
    /// Everything wrong, in the order found.
    pub errors: Vec<ConfigError>,
    /// Everything doubtful.
    pub warnings: Vec<String>,
    /// Keys set by environment variables, in the order applied.
    pub origins: Vec<(KeyPath, String)>,
}

impl Problems {
    /// A key whose value is wrong.
    pub fn invalid(&mut self, key: &KeyPath, why: impl Into<String>) {
        let var = self.origin(key);
        self.errors.push(ConfigError::Invalid { key: key.to_string(), why: why.into(), var });
    }

    /// A key distribution does not have.
    pub fn unknown(&mut self, key: &KeyPath) {
        let var = self.origin(key);
        self.errors.push(ConfigError::UnknownKey { key: key.to_string(), var });
    }

    /// A key that must be set.
    pub fn require(&mut self, at: &KeyPath, key: &str, present: bool) {
        if !present {
            self.invalid(&at.key(key), "is required");
        }
    }

    /// Something that works, but probably not as meant.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The variable that last set this key or a section around it.
    fn origin(&self, key: &KeyPath) -> Option<String> {
        self.origins.iter().rev().find(|(path, _)| path.contains(key)).map(|(_, var)| var.clone())
    }
}

/// Reads a section from a YAML node.
pub struct Reader<'a> {
    entries: &'a [(String, Node)],
    seen: Vec<bool>,
    at: KeyPath,
    p: &'a mut Problems,
}

impl Reader<'_> {
    /// Reads `section` from `node` found at `at`: values over the defaults it
    /// holds, then unknown keys, then the section's own checks.
    pub fn read<S: Section>(node: &Node, at: &KeyPath, section: &mut S, p: &mut Problems) {
        let word_form;
        let entries = match node {
            Node::Map(entries) => entries.as_slice(),
            Node::Null => &[],
            Node::Scalar(word) if S::GO_MAP => {
                word_form = [(word.text.clone(), Node::Null)];
                &word_form[..]
            }
            other => return p.invalid(at, format!("must be a mapping, not {}", other.kind())),
        };
        let mut reader = Reader { entries, seen: vec![false; entries.len()], at: at.clone(), p };
        section.visit(&mut reader);
        for ((key, _), seen) in entries.iter().zip(&reader.seen) {
            if !seen {
                reader.p.unknown(&at.key(key));
            }
        }
        section.finish(at, reader.p);
    }

    /// The node under a key, null included; marks the key as known.
    fn entry(&mut self, key: &str) -> Option<&Node> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        self.seen[i] = true;
        Some(&self.entries[i].1)
    }

    /// The node under a key unless it is null (which keeps the default).
    fn child(&mut self, key: &str) -> Option<&Node> {
        self.entry(key).filter(|node| **node != Node::Null)
    }
}

impl Visitor for Reader<'_> {
    fn value<T: Value>(&mut self, key: &str, field: &mut T) {
        let Some(node) = self.child(key) else { return };
        match T::read(node) {
            Ok(value) => *field = value,
            Err(why) => self.p.invalid(&self.at.key(key), why),
        }
    }

    fn section<S: Section>(&mut self, key: &str, field: &mut S) {
        let Some(node) = self.child(key).cloned() else { return };
        Reader::read(&node, &self.at.key(key), field, self.p);
    }

    fn optional<S: Section + Default>(&mut self, key: &str, field: &mut Option<S>) {
        let Some(node) = self.child(key).cloned() else { return };
        let mut section = S::default();
        Reader::read(&node, &self.at.key(key), &mut section, self.p);
        *field = Some(section);
    }

    fn list<S: Section + Default>(&mut self, key: &str, field: &mut Vec<S>) {
        let Some(node) = self.child(key).cloned() else { return };
        let at = self.at.key(key);
        let Node::Seq(items) = node else {
            return self.p.invalid(&at, format!("must be a list, not {}", node.kind()));
        };
        *field = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut section = S::default();
                Reader::read(item, &at.index(i), &mut section, self.p);
                section
            })
            .collect();
    }

    fn choice<C: Choice>(&mut self, field: &mut C) {
        let present: Vec<&str> = C::KEYS.iter().copied().filter(|k| self.entry(k).is_some()).collect();
        match present[..] {
            [key] => {
                let node = self.entry(key).cloned().unwrap_or(Node::Null);
                *field = C::select(key);
                Reader::read(&node, &self.at.key(key), &mut Variant(field), self.p);
            }
            [] => self.p.invalid(&self.at, format!("name one {} ({})", C::WHAT, C::KEYS.join(", "))),
            _ => self.p.invalid(&self.at, format!("more than one {}: {}", C::WHAT, present.join(", "))),
        }
    }
}

/// Writes a section as YAML, leaving out what is unset or empty.
#[derive(Default)]
pub struct Writer {
    entries: Vec<(String, Node)>,
}

impl Writer {
    /// The section as a YAML mapping.
    pub fn write<S: Section>(section: &mut S) -> Node {
        let mut writer = Writer::default();
        section.visit(&mut writer);
        Node::Map(writer.entries)
    }

    fn push(&mut self, key: &str, node: Node) {
        let blank = node.is_empty() || node.text() == Some("");
        if !blank {
            self.entries.push((key.to_owned(), node));
        }
    }
}

impl Visitor for Writer {
    fn value<T: Value>(&mut self, key: &str, field: &mut T) {
        self.push(key, field.write());
    }

    fn section<S: Section>(&mut self, key: &str, field: &mut S) {
        self.push(key, Writer::write(field));
    }

    fn optional<S: Section + Default>(&mut self, key: &str, field: &mut Option<S>) {
        if let Some(section) = field {
            self.push(key, Writer::write(section));
        }
    }

    fn list<S: Section + Default>(&mut self, key: &str, field: &mut Vec<S>) {
        self.push(key, Node::Seq(field.iter_mut().map(Writer::write).collect()));
    }

    fn choice<C: Choice>(&mut self, field: &mut C) {
        let key = field.key();
        let settings = Writer::write(&mut Variant(field));
        self.entries.push((key.to_owned(), settings));
    }
}
