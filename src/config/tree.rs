//! The YAML tree: config.yml as written, before any typing.
//!
//! Scalars keep their source text and whether they were plain (unquoted and
//! untagged), because Go's yaml.v2 gives a string field the text as written:
//! `secret: 12345` is the string "12345", `version: 0.1` is "0.1" and a header
//! value `[yes]` is "yes". Whether `yes` is a boolean is decided later, by the
//! type of the field that reads it.
//!
//! The tree is built from the events of `granit_parser`, the YAML parser that
//! serde-saphyr is built on (re-exported by it, so it costs no dependency).
//! Like yaml.v2, a repeated key keeps its last value and `<<` merges mappings.

use std::{collections::HashMap, fmt};

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span};

/// How many nodes the aliases of one document may copy, all together: far
/// more than any configuration needs, far less than the billions that a
/// few hundred bytes of nested aliases ("billion laughs") expand to.
const MAX_ALIASED_NODES: usize = 100_000;

/// A YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `~`, `null` or nothing at all.
    Null,
    /// Any scalar, as text.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, keys unique.
    Map(Vec<(String, Node)>),
}

/// A scalar as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The text after YAML escape processing.
    pub text: String,
    /// Written without quotes or tag, so YAML may read it as a boolean or a
    /// number when the target type asks for one.
    pub plain: bool,
}

impl Node {
    /// A scalar that must print as a string.
    pub fn string(text: impl Into<String>) -> Node {
        Node::Scalar(Scalar { text: text.into(), plain: false })
    }

    /// A scalar that prints as it is (booleans, numbers, durations).
    pub fn plain(text: impl Into<String>) -> Node {
        Node::Scalar(Scalar { text: text.into(), plain: true })
    }

    /// How many nodes this one is made of, itself included.
    fn count(&self) -> usize {
        1 + match self {
            Node::Seq(items) => items.iter().map(Node::count).sum(),
            Node::Map(entries) => entries.iter().map(|(_, v)| v.count()).sum(),
            Node::Null | Node::Scalar(_) => 0,
        }
    }

    /// The value under a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a dotted path of mapping keys.
    pub fn lookup(&self, dotted: &str) -> Option<&Node> {
        dotted.split('.').try_fold(self, |node, key| node.get(key))
    }

    /// The scalar's text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// Null, or a mapping or sequence with nothing in it: sets nothing.
    pub fn is_empty(&self) -> bool {
        match self {
            Node::Null => true,
            Node::Scalar(_) => false,
            Node::Seq(items) => items.is_empty(),
            Node::Map(entries) => entries.is_empty(),
        }
    }

    /// Puts `value` at `path`, making the mappings and lists on the way. A
    /// key matches in any letter case; an index may be one past the end of
    /// its list, which appends.
    pub fn set(&mut self, path: &[Seg], value: Node) -> Result<(), String> {
        let Some((first, rest)) = path.split_first() else {
            *self = value;
            return Ok(());
        };
        // A numeric map key from a variable indexes a list that is there.
        let is_list = matches!(self, Node::Seq(_));
        let child = match first {
            Seg::Index(i) => self.element(*i)?,
            Seg::Key(key) => match key.parse() {
                Ok(i) if is_list => self.element(i)?,
                _ => self.entry(key)?,
            },
        };
        child.set(rest, value)
    }

    /// The element at `i` of a list (null is an empty list).
    fn element(&mut self, i: usize) -> Result<&mut Node, String> {
        if *self == Node::Null {
            *self = Node::Seq(Vec::new());
        }
        let Node::Seq(items) = self else { return Err(format!("it holds {}, not a list", self.kind())) };
        match i.cmp(&items.len()) {
            std::cmp::Ordering::Greater => Err(format!("index {i} is past the end of a list of {}", items.len())),
            std::cmp::Ordering::Equal => {
                items.push(Node::Null);
                Ok(&mut items[i])
            }
            std::cmp::Ordering::Less => Ok(&mut items[i]),
        }
    }

