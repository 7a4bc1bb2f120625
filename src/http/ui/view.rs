//! The HTML of each page, from plain values. maud escapes every `(value)`
//! it inserts, so a name, tag or annotation can never become markup.

use maud::{DOCTYPE, Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use time::{OffsetDateTime, macros::format_description};

use crate::registry::{Digest, ManifestDetail, Referrer, TagInfo};

/// What query values escape: everything but unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A query value, escaped.
pub fn query_value(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// The page of a repository.
pub fn repository_url(prefix: &str, name: &str) -> String {
    format!("{prefix}/ui/r/{name}")
}

/// The page of a manifest.
pub fn manifest_url(prefix: &str, name: &str, digest: &Digest) -> String {
    format!("{prefix}/ui/r/{name}/m/{digest}")
}

/// The confirmation page of a delete; `what` is `tag=..`, `digest=..` or
/// empty for the whole repository.
pub fn delete_url(prefix: &str, name: &str, what: &str) -> String {
    let query = if what.is_empty() { String::new() } else { format!("?{what}") };
    format!("{prefix}/ui/r/{name}/-/delete{query}")
}

/// Bytes in binary units, one decimal.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

fn size_cell(bytes: u64) -> Markup {
    html! { td.num.size data-bytes=(bytes) title={ (bytes) " bytes" } { (human_size(bytes)) } }
}

fn short(digest: &Digest) -> String {
    let hex = digest.hex();
    format!("{}:{}", digest.algorithm().as_str(), &hex[..hex.len().min(12)])
}

fn digest_link(prefix: &str, name: &str, digest: &Digest) -> Markup {
    html! { a.digest href=(manifest_url(prefix, name, digest)) title=(digest) { code { (short(digest)) } } }
}

fn timestamp(at: std::time::SystemTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    OffsetDateTime::from(at).format(format).unwrap_or_default()
}

/// A command with a copy button (shown only when the script runs).
fn pull_command(command: &str) -> Markup {
    html! { div.pull { code.command { (command) } button.copy type="button" data-copy=(command) { "Copy" } } }
}

/// The frame of every page.
pub fn layout(prefix: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · berth" }
                link rel="stylesheet" href={ (prefix) "/ui/-/style.css" };
                script src={ (prefix) "/ui/-/copy.js" } defer {}
            }
            body {
                header { a.brand href={ (prefix) "/ui/" } { "berth" } span.muted { "registry" } }
                main { (body) }
            }
        }
    }
}

/// An error page.
pub fn error(prefix: &str, code: &str, message: &str, detail: &str) -> Markup {
    layout(
        prefix,
        message,
        html! {
            h1 { (message) }
            p { code { (code) } @if !detail.is_empty() { " " span.detail { (detail) } } }
            p { a href={ (prefix) "/ui/" } { "Back to the catalog" } }
        },
    )
}

/// The catalog page.
pub struct CatalogView<'a> {
    /// `http.prefix`.
    pub prefix: &'a str,
    /// The search, if any.
    pub query: &'a str,
    /// This page's names.
    pub names: &'a [String],
    /// Names in the registry.
    pub total: usize,
    /// Names matching the search.
    pub matching: usize,
    /// The link to the next page, when there is one.
    pub next: Option<String>,
}

/// The catalog: search box, counts, names, next-page link.
pub fn catalog(v: &CatalogView<'_>) -> Markup {
    let body = html! {
        h1 { "Repositories" }
        form.search method="get" action={ (v.prefix) "/ui/" } {
            input type="search" name="q" value=(v.query) placeholder="Search repositories" aria-label="Search";
            button type="submit" { "Search" }
        }
        p.muted.count {
            @if v.query.is_empty() { (v.total) " repositories" }
            @else { (v.matching) " of " (v.total) " repositories match " code { (v.query) } }
        }
        ul.repos { @for name in v.names { li { a href=(repository_url(v.prefix, name)) { (name) } } } }
        @if let Some(next) = &v.next { nav.pages { a.next href=(next) { "Next page →" } } }
    };
    layout(v.prefix, "Repositories", body)
}

