//! `/v2/<name>/manifests/<reference>`: GET, HEAD, PUT, DELETE.

use http::{Method, StatusCode, header};

use super::{
    App,
    error::ApiError,
    request::Req,
    response::{self, Reply, set},
};
use crate::{
    notifications::{Action, Target},
    registry::{Reference, RepoName, reference::ReferenceError},
};

/// The tag a reference names, for `target.tag`.
fn tag_of(reference: &Reference) -> Option<&str> {
    match reference {
        Reference::Tag(tag) => Some(tag.as_str()),
        Reference::Digest(_) => None,
    }
}

fn parse_reference(s: &str) -> Result<Reference, ApiError> {
    Reference::parse(s).map_err(|e| match e {
        ReferenceError::Digest(d) => ApiError::digest_invalid(d.to_string()),
        ReferenceError::Tag(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "TAG_INVALID", "manifest tag did not match URI")
                .detail(e.to_string())
        }
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID", "manifest invalid")
        .detail(format!("manifest larger than {limit} bytes (berth.limits.manifestsize)"))
}

/// Serves one manifest request.
pub async fn handle(app: &App, req: &mut Req, name: &RepoName, reference: &str) -> Result<Reply, ApiError> {
    let reference = parse_reference(reference)?;
    match req.method {
        Method::GET | Method::HEAD => {
            let m = app.registry.get_manifest(name, &reference).await?;
            // HEAD too: distribution 2.8 reads the manifest for both and
            // reports both as pulls (`request.method` tells them apart).
            app.publish(req, Action::Pull, || app.manifest_target(req, name, tag_of(&reference), &m.digest, &m.body));
            let digest = m.digest.to_string();
            let mut reply = if req.method == Method::HEAD {
                let mut r = response::empty(StatusCode::OK);
                set(&mut r, header::CONTENT_LENGTH, &m.body.len().to_string());
                set(&mut r, header::CONTENT_TYPE, &m.media_type);
                r
            } else {
                response::bytes(StatusCode::OK, &m.media_type, m.body)
            };
            set(&mut reply, "Docker-Content-Digest", &digest);
            set(&mut reply, header::ETAG, &format!("\"{digest}\""));
            Ok(reply)
        }
        Method::PUT => {
            let limit = app.limits.manifest_size;
            if req.content_length().is_some_and(|len| len > limit as u64) {
                return Err(too_large(limit));
            }
            let body = req
                .collect(limit)
                .await
                .map_err(|e| {
                    ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "manifest invalid")
                        .detail(format!("reading the manifest: {e}"))
                })?
                .ok_or_else(|| too_large(limit))?;
            let content_type = req.header(header::CONTENT_TYPE).map(str::to_owned);
            let put = app
                .registry
                .put_manifest(
                    name,
                    &reference,
                    content_type.as_deref(),
                    body.clone(),
                    req.user.as_deref().unwrap_or_default(),
                )
                .await?;
            app.publish(req, Action::Push, || app.manifest_target(req, name, tag_of(&reference), &put.digest, &body));
            let mut reply = response::empty(StatusCode::CREATED);
            set(&mut reply, "Location", &format!("{}/v2/{name}/manifests/{}", req.base_url, put.digest));
            set(&mut reply, "Docker-Content-Digest", &put.digest.to_string());
            if let Some(subject) = put.subject {
                set(&mut reply, "OCI-Subject", &subject.to_string());
            }
            Ok(reply)
        }
        Method::DELETE => {
            let tags = app.registry.delete_manifest(name, &reference).await?;
            // As distribution: the manifest first, then each tag it took along.
            if let Reference::Digest(digest) = &reference {
                app.publish(req, Action::Delete, || Target::deleted(name.as_str(), &digest.to_string()));
            }
            for tag in &tags {
                app.publish(req, Action::Delete, || Target::tag(name.as_str(), tag.as_str()));
            }
            Ok(response::empty(StatusCode::ACCEPTED))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