    /// The value under `key` of a mapping (null is an empty mapping).
    fn entry(&mut self, key: &str) -> Result<&mut Node, String> {
        if *self == Node::Null {
            *self = Node::Map(Vec::new());
        }
        let Node::Map(entries) = self else { return Err(format!("it holds {}, not a mapping", self.kind())) };
        let i = match entries.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some(i) => i,
            None => {
                entries.push((key.to_owned(), Node::Null));
                entries.len() - 1
            }
        };
        Ok(&mut entries[i].1)
    }

    /// Where a single word stands for a key with no settings (`storage: s3`,
    /// `auth: htpasswd`), turns the word at `path` into that mapping.
    pub fn expand_word(&mut self, path: &[Seg]) {
        let mut node = self;
        for seg in path {
            let next = match (seg, node) {
                (Seg::Key(k), Node::Map(entries)) => entries.iter_mut().find(|(key, _)| key.eq_ignore_ascii_case(k)),
                _ => None,
            };
            let Some((_, next)) = next else { return };
            node = next;
        }
        if let Node::Scalar(word) = node {
            *node = Node::Map(vec![(word.text.clone(), Node::Null)]);
        }
    }

    /// What kind of node this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Scalar(_) => "a scalar",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Where a value sits, printed as distribution's docs write keys:
/// `notifications.endpoints[0].url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// This path, one mapping key deeper.
    pub fn key(&self, key: &str) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        KeyPath(segs)
    }

    /// This path, one list element deeper.
    pub fn index(&self, index: usize) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        KeyPath(segs)
    }

    /// True when `other` is this path or lies below it.
    pub fn contains(&self, other: &KeyPath) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The path with `[]` for every index: `log.hooks[]`.
    pub fn pattern(&self) -> String {
        let any =
            KeyPath(self.0.iter().map(|s| if let Seg::Index(_) = s { Seg::Index(0) } else { s.clone() }).collect());
        any.to_string().replace("[0]", "[]")
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Parses one YAML document. Returns the tree and warnings (repeated keys).
pub fn parse(text: &str) -> Result<(Node, Vec<String>), String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| e.to_string())?;
        builder.event(event, span)?;
    }
    let root = builder.done.pop().unwrap_or(Node::Null);
    if !builder.done.is_empty() {
        return Err("the configuration must be a single YAML document".into());
    }
    Ok((root, builder.warnings))
}

/// A collection being built.
enum Open {
    Seq(Vec<Node>, usize),
    /// Entries, the key waiting for its value (with its line), `<<` merges,
    /// anchor id.
    Map(Vec<(String, Node)>, Option<(String, usize)>, Vec<Node>, usize),
}

#[derive(Default)]
struct Builder {
    open: Vec<Open>,
    done: Vec<Node>,
    anchors: HashMap<usize, Node>,
    /// Nodes copied by aliases so far.
    aliased: usize,
    warnings: Vec<String>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), String> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain && tag.is_none();
                let null = plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                let node = if null { Node::Null } else { Node::Scalar(Scalar { text: text.into_owned(), plain }) };
                self.value(node, anchor, span)
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).ok_or_else(|| at(span, "alias to an unknown anchor"))?;
                self.aliased += node.count();
                if self.aliased > MAX_ALIASED_NODES {
                    return Err(at(span, &format!("aliases copy more than {MAX_ALIASED_NODES} nodes")));
                }
                self.value(node.clone(), 0, span)
            }
            Event::SequenceStart(_, anchor, _) => {
                self.open.push(Open::Seq(Vec::new(), anchor));
                Ok(())
            }
            Event::MappingStart(_, anchor, _) => {
                self.open.push(Open::Map(Vec::new(), None, Vec::new(), anchor));
                Ok(())
            }
            Event::SequenceEnd => match self.open.pop() {
                Some(Open::Seq(items, anchor)) => self.value(Node::Seq(items), anchor, span),
                _ => Err(at(span, "unbalanced sequence")),
            },
            Event::MappingEnd => match self.open.pop() {
                Some(Open::Map(entries, _, merges, anchor)) => self.value(merged(entries, merges), anchor, span),
                _ => Err(at(span, "unbalanced mapping")),
            },
            _ => Ok(()),
        }
    }

    /// A finished node goes to its parent: a list item, a key, or a value.
    fn value(&mut self, node: Node, anchor: usize, span: Span) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.open.last_mut() {
            None => self.done.push(node),
            Some(Open::Seq(items, _)) => items.push(node),
            Some(Open::Map(_, key @ None, _, _)) => {
                let text = match node {
                    Node::Scalar(s) => s.text,
                    Node::Null => String::new(),
                    _ => return Err(at(span, "a mapping key must be a scalar")),
                };
                *key = Some((text, span.start.line()));
            }
            Some(Open::Map(entries, key @ Some(_), merges, _)) => {
                let (key, line) = key.take().unwrap_or_default();
                if key == "<<" {
                    merges.push(node);
                } else if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
                    self.warnings.push(format!("line {line}: key `{key}` is repeated; the last value wins"));
                    slot.1 = node;
                } else {
                    entries.push((key, node));
                }
            }
        }
        Ok(())
    }
}

