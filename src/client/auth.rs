//! Answering a registry's `WWW-Authenticate` challenge as docker does:
//! `Basic` gets the credentials, `Bearer` sends them to the token server
//! named by `realm` and answers with the token it returns.

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{Method, header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::{
    error::{ClientError, from_answer},
    transport::{Transport, Url},
};

/// A user name and password.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    /// The `Authorization` value of Basic auth.
    fn basic(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.username, self.password)))
    }
}

/// What a 401 asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`.
    Bearer {
        /// The token server's URL.
        realm: String,
        /// The service to name to it.
        service: Option<String>,
        /// The access the request needs.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value; `None` for schemes berth cannot answer.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let (scheme, params) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let params = parse_params(params);
            let get = |key: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.clone());
            Some(Challenge::Bearer { realm: get("realm")?, service: get("service"), scope: get("scope") })
        }
        _ => None,
    }
}

/// `key=value` or `key="quoted, value"` pairs separated by commas.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = text.trim_start();
    while let Some((key, after)) = rest.split_once('=') {
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            }
        };
        params.push((key.trim().to_owned(), value));
        rest = after.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

/// A quoted string's value (after its opening quote) and what follows it.
fn unquote(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &text[i + 1..]),
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            c => value.push(c),
        }
    }
    (value, "")
}

/// The `Authorization` value that answers a challenge.
pub async fn authorize(
    transport: &Transport,
    challenge: &Challenge,
    credentials: Option<&Credentials>,
) -> Result<String, ClientError> {
    match challenge {
        Challenge::Basic => Ok(credentials.ok_or(ClientError::CredentialsRequired)?.basic()),
        Challenge::Bearer { realm, service, scope } => {
            let url = token_url(realm, service.as_deref(), scope.as_deref())?;
            let basic = credentials.map(Credentials::basic);
            let headers: Vec<(&str, &str)> =
                basic.iter().map(|b| (header::AUTHORIZATION.as_str(), b.as_str())).collect();
            let answer = transport.send(&Method::GET, &url, &headers).await?;
            if !answer.status.is_success() {
                return Err(from_answer(&format!("token from {url}"), answer.status, &answer.body));
            }
            Ok(format!("Bearer {}", token_of(&answer.body).ok_or_else(|| bad_token(&url))?))
        }
    }
}

fn bad_token(url: &Url) -> ClientError {
    ClientError::Transport { url: url.to_string(), reason: "the answer holds no token".into() }
}

/// The realm with `service` and `scope` as query parameters.
fn token_url(realm: &str, service: Option<&str>, scope: Option<&str>) -> Result<Url, ClientError> {
    let mut url = Url::parse(realm)?;
    let params = [("service", service), ("scope", scope)];
    for (key, value) in params.iter().filter_map(|(k, v)| Some((k, (*v)?))) {
        let sep = if url.target.contains('?') { '&' } else { '?' };
        url.target.push_str(&format!("{sep}{key}={}", utf8_percent_encode(value, NON_ALPHANUMERIC)));
    }
    Ok(url)
}

/// The token of a token server's answer: `token`, or OAuth's `access_token`.
fn token_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    answer.token.or(answer.access_token).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push repository:c:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push repository:c:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://t/x, scope="a\"b""#),
            Some(Challenge::Bearer { realm: "http://t/x".into(), service: None, scope: Some("a\"b".into()) })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None, "no realm to ask");
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn token_requests_and_answers() {
        let url = token_url("https://auth.example/token?a=1", Some("reg"), Some("repository:a/b:delete")).unwrap();
        assert_eq!(url.target, "/token?a=1&service=reg&scope=repository%3Aa%2Fb%3Adelete");
        assert_eq!(token_of(br#"{"token":"t1","expires_in":60}"#).as_deref(), Some("t1"));
        assert_eq!(token_of(br#"{"access_token":"t2"}"#).as_deref(), Some("t2"));
        assert_eq!(token_of(br#"{"token":""}"#), None);
    }

    #[test]
    fn basic() {
        let c = Credentials { username: "alice".into(), password: "s3cret".into() };
        assert_eq!(c.basic(), "Basic YWxpY2U6czNjcmV0");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
