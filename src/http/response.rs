//! Response bodies and builders.

use std::io;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::UnsyncBoxBody};

use super::error::ApiError;
use crate::storage::ByteStream;

/// The body type of every response.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A response under construction.
pub type Reply = Response<Body>;

/// A response with no body. `Content-Length: 0` is explicit because the
/// registry API says so for 201/202/204 answers and clients check it.
pub fn empty(status: StatusCode) -> Reply {
    let mut r = Response::new(Empty::new().map_err(|e| match e {}).boxed_unsync());
    *r.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    r
}

/// A response with a small in-memory body.
pub fn bytes(status: StatusCode, content_type: &str, body: Bytes) -> Reply {
    let len = body.len();
    let mut r = Response::new(Full::new(body).map_err(|e| match e {}).boxed_unsync());
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, content_type);
    set(&mut r, header::CONTENT_LENGTH, &len.to_string());
    r
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Reply {
    // Serializing our own types into a Vec cannot fail.
    let body = serde_json::to_vec(value).unwrap_or_default();
    bytes(status, "application/json; charset=utf-8", Bytes::from(body))
}

/// A streamed body of known length.
pub fn stream(status: StatusCode, len: u64, body: ByteStream) -> Reply {
    let frames = futures_util::StreamExt::map(body, |chunk| chunk.map(http_body::Frame::data));
    let mut r = Response::new(StreamBody::new(frames).boxed_unsync());
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_LENGTH, &len.to_string());
    r
}

/// The same response with an empty body and its headers (Content-Length
/// included) unchanged.
pub fn without_body(reply: Reply) -> Reply {
    let (parts, _) = reply.into_parts();
    Response::from_parts(parts, Empty::new().map_err(|e| match e {}).boxed_unsync())
}

/// The error response.
pub fn error(e: &ApiError) -> Reply {
    let mut r = bytes(e.status, "application/json; charset=utf-8", Bytes::from(e.body()));
    for (name, value) in &e.headers {
        set(&mut r, *name, value);
    }
    r
}

/// Sets a header; values come from digests, numbers and our own URLs, so a
/// value that is not a valid header is a bug and is dropped.
pub fn set<K: header::IntoHeaderName>(r: &mut Reply, name: K, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}
