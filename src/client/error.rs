//! What a client command can fail with, and how a registry's error answer
//! becomes one.

use http::StatusCode;

/// Why a request to a registry failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A command-line argument or URL is not usable.
    #[error("{0}")]
    Usage(String),
    /// The CA file could not be read or holds no certificate.
    #[error("--cacert {path}: {reason}")]
    CaFile {
        /// The file given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection, TLS failure, or a broken HTTP exchange.
    #[error("{url}: {reason}")]
    Transport {
        /// What was being reached.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The registry wants credentials and none were given.
    #[error(
        "the registry asks for credentials: give --username with --password-stdin, or BERTH_USERNAME and BERTH_PASSWORD"
    )]
    CredentialsRequired,
    /// The registry answered with an OCI error.
    #[error("{code}: {message}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Registry {
        /// The HTTP status.
        status: StatusCode,
        /// The OCI error code (`NAME_UNKNOWN`, `UNAUTHORIZED`...).
        code: String,
        /// The error's message.
        message: String,
        /// Its detail, as JSON text, when there is one.
        detail: Option<String>,
    },
    /// A move refused (409 `TAG_MOVED`): a tag no longer points where the
    /// client read it, and the registry changed nothing.
    #[error(
        "tag {tag} moved since it was read (expected {}, now {}); nothing changed",
        .expected.as_deref().unwrap_or("absent"),
        .actual.as_deref().unwrap_or("absent")
    )]
    TagMoved {
        /// The tag.
        tag: String,
        /// The digest it was read at; `None`: it did not exist.
        expected: Option<String>,
        /// The digest it points at now; `None`: it no longer exists.
        actual: Option<String>,
    },
    /// A successful answer whose body is not what the API promises.
    #[error("{context}: {reason}")]
    Invalid {
        /// What was asked.
        context: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// Bytes that do not hash to the digest they were asked by or announced
    /// with: a broken or lying registry, or something in between.
    #[error("{what}: the bytes hash to {actual}, not {expected}; refusing them")]
    Integrity {
        /// What was fetched.
        what: String,
        /// The digest asked for or announced.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// The registry (or token server) answered something unexpected.
    #[error("{context}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Unexpected {
        /// What was asked.
        context: String,
        /// The HTTP status.
        status: StatusCode,
        /// The start of the answer's body.
        body: String,
    },
}

/// The largest part of an unexpected body shown in an error.
const SHOWN_BODY: usize = 200;

/// The error an unsuccessful answer carries: its first OCI error when the
/// body has one (a `TAG_MOVED` with its detail read), else the status and the
/// start of the body.
pub fn from_answer(context: &str, status: StatusCode, body: &[u8]) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        detail: serde_json::Value,
    }
    let Some(e) = serde_json::from_slice::<Body>(body).ok().and_then(|b| b.errors.into_iter().next()) else {
        let text = String::from_utf8_lossy(body);
        return ClientError::Unexpected {
            context: context.to_owned(),
            status,
            body: text.trim().chars().take(SHOWN_BODY).collect(),
        };
    };
    match serde_json::from_value::<Moved>(e.detail.clone()) {
        Ok(Moved { tag, expected, actual }) if e.code == "TAG_MOVED" => ClientError::TagMoved { tag, expected, actual },
        _ => {
            // A detail that only repeats the message (berth's DENIED) is not shown twice.
            let shown = !e.detail.is_null() && e.detail.as_str() != Some(e.message.as_str());
            ClientError::Registry {
                status,
                code: e.code,
                message: e.message,
                detail: shown.then(|| e.detail.to_string()),
            }
        }
    }
}

/// The detail of a `TAG_MOVED` error.
#[derive(serde::Deserialize)]
struct Moved {
    tag: String,
    expected: Option<String>,
    actual: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_errors_and_others() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"a"}}]}"#;
        let e = from_answer("DELETE x", StatusCode::NOT_FOUND, body);
        assert_eq!(e.to_string(), r#"NAME_UNKNOWN: repository name not known to registry ({"name":"a"})"#);
        let e = from_answer("DELETE x", StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>\n");
        assert_eq!(e.to_string(), "DELETE x: HTTP 502 Bad Gateway: <html>bad gateway</html>");
        let body = br#"{"errors":[{"code":"DENIED","message":"tag v1 is immutable","detail":"tag v1 is immutable"}]}"#;
        assert_eq!(from_answer("POST x", StatusCode::FORBIDDEN, body).to_string(), "DENIED: tag v1 is immutable");
    }

    #[test]
    fn a_tag_moved_names_both_digests() {
        let body = br#"{"errors":[{"code":"TAG_MOVED","message":"a tag moved since it was read","detail":{"tag":"latest","expected":"sha256:aa","actual":null}}]}"#;
        let e = from_answer("POST x", StatusCode::CONFLICT, body);
        assert_eq!(
            e.to_string(),
            "tag latest moved since it was read (expected sha256:aa, now absent); nothing changed"
        );
        // Without the detail it is an ordinary registry error.
        let body = br#"{"errors":[{"code":"TAG_MOVED","message":"a tag moved since it was read"}]}"#;
        let e = from_answer("POST x", StatusCode::CONFLICT, body);
        assert_eq!(e.to_string(), "TAG_MOVED: a tag moved since it was read");
    }
}