/// A repository's page.
pub struct RepositoryView<'a> {
    /// `http.prefix`.
    pub prefix: &'a str,
    /// The repository.
    pub name: &'a str,
    /// Where pulls go: `host[:port][/prefix]`.
    pub host: &'a str,
    /// This page's tags.
    pub tags: &'a [TagInfo],
    /// Bytes of the distinct blobs the repository links.
    pub storage: u64,
    /// Whether delete links show.
    pub deletes: bool,
    /// The link to the next page of tags, when there is one.
    pub next: Option<String>,
}

/// A repository: storage used, then one row per tag.
pub fn repository(v: &RepositoryView<'_>) -> Markup {
    let body = html! {
        h1 { (v.name) }
        p.muted { "Storage used: " span.storage data-bytes=(v.storage) { (human_size(v.storage)) }
            " (distinct blobs linked by this repository)" }
        table.tags {
            thead { tr { th { "Tag" } th { "Digest" } th.num { "Size" } th { "Platforms" } th { "Pushed" }
                th { "Pull" } @if v.deletes { th {} } } }
            tbody { @for t in v.tags { (tag_row(v, t)) } }
        }
        @if v.tags.is_empty() { p.muted { "No tags." } }
        @if let Some(next) = &v.next { nav.pages { a.next href=(next) { "Next page →" } } }
        @if v.deletes {
            h2 { "Danger zone" }
            a.button.danger href=(delete_url(v.prefix, v.name, "")) { "Delete repository…" }
        }
    };
    layout(v.prefix, v.name, body)
}

fn tag_row(v: &RepositoryView<'_>, t: &TagInfo) -> Markup {
    let (size, platforms) = match &t.image {
        Some(image) => (Some(image.size), image.platforms.join(", ")),
        None => (None, String::new()),
    };
    html! {
        tr.tag data-tag=(t.tag) {
            td.name { (t.tag) }
            td { a.digest href={ (manifest_url(v.prefix, v.name, &t.digest)) "?tag=" (t.tag) } title=(t.digest) {
                code { (short(&t.digest)) } } }
            @match size { Some(bytes) => (size_cell(bytes)), None => td.num { "?" } }
            td.platforms { (platforms) }
            td.pushed { (timestamp(t.pushed)) }
            td { (pull_command(&format!("docker pull {}/{}:{}", v.host, v.name, t.tag))) }
            @if v.deletes {
                td { a.danger href=(delete_url(v.prefix, v.name, &format!("tag={}", query_value(&t.tag)))) { "Delete…" } }
            }
        }
    }
}

/// A manifest's page.
pub struct ManifestView<'a> {
    /// `http.prefix`.
    pub prefix: &'a str,
    /// The repository.
    pub name: &'a str,
    /// Where pulls go.
    pub host: &'a str,
    /// The manifest.
    pub m: &'a ManifestDetail,
    /// The tag the page was opened from, for its pull command.
    pub tag: Option<&'a str>,
    /// Manifests whose subject this is.
    pub referrers: &'a [Referrer],
    /// Whether the delete link shows.
    pub deletes: bool,
}

/// A manifest: facts, pull commands, config, layers or children,
/// annotations, referrers.
pub fn manifest(v: &ManifestView<'_>) -> Markup {
    let m = v.m;
    let body = html! {
        h1 { a href=(repository_url(v.prefix, v.name)) { (v.name) } "@" (short(&m.digest)) }
        dl.facts {
            dt { "Digest" } dd { code.digest { (m.digest) } }
            dt { "Media type" } dd { (m.media_type) }
            dt { "Size" } dd.size data-bytes=(m.size) { (m.size) " bytes" }
            @if let Some(t) = &m.artifact_type { dt { "Artifact type" } dd { (t) } }
            @if let Some(s) = &m.subject { dt { "Subject" } dd { (digest_link(v.prefix, v.name, s)) } }
        }
        h2 { "Pull" }
        @if let Some(tag) = v.tag { (pull_command(&format!("docker pull {}/{}:{tag}", v.host, v.name))) }
        (pull_command(&format!("docker pull {}/{}@{}", v.host, v.name, m.digest)))
        (parts(v))
        @if !m.annotations.is_empty() {
            h2 { "Annotations" }
            table.annotations { @for (k, value) in &m.annotations { tr { th { (k) } td { (json_text(value)) } } } }
        }
        h2 { "Referrers" }
        @if v.referrers.is_empty() { p.muted { "None." } } @else { (referrers(v)) }
        @if v.deletes {
            h2 { "Danger zone" }
            a.button.danger href=(delete_url(v.prefix, v.name, &format!("digest={}", query_value(&m.digest.to_string())))) {
                "Delete manifest…" }
        }
    };
    layout(v.prefix, &format!("{}@{}", v.name, short(&m.digest)), body)
}

