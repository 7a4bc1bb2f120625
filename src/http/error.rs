//! OCI error responses, and the one place registry errors become them.

use std::borrow::Cow;

use http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{registry::RegistryError, storage::StorageError};

/// An error as the API answers it: a status and one entry of the spec's
/// `{"errors":[{"code","message","detail"}]}` body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OCI (or distribution) error code.
    pub code: &'static str,
    /// The code's standard message, or one that says more where clients
    /// show nothing but the message.
    pub message: Cow<'static, str>,
    /// What exactly went wrong.
    pub detail: Box<Value>,
    /// Extra headers (e.g. `Range` on a 416).
    pub headers: Vec<(&'static str, String)>,
    /// Set when an immutable-tag rule refused the request, for the metrics
    /// and the `deny` event.
    pub refusal: Option<Box<Refusal>>,
}

/// A change an immutable-tag rule refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The repository.
    pub name: String,
    /// The tag.
    pub tag: String,
    /// The rule's name.
    pub rule: String,
    /// What the tag was to point at, if anything.
    pub digest: Option<String>,
    /// What was refused.
    pub operation: &'static str,
}

impl ApiError {
    /// An error with no detail.
    pub fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        ApiError {
            status,
            code,
            message: Cow::Borrowed(message),
            detail: Box::new(Value::Null),
            headers: Vec::new(),
            refusal: None,
        }
    }

    /// Replaces the standard message.
    pub fn message(mut self, message: String) -> Self {
        self.message = Cow::Owned(message);
        self
    }

    /// Adds a detail.
    pub fn detail(mut self, detail: impl Into<Value>) -> Self {
        self.detail = Box::new(detail.into());
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The JSON body, fields in distribution's order.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Entry<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Value::is_null")]
            detail: &'a Value,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            errors: [Entry<'a>; 1],
        }
        let body = Body { errors: [Entry { code: self.code, message: &self.message, detail: &self.detail }] };
        serde_json::to_string(&body).unwrap_or_default()
    }

    /// DIGEST_INVALID.
    pub fn digest_invalid(detail: impl Into<Value>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "provided digest did not match uploaded content")
            .detail(detail)
    }

    /// NAME_INVALID.
    pub fn name_invalid(detail: impl Into<Value>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "NAME_INVALID", "invalid repository name").detail(detail)
    }

    /// PAGINATION_NUMBER_INVALID.
    pub fn pagination(detail: impl Into<Value>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
            .detail(detail)
    }

    /// BLOB_UPLOAD_INVALID, with distribution's status (404: the client
    /// should start a new upload).
    pub fn upload_invalid(detail: impl Into<Value>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "BLOB_UPLOAD_INVALID", "blob upload invalid").detail(detail)
    }

    /// UNSUPPORTED: the method is not defined for this path.
    pub fn method_not_allowed() -> Self {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "The operation is unsupported.")
            .detail("method not allowed on this endpoint")
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        use RegistryError as E;
        let detail = e.to_string();
        match e {
            E::NameInvalid(_) => ApiError::name_invalid(detail),
            E::NameUnknown(name) => {
                ApiError::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository name not known to registry")
                    .detail(json!({ "name": name.as_str() }))
            }
            E::DigestInvalid(_) => ApiError::digest_invalid(detail),
            E::TagInvalid(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "TAG_INVALID", "manifest tag did not match URI").detail(detail)
            }
            E::BlobUnknown(d) => ApiError::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown to registry")
                .detail(json!({ "digest": d.to_string() })),
            E::BlobUploadUnknown => {
                ApiError::new(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
            }
            E::BlobUploadInvalid(_) | E::Body(_) => ApiError::upload_invalid(detail),
            E::RangeInvalid { size, .. } => {
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID", "invalid content range")
                    .detail(detail)
                    .header("Range", upload_range(size))
            }
            E::SizeInvalid(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "SIZE_INVALID", "provided length did not match content length")
                    .detail(detail)
            }
            E::TagMoved { tag, expected, actual } => {
                ApiError::new(StatusCode::CONFLICT, "TAG_MOVED", "a tag moved since it was read").detail(json!({
                    "tag": tag.as_str(),
                    "expected": expected.map(|d| d.to_string()),
                    "actual": actual.map(|d| d.to_string()),
                }))
            }
            // docker and the other clients print the message: it names the
            // rule, so the user knows why and where to look.
            E::Immutable { name, tag, rule, digest, operation } => {
                let refusal = Refusal {
                    name: name.to_string(),
                    tag: tag.to_string(),
                    rule,
                    digest: digest.map(|d| d.to_string()),
                    operation,
                };
                ApiError {
                    refusal: Some(Box::new(refusal)),
                    ..ApiError::new(StatusCode::FORBIDDEN, "DENIED", "requested access to the resource is denied")
                        .message(detail.clone())
                        .detail(detail)
                }
            }
            E::ManifestUnknown(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown").detail(detail)
            }
            E::ManifestInvalid(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", "manifest invalid").detail(detail)
            }
            E::ManifestBlobUnknown(d) => {
                ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry")
                    .detail(json!({ "digest": d.to_string() }))
            }
            E::Unsupported(_) => {
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "The operation is unsupported.")
                    .detail(detail)
            }
            E::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "service unavailable").detail(detail)
            }
            E::Storage(StorageError::Full(_)) => {
                tracing::error!(error = %detail, "storage full");
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "UNKNOWN", "storage is full, nothing was stored")
            }
            E::Storage(_) => {
                tracing::error!(error = %detail, "storage failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "unknown error")
            }
        }
    }
}

/// The `Range` header of an upload holding `size` bytes: distribution's
/// `0-<last byte>`, and `0-0` for an empty upload.
pub fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}
