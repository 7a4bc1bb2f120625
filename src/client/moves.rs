//! berth's tag admin routes as the client sees them: `POST
//! /v2/_berth/tags/<name>`, which moves tags all or none and only if each
//! still points where the client read it, and `GET
//! /v2/_berth/history/<name>/<tag>`; and a tag's current digest.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::{Client, ClientError, error::from_answer};
use crate::registry::{Digest, Reference, RepoName, Tag};

/// Why tags move: the `via` the route records in each tag's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `tag copy`.
    Copy,
    /// `tag promote`.
    Promote,
    /// `tag rollback`.
    Rollback,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Copy => "copy",
            Via::Promote => "promote",
            Via::Rollback => "rollback",
        }
    }
}

/// One request to the move route: the tags as they were read (`None`: the
/// tag did not exist) and where each tag of `set` goes.
#[derive(Debug)]
pub struct Moves {
    /// Recorded in the history.
    pub via: Via,
    /// Every tag read, at the digest read.
    pub expect: BTreeMap<Tag, Option<Digest>>,
    /// The tags to point, and at what.
    pub set: BTreeMap<Tag, Digest>,
}

/// A tag the route moved.
#[derive(Debug, Deserialize)]
pub struct Moved {
    /// The tag.
    pub tag: String,
    /// Where it points now.
    pub digest: String,
    /// Where it pointed before; `None`: it is new.
    pub previous: Option<String>,
}

/// The history route's answer, printed as is by `tag history --json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct History {
    /// The repository.
    pub name: String,
    /// The tag.
    pub tag: String,
    /// The digest the tag points at; `None`: it was deleted.
    pub current: Option<String>,
    /// Every time the tag was pointed somewhere, newest first.
    pub history: Vec<HistoryEntry>,
}

/// One time a tag was pointed at a digest.
#[derive(Debug, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The digest.
    pub digest: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// `push`, `copy`, `promote` or `rollback`.
    pub via: String,
    /// The user, or "" without auth.
    #[serde(default)]
    pub by: String,
}

impl Client {
    /// The digest a tag points at, `None` when the repository has no such tag.
    pub async fn current(&mut self, name: &RepoName, tag: &Tag) -> Result<Option<Digest>, ClientError> {
        match self.resolve(name, &Reference::Tag(tag.clone())).await {
            Err(ClientError::Registry { status: StatusCode::NOT_FOUND, code, .. }) if code == "MANIFEST_UNKNOWN" => {
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Moves tags in one step; the moved tags, sorted by tag. A tag that no
    /// longer points where it was read fails with `ClientError::TagMoved`.
    pub async fn move_tags(&mut self, name: &RepoName, moves: &Moves) -> Result<Vec<Moved>, ClientError> {
        #[derive(Deserialize)]
        struct Answer {
            moved: Vec<Moved>,
        }
        let body = serde_json::json!({
            "via": moves.via.as_str(),
            "expect": moves.expect.iter().map(|(t, d)| (t.to_string(), d.as_ref().map(Digest::to_string))).collect::<BTreeMap<_, _>>(),
            "set": moves.set.iter().map(|(t, d)| (t.to_string(), d.to_string())).collect::<BTreeMap<_, _>>(),
        });
        let path = format!("/v2/_berth/tags/{name}");
        let url = self.base.join(&path);
        let headers = [(header::CONTENT_TYPE.as_str(), "application/json")];
        let answer = self.send_body(Method::POST, &url, &headers, Bytes::from(body.to_string())).await?;
        let context = format!("POST {path}");
        if answer.status != StatusCode::OK {
            return Err(from_answer(&context, answer.status, &answer.body));
        }
        let answer: Answer = serde_json::from_slice(&answer.body)
            .map_err(|e| ClientError::Invalid { context, reason: e.to_string() })?;
        Ok(answer.moved)
    }

    /// A tag's history, newest first.
    pub async fn history(&mut self, name: &RepoName, tag: &Tag) -> Result<History, ClientError> {
        let url = self.base.join(&format!("/v2/_berth/history/{name}/{tag}"));
        let answer = self.get_page(&url, "").await?;
        serde_json::from_slice(&answer.body)
            .map_err(|e| ClientError::Invalid { context: format!("GET {url}"), reason: e.to_string() })
    }
}
