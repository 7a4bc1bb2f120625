//! Prints a YAML tree as block-style YAML (`berth config check`).
//!
//! Strings are quoted whenever YAML 1.1 would read them as something else
//! (`"0.1"`, `"yes"`, `":5000"`), so the output reads back as it was meant.

use std::fmt::Write;

use super::{
    tree::{Node, Scalar},
    value::BOOLEANS,
};

/// The tree as a YAML document.
pub fn to_yaml(node: &Node) -> String {
    let mut out = String::new();
    match node {
        Node::Map(entries) if !entries.is_empty() => map(entries, 0, &mut out),
        Node::Seq(items) if !items.is_empty() => seq(items, 0, &mut out),
        other => out.push_str(&format!("{}\n", inline(other))),
    }
    out
}

/// YAML reads a key written before its `:` only up to this many characters.
const MAX_IMPLICIT_KEY: usize = 1024;

fn map(entries: &[(String, Node)], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (key, value) in entries {
        let key = quoted(key);
        // A longer key is written explicitly: `? key` on its own line, then
        // the `:` of its value below it.
        let key = if key.chars().count() > MAX_IMPLICIT_KEY { format!("? {key}\n{pad}") } else { key };
        match value {
            Node::Map(inner) if !inner.is_empty() => {
                let _ = writeln!(out, "{pad}{key}:");
                map(inner, indent + 2, out);
            }
            Node::Seq(items) if !items.is_empty() => {
                let _ = writeln!(out, "{pad}{key}:");
                seq(items, indent + 2, out);
            }
            other => {
                let _ = writeln!(out, "{pad}{key}: {}", inline(other));
            }
        }
    }
}

fn seq(items: &[Node], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Node::Map(entries) if !entries.is_empty() => {
                // The first key goes on the dash's line.
                let mut block = String::new();
                map(entries, indent + 2, &mut block);
                let _ = write!(out, "{pad}- {}", &block[indent + 2..]);
            }
            Node::Seq(inner) if !inner.is_empty() => {
                let _ = writeln!(out, "{pad}-");
                seq(inner, indent + 2, out);
            }
            other => {
                let _ = writeln!(out, "{pad}- {}", inline(other));
            }
        }
    }
}

/// A node that fits on one line: a scalar, null or an empty collection.
fn inline(node: &Node) -> String {
    match node {
        Node::Null => "null".into(),
        Node::Scalar(Scalar { text, plain: true }) => text.clone(),
        Node::Scalar(Scalar { text, plain: false }) => quoted(text),
        Node::Seq(_) => "[]".into(),
        Node::Map(_) => "{}".into(),
    }
}

/// Words YAML reads as null.
const NULLS: &[&str] = &["null", "~"];

/// A string as a plain scalar when that reads back as the same string, else
/// double-quoted.
fn quoted(text: &str) -> String {
    if plain_is_safe(text) {
        return text.to_owned();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn plain_is_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else { return false };
    let second = text.chars().nth(1);
    let numeric = first.is_ascii_digit() || ("+-.".contains(first) && second.is_some_and(|c| c.is_ascii_digit()));
    let indicator = "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace();
    let special_end = text.ends_with(char::is_whitespace) || text.ends_with(':');
    let special_inside = text.contains(": ") || text.contains(" #") || text.chars().any(char::is_control);
    let word = BOOLEANS.iter().map(|(w, _)| w).chain(NULLS).any(|w| w.eq_ignore_ascii_case(text));
    !(numeric || indicator || special_end || special_inside || word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::parse;

    #[test]
    fn strings_that_yaml_would_retype_are_quoted() {
        for (text, out) in [
            ("0.1", "\"0.1\""),
            ("yes", "\"yes\""),
            (":5000", "\":5000\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("/var/lib/registry", "/var/lib/registry"),
            ("nosniff", "nosniff"),
            ("line\nbreak", "\"line\\nbreak\""),
        ] {
            assert_eq!(quoted(text), out);
        }
    }

    /// Found by fuzz/config: an `http.headers` name of over 1024 characters
    /// (from a variable name) printed as YAML that did not read back.
    #[test]
    fn long_keys_read_back() {
        let long = "x".repeat(MAX_IMPLICIT_KEY + 1);
        let value = Node::Map(vec![("a".into(), Node::plain("1"))]);
        let entries = vec![
            (long.clone(), Node::plain("v")),
            (format!("{long}\n"), value.clone()),
            (long.clone() + "s", Node::Seq(vec![Node::Map(vec![(long.clone(), value)])])),
        ];
        let tree = Node::Map(entries);
        let printed = to_yaml(&tree);
        assert_eq!(parse(&printed).unwrap().0, tree, "{printed}");
        let at_limit = Node::Map(vec![("y".repeat(MAX_IMPLICIT_KEY), Node::plain("v"))]);
        assert!(!to_yaml(&at_limit).contains('?'), "a key the limit allows stays implicit");
    }

    #[test]
    fn output_reads_back_as_the_same_tree() {
        let text = "version: '0.1'\nhttp:\n  addr: ':5000'\n  headers:\n    X-A: ['yes', b]\nlist:\n  - name: a\n    url: u\n  - name: b\nempty: {}\nnested:\n  - [1, 2]\n";
        let (tree, _) = parse(text).unwrap();
        let printed = to_yaml(&tree);
        assert_eq!(parse(&printed).unwrap().0, tree, "{printed}");
        assert!(printed.contains("  - name: a\n    url: u\n"), "{printed}");
    }
}