/// Applies `<<: *anchor` merges: keys written in the mapping win.
fn merged(mut entries: Vec<(String, Node)>, merges: Vec<Node>) -> Node {
    let sources = merges.into_iter().flat_map(|m| match m {
        Node::Seq(items) => items,
        other => vec![other],
    });
    for source in sources {
        if let Node::Map(more) = source {
            for (k, v) in more {
                if !entries.iter().any(|(key, _)| *key == k) {
                    entries.push((k, v));
                }
            }
        }
    }
    Node::Map(entries)
}

fn at(span: Span, what: &str) -> String {
    format!("{what} at line {} column {}", span.start.line(), span.start.col() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        parse(text).unwrap().0
    }

    #[test]
    fn scalars_keep_their_text() {
        let t = tree("a: yes\nb: '12345'\nc: 0.1\nd: [yes]\ne:\nf: ~\ng: \"\"\n");
        assert_eq!(t.get("a"), Some(&Node::plain("yes")));
        assert_eq!(t.get("b"), Some(&Node::string("12345")));
        assert_eq!(t.lookup("c").and_then(Node::text), Some("0.1"));
        assert_eq!(t.get("d"), Some(&Node::Seq(vec![Node::plain("yes")])));
        assert_eq!(t.get("e"), Some(&Node::Null));
        assert_eq!(t.get("f"), Some(&Node::Null));
        assert_eq!(t.get("g"), Some(&Node::string("")));
    }

    #[test]
    fn repeated_keys_keep_the_last_value_and_warn() {
        let (t, warnings) = parse("a:\n  b: 1\na:\n  c: 2\n").unwrap();
        assert_eq!(t.lookup("a.c").and_then(Node::text), Some("2"));
        assert!(t.lookup("a.b").is_none());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("line 3"), "{warnings:?}");
    }

    #[test]
    fn anchors_aliases_and_merges() {
        let t = tree("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        assert_eq!(t.lookup("other.x").and_then(Node::text), Some("1"));
        assert_eq!(t.lookup("other.y").and_then(Node::text), Some("3"));
        assert!(matches!(t.get("list"), Some(Node::Seq(items)) if items.len() == 1));
    }

    /// A fuzz/config timeout (input made by hand, as libFuzzer had not yet
    /// reached it): 400 bytes of nested aliases made a hundred million
    /// nodes, over ten seconds of work in a release build, ten times that
    /// with one more line.
    #[test]
    fn refuses_alias_bombs() {
        let mut text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
        for i in 1..8 {
            text += &format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", "));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.contains("aliases copy more than 100000 nodes at line 5"), "{err}");
        // What a configuration does with anchors stays well within it.
        let shared = format!("s: &s {{{}}}\n", (0..100).map(|i| format!("k{i}: v")).collect::<Vec<_>>().join(", "));
        assert!(parse(&(shared + &(0..500).map(|i| format!("u{i}: *s\n")).collect::<String>())).is_ok());
    }

    #[test]
    fn refuses_bad_yaml_and_several_documents() {
        assert!(parse("a: [1, 2\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("{[1]: x}\n").is_err());
    }

    #[test]
    fn paths_print_like_the_docs() {
        let p = KeyPath::default().key("notifications").key("endpoints").index(0).key("url");
        assert_eq!(p.to_string(), "notifications.endpoints[0].url");
        assert!(KeyPath::default().key("notifications").contains(&p));
        assert!(!p.contains(&KeyPath::default().key("notifications")));
    }
}
