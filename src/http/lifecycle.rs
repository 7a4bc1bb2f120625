//! berth's tag-lifecycle routes: `POST /v2/_berth/tags/<name>` moves tags
//! (copy, promote, rollback) with compare-and-swap, and
//! `GET /v2/_berth/history/<name>/<tag>` answers a tag's history.

use std::{collections::BTreeMap, time::SystemTime};

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{
    App,
    error::ApiError,
    request::Req,
    response::{self, Reply},
};
use crate::{
    notifications::{Action, BerthRecord},
    registry::{Digest, Moved, RepoName, Tag, TagMoves, Via},
};

/// The largest move request read: a promotion names a handful of tags.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A move request as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    via: String,
    #[serde(default)]
    expect: BTreeMap<String, Option<String>>,
    set: BTreeMap<String, String>,
}

/// One moved tag, as answered.
#[derive(Serialize)]
struct MovedReply {
    tag: String,
    digest: String,
    previous: Option<String>,
}

fn bad_request(detail: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", "the request is not a valid tag move").detail(detail)
}

fn tag(text: &str) -> Result<Tag, ApiError> {
    Tag::parse(text).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "TAG_INVALID", "manifest tag did not match URI")
            .detail(format!("invalid tag {text:?}"))
    })
}

fn digest(text: &str) -> Result<Digest, ApiError> {
    text.parse().map_err(|e| ApiError::digest_invalid(format!("{text:?}: {e}")))
}

/// Checks a request's tags, digests and `via`.
fn moves(request: MoveRequest, by: String) -> Result<TagMoves, ApiError> {
    let via = Via::parse(&request.via)
        .filter(|v| *v != Via::Push)
        .ok_or_else(|| bad_request(format!("via must be copy, promote or rollback, not {:?}", request.via)))?;
    if request.set.is_empty() {
        return Err(bad_request("set names no tag".into()));
    }
    let set = request.set.iter().map(|(t, d)| Ok((tag(t)?, digest(d)?))).collect::<Result<_, ApiError>>()?;
    let expect = request
        .expect
        .iter()
        .map(|(t, d)| Ok((tag(t)?, d.as_deref().map(digest).transpose()?)))
        .collect::<Result<_, ApiError>>()?;
    Ok(TagMoves { set, expect, via, by })
}

/// Serves `/v2/_berth/tags/<name>`.
pub async fn handle_moves(app: &App, req: &mut Req, name: &RepoName) -> Result<Reply, ApiError> {
    if req.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let body = req
        .collect(BODY_LIMIT)
        .await
        .map_err(|e| bad_request(format!("reading the body: {e}")))?
        .ok_or_else(|| bad_request(format!("body larger than {BODY_LIMIT} bytes")))?;
    let request: MoveRequest = serde_json::from_slice(&body).map_err(|e| bad_request(e.to_string()))?;
    let moves = moves(request, req.user.clone().unwrap_or_default())?;
    let via = moves.via;
    let moved = match app.registry.move_tags(name, moves).await {
        Err(e @ crate::registry::RegistryError::TagMoved { .. }) => {
            app.metrics.tag_conflict();
            return Err(e.into());
        }
        other => other?,
    };
    app.metrics.tags_moved(via.as_str(), moved.len() as u64);
    for m in &moved {
        publish_move(app, req, name, m, via).await;
    }
    let moved: Vec<MovedReply> = moved
        .into_iter()
        .map(|m| MovedReply {
            tag: m.tag.to_string(),
            digest: m.digest.to_string(),
            previous: m.previous.map(|d| d.to_string()),
        })
        .collect();
    Ok(response::json(StatusCode::OK, &serde_json::json!({ "name": name.as_str(), "moved": moved })))
}

/// A moved tag is announced as a push of its manifest by that tag, so a
/// listener that deploys on a push of `latest` sees a promotion too.
async fn publish_move(app: &App, req: &Req, name: &RepoName, moved: &Moved, via: Via) {
    if req.origin.is_none() {
        return;
    }
    let Ok(manifest) = app.registry.get_manifest(name, &crate::registry::Reference::Digest(moved.digest.clone())).await
    else {
        return;
    };
    let berth = BerthRecord {
        operation: via.as_str().to_owned(),
        previous: moved.previous.as_ref().map(ToString::to_string).unwrap_or_default(),
        ..BerthRecord::default()
    };
    app.publish_with(req, Action::Push, berth, || {
        app.manifest_target(req, name, Some(moved.tag.as_str()), &moved.digest, &manifest.body)
    });
}

/// Serves `/v2/_berth/history/<name>/<tag>`.
pub async fn handle_history(app: &App, req: &Req, name: &RepoName, tag_text: &str) -> Result<Reply, ApiError> {
    if !matches!(req.method, Method::GET | Method::HEAD) {
        return Err(ApiError::method_not_allowed());
    }
    let tag = tag(tag_text)?;
    let history = app.registry.tag_history(name, &tag).await?;
    let entries: Vec<serde_json::Value> = history
        .entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "digest": e.digest.to_string(),
                "at": rfc3339(e.at),
                "via": e.via.as_str(),
                "by": e.by,
            })
        })
        .collect();
    let current = history.current.map(|d| d.to_string());
    let body =
        serde_json::json!({ "name": name.as_str(), "tag": tag.as_str(), "current": current, "history": entries });
    Ok(response::json(StatusCode::OK, &body))
}

fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at).format(&Rfc3339).unwrap_or_default()
}
