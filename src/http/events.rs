//! Notification events from requests: the http layer knows who asked
//! (`request`, `actor`) and what URL the content has; the registry's
//! results say what the content is. Publishing never waits (see
//! `notifications`).

use std::net::SocketAddr;

use http::header;

use super::{App, error::Refusal, request::Req};
use crate::{
    notifications::{Action, ActorRecord, BerthRecord, Descriptor, Origin, RequestRecord, Target},
    registry::{BlobInfo, Digest, RepoName, manifest::parse},
};

/// The request part of every event a request causes, built before the
/// request is consumed. The actor is filled in once authentication says
/// who it is.
pub(super) fn origin<B>(req: &http::Request<B>, peer: Option<SocketAddr>) -> Origin {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    // As distribution's RemoteAddr: the first proxy hop's client, if any.
    let addr = header("x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .or_else(|| header("x-real-ip"))
        .map(|a| a.trim().to_owned())
        .or_else(|| peer.map(|p| p.to_string()))
        .unwrap_or_default();
    let host = header(header::HOST.as_str())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    Origin {
        request: RequestRecord {
            id: uuid::Uuid::new_v4().to_string(),
            addr,
            host,
            method: req.method().to_string(),
            useragent: header(header::USER_AGENT.as_str()).unwrap_or_default().to_owned(),
        },
        actor: ActorRecord::default(),
    }
}

impl App {
    /// Publishes an event about this request. The target is only built
    /// when some endpoint listens.
    pub(super) fn publish(&self, req: &Req, action: Action, target: impl FnOnce() -> Target) {
        if let Some(origin) = &req.origin {
            self.notifier.publish(action, target(), origin);
        }
    }

    /// As `publish`, for an event a tag-lifecycle operation caused.
    pub(super) fn publish_with(&self, req: &Req, action: Action, berth: BerthRecord, target: impl FnOnce() -> Target) {
        if let Some(origin) = &req.origin {
            self.notifier.publish_with(action, target(), origin, berth);
        }
    }

    /// An immutable-tag rule refused the request: counted, logged, and
    /// announced as a `deny` event.
    pub(super) fn refused(&self, refusal: &Refusal, req: &Req) {
        self.metrics.immutable_refusal(&refusal.rule);
        tracing::info!(repository = %refusal.name, tag = %refusal.tag, rule = %refusal.rule, operation = refusal.operation, "immutable tag: change refused");
        let berth = BerthRecord {
            operation: refusal.operation.to_owned(),
            rule: refusal.rule.clone(),
            ..BerthRecord::default()
        };
        self.publish_with(req, Action::Deny, berth, || Target {
            digest: refusal.digest.clone().unwrap_or_default(),
            ..Target::tag(&refusal.name, &refusal.tag)
        });
    }

    /// A manifest that was pushed or pulled, by the tag the request named.
    pub(super) fn manifest_target(
        &self,
        req: &Req,
        name: &RepoName,
        tag: Option<&str>,
        digest: &Digest,
        body: &[u8],
    ) -> Target {
        let media_type = parse::served_media_type(body);
        let url = format!("{}/v2/{name}/manifests/{digest}", req.base_url);
        let references = if self.notifier.include_references() { references(body, &media_type) } else { Vec::new() };
        Target {
            references,
            ..Target::manifest(name.as_str(), &media_type, &digest.to_string(), body.len() as u64, url).with_tag(tag)
        }
    }
}

/// A blob that was pushed, pulled or mounted.
pub(super) fn blob_target(req: &Req, name: &RepoName, blob: &BlobInfo) -> Target {
    let url = format!("{}/v2/{name}/blobs/{}", req.base_url, blob.digest);
    Target::blob(name.as_str(), &blob.digest.to_string(), blob.size, url)
}

/// What a stored manifest references: its config, then its layers, or an
/// index's manifests (as distribution's `References()`).
fn references(body: &[u8], media_type: &str) -> Vec<Descriptor> {
    let Ok(manifest) = parse::parse(body, Some(media_type)) else { return Vec::new() };
    manifest
        .config
        .iter()
        .chain(&manifest.references)
        .map(|d| Descriptor {
            media_type: d.media_type.clone(),
            size: d.size,
            digest: d.digest.to_string(),
            urls: d.urls.clone(),
        })
        .collect()
}
