//! Typed values read from YAML nodes the way Go's yaml.v2 reads them into
//! distribution's fields, and written back for `berth config check`.
//!
//! A string field takes any scalar's text (`secret: 12345` is "12345"). A
//! boolean takes YAML 1.1 spellings (`yes`, `off`). An integer takes yaml.v2's
//! forms (`1_000`, `0x10`, `010` octal). A duration is a Go duration or a bare
//! integer of nanoseconds. Where yaml.v2 would refuse a single scalar for a
//! list, berth takes it as a list of one.

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

use super::{duration, tree::Node};

/// How the environment rule addresses what lies below a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Nothing below: the variable must name the value itself.
    Leaf,
    /// List elements, by index.
    List,
    /// Map entries, by lower-cased name (and list elements, by index, where
    /// the map holds a list).
    Map,
}

/// A value of a configuration key.
pub trait Value: Sized {
    /// How the environment rule addresses what lies below it.
    const SHAPE: Shape = Shape::Leaf;
    /// Reads a value (never null: a null key keeps its default). The error
    /// says what is wrong, quoting the value, without naming the key.
    fn read(node: &Node) -> Result<Self, String>;
    /// The value as YAML, secrets masked.
    fn write(&self) -> Node;
}

/// What a masked secret prints as.
pub const MASK: &str = "******";

/// A password, key or token: its `Debug` and its YAML never show it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the code that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl Value for Secret {
    fn read(node: &Node) -> Result<Self, String> {
        String::read(node).map(Secret)
    }

    fn write(&self) -> Node {
        if self.0.is_empty() { Node::string("") } else { Node::string(MASK) }
    }
}

/// The text of a scalar, or why the node is not one.
pub fn scalar(node: &Node) -> Result<&str, String> {
    match node {
        Node::Scalar(s) => Ok(&s.text),
        other => Err(format!("must be a single value, not {}", other.kind())),
    }
}

impl Value for String {
    fn read(node: &Node) -> Result<Self, String> {
        scalar(node).map(str::to_owned)
    }

    fn write(&self) -> Node {
        Node::string(self.as_str())
    }
}

impl Value for PathBuf {
    fn read(node: &Node) -> Result<Self, String> {
        scalar(node).map(PathBuf::from)
    }

    fn write(&self) -> Node {
        Node::string(self.to_string_lossy())
    }
}

/// YAML 1.1's booleans, as yaml.v2 resolves them (any letter case here).
pub const BOOLEANS: &[(&str, bool)] = &[
    ("true", true),
    ("yes", true),
    ("on", true),
    ("y", true),
    ("false", false),
    ("no", false),
    ("off", false),
    ("n", false),
];

impl Value for bool {
    fn read(node: &Node) -> Result<Self, String> {
        let text = scalar(node)?;
        BOOLEANS
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(text))
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("{text:?} is not a boolean (true or false)"))
    }

    fn write(&self) -> Node {
        Node::plain(self.to_string())
    }
}

/// An integer in yaml.v2's notations: sign, `_` separators, `0x`, `0b`,
/// `0o` and YAML 1.1's leading-zero octal.
fn integer(text: &str) -> Option<i128> {
    let cleaned = text.replace('_', "");
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    let (radix, digits) = if let Some(d) = digits.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = digits.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = digits.strip_prefix("0o") {
        (8, d)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -value } else { value })
}

/// Reads an integer of type `T`, naming the value when it does not fit.
fn read_integer<T: TryFrom<i128>>(node: &Node) -> Result<T, String> {
    let text = scalar(node)?;
    let n = integer(text).ok_or_else(|| format!("{text:?} is not an integer"))?;
    T::try_from(n)
        .map_err(|_| if n < 0 { format!("{text:?} must not be negative") } else { format!("{text:?} is too large") })
}

macro_rules! integer_values {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn read(node: &Node) -> Result<Self, String> {
                read_integer(node)
            }

            fn write(&self) -> Node {
                Node::plain(self.to_string())
            }
        }
    )*};
}

integer_values!(i64, u64, usize);

impl Value for Duration {
    fn read(node: &Node) -> Result<Self, String> {
        let text = scalar(node)?;
        duration::parse(text).ok_or_else(|| format!("{text:?} is not a duration (such as 10s, 1h30m or 168h)"))
    }

    fn write(&self) -> Node {
        Node::plain(duration::format(*self))
    }
}

impl<T: Value> Value for Option<T> {
    const SHAPE: Shape = T::SHAPE;

    fn read(node: &Node) -> Result<Self, String> {
        T::read(node).map(Some)
    }

    fn write(&self) -> Node {
        self.as_ref().map_or(Node::Null, T::write)
    }
}

impl<T: Value> Value for Vec<T> {
    const SHAPE: Shape = Shape::List;

    fn read(node: &Node) -> Result<Self, String> {
        match node {
            Node::Seq(items) => items
                .iter()
                .enumerate()
                .filter(|(_, item)| **item != Node::Null)
                .map(|(i, item)| T::read(item).map_err(|why| format!("item {i}: {why}")))
                .collect(),
            Node::Scalar(_) => T::read(node).map(|v| vec![v]),
            other => Err(format!("must be a list, not {}", other.kind())),
        }
    }

    fn write(&self) -> Node {
        Node::Seq(self.iter().map(T::write).collect())
    }
}

impl<T: Value> Value for BTreeMap<String, T> {
    const SHAPE: Shape = Shape::Map;

    fn read(node: &Node) -> Result<Self, String> {
        match node {
            Node::Map(entries) => entries
                .iter()
                .filter(|(_, v)| *v != Node::Null)
                .map(|(k, v)| T::read(v).map(|v| (k.clone(), v)).map_err(|why| format!("{k}: {why}")))
                .collect(),
            other => Err(format!("must be a mapping, not {}", other.kind())),
        }
    }