/// A JSON value as text: strings as they are, anything else as JSON.
fn json_text(value: &serde_json::Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// An image's config and layers, or an index's children.
fn parts(v: &ManifestView<'_>) -> Markup {
    let m = v.m;
    html! {
        @if let Some(config) = &m.config {
            h2 { "Config" }
            p.muted { (config.media_type) " · " code { (config.digest) } " · " (config.size) " bytes" }
            @if let Some(json) = &m.config_json {
                pre.config { (serde_json::to_string_pretty(json).unwrap_or_default()) }
            }
        }
        @if m.child_platforms.is_empty() {
            h2 { "Layers" }
            table.layers {
                thead { tr { th { "#" } th { "Media type" } th { "Digest" } th.num { "Size" } } }
                tbody { @for (i, l) in m.references.iter().enumerate() {
                    tr { td { (i + 1) } td { (l.media_type) } td { code title=(l.digest) { (short(&l.digest)) } } (size_cell(l.size)) }
                } }
            }
        } @else {
            h2 { "Manifests" }
            table.children {
                thead { tr { th { "Platform" } th { "Media type" } th { "Digest" } th.num { "Size" } } }
                tbody { @for (c, platform) in m.references.iter().zip(&m.child_platforms) {
                    tr { td { (platform.as_deref().unwrap_or("")) } td { (c.media_type) }
                        td { (digest_link(v.prefix, v.name, &c.digest)) } (size_cell(c.size)) }
                } }
            }
        }
    }
}

fn referrers(v: &ManifestView<'_>) -> Markup {
    html! {
        table.referrers {
            thead { tr { th { "Digest" } th { "Artifact type" } th { "Annotations" } } }
            tbody { @for r in v.referrers {
                tr {
                    td { @match r.digest.parse::<Digest>() {
                        Ok(d) => (digest_link(v.prefix, v.name, &d)),
                        Err(_) => code { (r.digest) },
                    } }
                    td.artifact-type { (r.artifact_type.as_deref().unwrap_or("")) }
                    td { @for (k, value) in r.annotations.iter().flatten() { div { code { (k) } ": " (json_text(value)) } } }
                }
            } }
        }
    }
}

/// The confirmation page of a delete.
pub struct ConfirmView<'a> {
    /// `http.prefix`.
    pub prefix: &'a str,
    /// The repository.
    pub name: &'a str,
    /// What goes, in words.
    pub what: &'a str,
    /// Hidden form fields: `tag` or `digest`.
    pub fields: &'a [(&'a str, String)],
    /// The form token.
    pub token: &'a str,
    /// Where "Cancel" goes.
    pub back: &'a str,
}

/// "Delete X?" with the form that does it.
pub fn confirm(v: &ConfirmView<'_>) -> Markup {
    let body = html! {
        h1 { "Delete " (v.what) "?" }
        p { "This cannot be undone. Blobs stay until garbage collection removes the ones nothing references." }
        form.confirm method="post" action=(delete_url(v.prefix, v.name, "")) {
            @for (k, value) in v.fields { input type="hidden" name=(k) value=(value); }
            input type="hidden" name="token" value=(v.token);
            button.danger type="submit" { "Delete" } " "
            a.button href=(v.back) { "Cancel" }
        }
    };
    layout(v.prefix, &format!("Delete {}", v.what), body)
}
