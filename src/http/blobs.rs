//! `/v2/<name>/blobs/<digest>`: GET, HEAD, DELETE.

use http::{Method, StatusCode, header};

use super::{
    App,
    error::ApiError,
    events,
    range::{RangeRequest, parse_range},
    request::Req,
    response::{self, Reply, set},
};
use crate::{
    notifications::{Action, Target},
    registry::{Digest, RepoName},
};

/// Parses a digest from a URL or query, as DIGEST_INVALID when it is not one.
pub fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse().map_err(|e: crate::registry::digest::DigestError| ApiError::digest_invalid(e.to_string()))
}

/// Serves one blob request.
pub async fn handle(app: &App, req: &Req, name: &RepoName, digest: &str) -> Result<Reply, ApiError> {
    let digest = parse_digest(digest)?;
    match req.method {
        Method::GET | Method::HEAD => get(app, req, name, &digest).await,
        Method::DELETE => {
            app.registry.delete_blob(name, &digest).await?;
            app.publish(req, Action::Delete, || Target::deleted(name.as_str(), &digest.to_string()));
            Ok(response::empty(StatusCode::ACCEPTED))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn get(app: &App, req: &Req, name: &RepoName, digest: &Digest) -> Result<Reply, ApiError> {
    // A HEAD may tell a pushing client to skip an upload, so it claims the
    // blob against collection; a GET is a pull and claims nothing.
    let info = if req.method == Method::HEAD {
        app.registry.stat_blob(name, digest).await?
    } else {
        app.registry.stat_blob_for_pull(name, digest).await?
    };
    // As distribution: a 307 to the storage's signed URL, ranges and all
    // left to the storage, and still a pull event.
    if let Some(url) = app.registry.blob_redirect(digest, &req.method).await? {
        let mut reply = response::empty(StatusCode::TEMPORARY_REDIRECT);
        set(&mut reply, header::LOCATION, &url);
        app.publish(req, Action::Pull, || events::blob_target(req, name, &info));
        return Ok(reply);
    }
    let size = info.size;
    let (status, start, len) = match parse_range(req.header(header::RANGE), size) {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.len),
        RangeRequest::Unsatisfiable => {
            let e = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID", "invalid content range")
                .detail(format!("blob has {size} bytes"))
                .header("Content-Range", format!("bytes */{size}"));
            return Err(e);
        }
    };
    let mut reply = if req.method == Method::HEAD || len == 0 {
        let mut r = response::empty(status);
        set(&mut r, header::CONTENT_LENGTH, &len.to_string());
        r
    } else {
        response::stream(status, len, app.registry.pull_blob(name, &info, start, len).await?)
    };
    if status == StatusCode::PARTIAL_CONTENT {
        set(&mut reply, header::CONTENT_RANGE, &format!("bytes {start}-{}/{size}", start + len - 1));
    }
    // HEAD too, as distribution 2.8 (its ServeBlob serves both).
    app.publish(req, Action::Pull, || events::blob_target(req, name, &info));
    let d = digest.to_string();
    set(&mut reply, header::CONTENT_TYPE, "application/octet-stream");
    set(&mut reply, "Docker-Content-Digest", &d);
    set(&mut reply, header::ETAG, &format!("\"{d}\""));
    set(&mut reply, header::ACCEPT_RANGES, "bytes");
    set(&mut reply, header::CACHE_CONTROL, "max-age=31536000");
    Ok(reply)
}
