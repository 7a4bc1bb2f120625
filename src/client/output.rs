//! What the listing and inspect commands print: plain lines for people and
//! `grep`, or one JSON document for scripts (`--json`).

use std::fmt::Write;

use serde_json::json;

use super::inspect::{Descriptor, Inspection};

/// One repository per line, or `{"repositories":[...]}`.
pub fn repositories(names: &[String], json: bool) -> String {
    if json { document(&json!({ "repositories": names })) } else { lines(names) }
}

/// One tag per line, or `{"name":...,"tags":[...]}`.
pub fn tags(name: &str, tags: &[String], json: bool) -> String {
    if json { document(&json!({ "name": name, "tags": tags })) } else { lines(tags) }
}

/// An inspection as `key: value` lines with indented lists, or as JSON.
pub fn inspection(found: &Inspection, json: bool) -> String {
    if json {
        return document(found);
    }
    let mut out = String::new();
    let mut field = |key: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{:<14}{value}", format!("{key}:"));
    };
    field("name", &found.name);
    field("digest", &found.digest);
    field("media type", &found.media_type);
    field("size", &found.size);
    if let Some(artifact_type) = &found.artifact_type {
        field("artifact type", artifact_type);
    }
    if let Some(config) = &found.config {
        field("config", &format!("{} {} {}", config.digest, config.size, config.media_type));
    }
    if let Some(platform) = &found.platform {
        field("platform", platform);
    }
    if let Some(created) = &found.created {
        field("created", created);
    }
    if let Some(total) = found.total_size {
        field("total size", &total);
    }
    list(&mut out, "layers", found.layers.as_deref(), |d| format!("{} {} {}", d.digest, d.size, d.media_type));
    list(&mut out, "manifests", found.manifests.as_deref(), |d| {
        let platform = d.platform.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
        format!("{platform} {} {} {}", d.digest, d.size, d.media_type)
    });
    match &found.referrers {
        Some(referrers) => list(&mut out, "referrers", Some(referrers), |d| {
            format!("{} {} {}", d.digest, d.artifact_type.as_deref().unwrap_or("-"), d.media_type)
        }),
        None => out.push_str("referrers:    (the registry has no referrers API)\n"),
    }
    out
}

/// `key:` and then an indented line per entry; `key: none` when empty.
fn list(out: &mut String, key: &str, entries: Option<&[Descriptor]>, line: impl Fn(&Descriptor) -> String) {
    match entries {
        None => {}
        Some([]) => {
            let _ = writeln!(out, "{:<14}none", format!("{key}:"));
        }
        Some(entries) => {
            let _ = writeln!(out, "{key}:");
            for entry in entries {
                let _ = writeln!(out, "  {}", line(entry));
            }
        }
    }
}

fn lines(items: &[String]) -> String {
    items.iter().map(|item| format!("{item}\n")).collect()
}

fn document(value: &impl serde::Serialize) -> String {
    // Serializing plain data to a String cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
