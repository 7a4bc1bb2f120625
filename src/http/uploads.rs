//! `/v2/<name>/blobs/uploads/[<id>]`: start (plain, monolithic, mount),
//! PATCH, PUT, GET status, DELETE.

use http::{Method, StatusCode};

use super::{
    App,
    blobs::parse_digest,
    error::{ApiError, upload_range},
    events,
    request::Req,
    response::{self, Reply, set},
};
use crate::{
    notifications::{Action, Target},
    registry::{BlobInfo, RegistryError, RepoName, UploadStatus},
};

/// Serves one upload request.
pub async fn handle(app: &App, req: &mut Req, name: &RepoName, id: Option<&str>) -> Result<Reply, ApiError> {
    match (&req.method, id) {
        (&Method::POST, None) => start(app, req, name).await,
        (_, None) => Err(ApiError::method_not_allowed()),
        (method, Some(id)) => {
            if !req.query("_state").is_some_and(|s| app.signer.verify(name.as_str(), id, s)) {
                return Err(ApiError::upload_invalid(
                    "missing or invalid _state: use the Location the registry returned",
                ));
            }
            let method = method.clone();
            session(app, req, name, id, method).await
        }
    }
}

async fn session(app: &App, req: &mut Req, name: &RepoName, id: &str, method: Method) -> Result<Reply, ApiError> {
    match method {
        Method::GET => {
            let status = app.registry.upload_status(name, id).await?;
            Ok(progress(app, &req.base_url, name, &status, StatusCode::NO_CONTENT))
        }
        Method::PATCH => {
            let chunk = req.chunk()?;
            match app.registry.write_upload(name, id, chunk).await {
                Ok(status) => Ok(progress(app, &req.base_url, name, &status, StatusCode::ACCEPTED)),
                Err(e @ RegistryError::RangeInvalid { .. }) => {
                    let mut reply = response::error(&ApiError::from(e));
                    set(&mut reply, "Location", &location(app, &req.base_url, name, id));
                    set(&mut reply, "Docker-Upload-UUID", id);
                    Ok(reply)
                }
                Err(e) => Err(e.into()),
            }
        }
        Method::PUT => {
            let digest =
                parse_digest(req.query("digest").ok_or_else(|| ApiError::digest_invalid("digest parameter missing"))?)?;
            let last = if req.has_body() { Some(req.chunk()?) } else { None };
            let blob = app.registry.finish_upload(name, id, &digest, last).await?;
            app.publish(req, Action::Push, || events::blob_target(req, name, &blob));
            Ok(created(&req.base_url, name, &blob))
        }
        Method::DELETE => {
            app.registry.cancel_upload(name, id).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// POST: a cross-repository mount, a monolithic upload, or a new session.
async fn start(app: &App, req: &mut Req, name: &RepoName) -> Result<Reply, ApiError> {
    if let Some(mount) = req.query("mount").map(str::to_owned) {
        let digest = parse_digest(&mount)?;
        if let Some(from) = req.query("from") {
            let from = RepoName::parse(from).map_err(|e| ApiError::name_invalid(e.to_string()))?;
            if let Some(blob) = app.registry.mount_blob(name, &from, &digest).await? {
                app.publish(req, Action::Mount, || Target {
                    from_repository: from.to_string(),
                    ..events::blob_target(req, name, &blob)
                });
                return Ok(created(&req.base_url, name, &blob));
            }
        }
    } else if let Some(digest) = req.query("digest").map(str::to_owned) {
        let digest = parse_digest(&digest)?;
        let chunk = req.chunk()?;
        let blob = app.registry.upload_blob(name, &digest, chunk).await?;
        app.publish(req, Action::Push, || events::blob_target(req, name, &blob));
        return Ok(created(&req.base_url, name, &blob));
    }
    let status = app.registry.start_upload(name).await?;
    Ok(progress(app, &req.base_url, name, &status, StatusCode::ACCEPTED))
}

/// The URL of an upload session, signed.
fn location(app: &App, base: &str, name: &RepoName, id: &str) -> String {
    format!("{base}/v2/{name}/blobs/uploads/{id}?_state={}", app.signer.sign(name.as_str(), id))
}

/// A reply that tells a client where its session stands.
fn progress(app: &App, base: &str, name: &RepoName, status: &UploadStatus, code: StatusCode) -> Reply {
    let mut reply = response::empty(code);
    set(&mut reply, "Location", &location(app, base, name, &status.id));
    set(&mut reply, "Range", &upload_range(status.size));
    set(&mut reply, "Docker-Upload-UUID", &status.id);
    reply
}

/// 201 for a blob that now exists in the repository.
fn created(base: &str, name: &RepoName, blob: &BlobInfo) -> Reply {
    let mut reply = response::empty(StatusCode::CREATED);
    set(&mut reply, "Location", &format!("{base}/v2/{name}/blobs/{}", blob.digest));
    set(&mut reply, "Docker-Content-Digest", &blob.digest.to_string());
    reply
}
