//! The stylesheet and the script, embedded in the binary.

use http::{StatusCode, header};

use super::super::{
    error::ApiError,
    response::{self, Reply, set},
};

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/copy.js");

/// Serves one asset. They change only with the binary, so browsers keep
/// them for a day instead of asking on every page.
pub fn serve(file: &str) -> Result<Reply, ApiError> {
    let (content_type, body) = match file {
        "style.css" => ("text/css; charset=utf-8", STYLE),
        "copy.js" => ("text/javascript; charset=utf-8", SCRIPT),
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such file")),
    };
    let mut reply = response::bytes(StatusCode::OK, content_type, body.into());
    set(&mut reply, header::CACHE_CONTROL, "public, max-age=86400");
    set(&mut reply, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    Ok(reply)
}
