//! Tag history: every target a tag had, and when it was set.
//!
//! distribution already keeps a per-tag index of digests
//! (`tags/<tag>/index/<alg>/<hex>/link`), but no times. berth writes, beside
//! each index entry's `link`, a `history` file of JSON lines, one per time
//! the tag was pointed at that digest. distribution's walk of the index
//! reads only files named `link`, so it ignores them; an entry it wrote,
//! without a `history` file, counts as one push at its link's mtime.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::registry::{Digest, RegistryError, RepoName, Tag, layout};

/// How many sets one index entry remembers; older ones are dropped.
const KEEP: usize = 100;

/// How a tag came to point where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A manifest PUT by tag.
    Push,
    /// `berth tag copy`.
    Copy,
    /// `berth tag promote`.
    Promote,
    /// `berth tag rollback`.
    Rollback,
}

impl Via {
    /// The name in history files, routes and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Push => "push",
            Via::Copy => "copy",
            Via::Promote => "promote",
            Via::Rollback => "rollback",
        }
    }

    /// The variant of a name, for the admin route's `via`.
    pub fn parse(text: &str) -> Option<Via> {
        [Via::Push, Via::Copy, Via::Promote, Via::Rollback].into_iter().find(|v| v.as_str() == text)
    }
}

/// One time a tag was pointed at a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// When.
    pub at: SystemTime,
    /// At what.
    pub digest: Digest,
    /// How.
    pub via: Via,
    /// By whom: the authenticated user, or empty.
    pub by: String,
}

/// A tag's target now and every target it had, newest first.
#[derive(Debug, Clone, Default)]
pub struct TagHistory {
    /// Where the tag points now; `None` once it was deleted.
    pub current: Option<Digest>,
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
}

/// One line of a `history` file.
#[derive(Serialize, Deserialize)]
struct Line {
    at: String,
    via: Via,
    #[serde(default)]
    by: String,
}

impl Line {
    fn entry(&self, digest: &Digest) -> Option<HistoryEntry> {
        let at = OffsetDateTime::parse(&self.at, &Rfc3339).ok()?.into();
        Some(HistoryEntry { at, digest: digest.clone(), via: self.via, by: self.by.clone() })
    }
}

fn history_file(name: &RepoName, tag: &Tag, digest: &Digest) -> String {
    format!("{}/history", layout::tag_index_dir(name, tag, digest))
}

impl crate::registry::Registry {
    /// A tag's target and history.
    pub async fn tag_history(&self, name: &RepoName, tag: &Tag) -> Result<TagHistory, RegistryError> {
        let current = self.read_link(&layout::tag_current(name, tag)).await?;
        let mut entries = Vec::new();
        for digest in self.digests_in(&layout::tag_index(name, tag)).await? {
            entries.extend(self.index_entry(name, tag, &digest).await?);
        }
        entries.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.digest.to_string().cmp(&b.digest.to_string())));
        if current.is_none() && entries.is_empty() {
            return Err(RegistryError::ManifestUnknown(tag.to_string()));
        }
        Ok(TagHistory { current, entries })
    }

    /// The sets recorded for one index entry; distribution's entries, which
    /// have no `history`, count once at their link's mtime.
    async fn index_entry(
        &self,
        name: &RepoName,
        tag: &Tag,
        digest: &Digest,
    ) -> Result<Vec<HistoryEntry>, RegistryError> {
        match self.driver.get(&history_file(name, tag, digest)).await {
            Ok(body) => Ok(parse_lines(&body).iter().filter_map(|l| l.entry(digest)).collect()),
            Err(e) if e.is_not_found() => match self.driver.stat(&layout::tag_index_link(name, tag, digest)).await {
                Ok(stat) => Ok(vec![HistoryEntry {
                    at: stat.modified,
                    digest: digest.clone(),
                    via: Via::Push,
                    by: String::new(),
                }]),
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Records that the tag was just pointed at `digest`. Called with the
    /// tag's lock held, so two sets never lose each other's line.
    pub(super) async fn record_set(
        &self,
        name: &RepoName,
        tag: &Tag,
        digest: &Digest,
        via: Via,
        by: &str,
    ) -> Result<(), RegistryError> {
        let path = history_file(name, tag, digest);
        let mut lines = match self.driver.get(&path).await {
            Ok(body) => parse_lines(&body),
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let at = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        lines.push(Line { at, via, by: by.to_owned() });
        let skip = lines.len().saturating_sub(KEEP);
        let mut body = Vec::new();
        for line in &lines[skip..] {
            // Strings and a unit enum: serializing cannot fail.
            let _ = serde_json::to_writer(&mut body, line);
            body.push(b'\n');
        }
        Ok(self.driver.put(&path, body.into()).await?)
    }
}

/// The readable lines of a `history` file; a damaged line is skipped, not
/// fatal, as history only informs.
fn parse_lines(body: &[u8]) -> Vec<Line> {
    body.split(|b| *b == b'\n').filter_map(|l| serde_json::from_slice(l).ok()).collect()
}