    fn write(&self) -> Node {
        Node::Map(self.iter().map(|(k, v)| (k.clone(), masked(k, v.write()))).collect())
    }
}

/// Free-form parameters (middleware options, gcs credentials): kept as YAML.
impl Value for Node {
    const SHAPE: Shape = Shape::Map;

    fn read(node: &Node) -> Result<Self, String> {
        Ok(node.clone())
    }

    fn write(&self) -> Node {
        match self {
            Node::Map(entries) => Node::Map(entries.iter().map(|(k, v)| (k.clone(), masked(k, v.write()))).collect()),
            Node::Seq(items) => Node::Seq(items.iter().map(Value::write).collect()),
            other => other.clone(),
        }
    }
}

/// Parts of key names that hold secrets in free-form maps (header names,
/// middleware options, credentials), compared without letter case.
const SECRET_NAMES: &[&str] =
    &["password", "secret", "token", "authorization", "privatekey", "private_key", "apikey", "accesskey", "accountkey"];

/// Masks the value of a map entry whose name says it is secret.
fn masked(key: &str, value: Node) -> Node {
    let key = key.to_ascii_lowercase();
    if !SECRET_NAMES.iter().any(|s| key.contains(s)) {
        return value;
    }
    match value {
        Node::Scalar(_) => Node::string(MASK),
        Node::Seq(items) => Node::Seq(items.iter().map(|_| Node::string(MASK)).collect()),
        other => other,
    }
}

/// Reads one of a fixed set of words (any letter case, as distribution
/// lower-cases them), listing the words when the value is none of them.
pub fn keyword<T: Copy>(node: &Node, words: &[(&str, T)]) -> Result<T, String> {
    let text = scalar(node)?;
    words.iter().find(|(w, _)| w.eq_ignore_ascii_case(text)).map(|(_, v)| *v).ok_or_else(|| {
        let list: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
        format!("{text:?} is not one of {}", list.join(", "))
    })
}

/// An enum of configuration words: its variants, their spellings, and its
/// `Value` implementation.
macro_rules! keywords {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every spelling, as config.yml writes it.
            pub const WORDS: &[(&str, $name)] = &[$(($word, $name::$variant)),*];

            /// As config.yml writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }
        }

        impl $crate::config::value::Value for $name {
            fn read(node: &$crate::config::tree::Node) -> Result<Self, String> {
                $crate::config::value::keyword(node, Self::WORDS)
            }

            fn write(&self) -> $crate::config::tree::Node {
                $crate::config::tree::Node::string(self.as_str())
            }
        }
    };
}

pub(crate) use keywords;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::parse;

    fn node(yaml: &str) -> Node {
        parse(&format!("v: {yaml}\n")).unwrap().0.get("v").cloned().unwrap()
    }

    #[test]
    fn strings_keep_the_text_yaml_would_type() {
        for (yaml, text) in [("12345", "12345"), ("0.1", "0.1"), ("yes", "yes"), ("'on'", "on"), ("1e3", "1e3")] {
            assert_eq!(String::read(&node(yaml)).unwrap(), text);
        }
        assert_eq!(String::read(&node("[a]")).unwrap_err(), "must be a single value, not a list");
    }

    #[test]
    fn booleans_take_yaml_1_1_spellings() {
        for (yaml, b) in [("yes", true), ("On", true), ("y", true), ("TRUE", true), ("no", false), ("off", false)] {
            assert_eq!(bool::read(&node(yaml)), Ok(b), "{yaml}");
        }
        assert_eq!(bool::read(&node("maybe")).unwrap_err(), "\"maybe\" is not a boolean (true or false)");
    }

    #[test]
    fn integers_take_yaml_v2_notations() {
        for (yaml, n) in [("1_000", 1000), ("0x10", 16), ("010", 8), ("0o10", 8), ("0b11", 3), ("-5", -5), ("+7", 7)] {
            assert_eq!(i64::read(&node(yaml)), Ok(n), "{yaml}");
        }
        assert_eq!(u64::read(&node("-1")).unwrap_err(), "\"-1\" must not be negative");
        assert_eq!(i64::read(&node("1.5")).unwrap_err(), "\"1.5\" is not an integer");
        assert!(i64::read(&node("0x")).is_err());
    }

    #[test]
    fn lists_and_maps() {
        assert_eq!(Vec::<String>::read(&node("[a, b]")).unwrap(), ["a", "b"]);
        assert_eq!(Vec::<String>::read(&node("nosniff")).unwrap(), ["nosniff"]);
        assert_eq!(Vec::<u64>::read(&node("[1, x]")).unwrap_err(), "item 1: \"x\" is not an integer");
        let map = BTreeMap::<String, Vec<String>>::read(&node("{X-A: [yes], Authorization: [Bearer t]}")).unwrap();
        assert_eq!(map["X-A"], ["yes"]);
        let written = map.write();
        assert_eq!(written.lookup("Authorization"), Some(&Node::Seq(vec![Node::string(MASK)])));
        assert_eq!(written.lookup("X-A"), Some(&Node::Seq(vec![Node::string("yes")])));
    }

    #[test]
    fn secrets_never_show() {
        let s = Secret::read(&node("hunter2")).unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.write(), Node::string(MASK));
        let params = node("{privatekey: /k.pem, baseurl: https://x, nested: {password: p}}").write();
        assert_eq!(params.lookup("privatekey"), Some(&Node::string(MASK)));
        assert_eq!(params.lookup("nested.password"), Some(&Node::string(MASK)));
        assert_eq!(params.lookup("baseurl").and_then(Node::text), Some("https://x"));
    }
}
