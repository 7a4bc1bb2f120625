//! A client for a running registry, behind the `berth ls`, `berth tags`,
//! `berth image inspect`, `berth repo|tag|image delete` and `berth tag
//! copy|promote|history|rollback` commands: what the seeds' cleanup workflow
//! did with curl and `rm -R`, and their promotion of `beta` to `latest`.
//!
//! It speaks the registry API over HTTP or HTTPS and answers auth challenges
//! the way docker does (Basic, or a Bearer token from the challenge's realm).
//! It works against berth and, except for `repo delete` (berth's own route),
//! against any registry that allows deletes.

mod auth;
pub mod command;
mod error;
mod insecure;
mod inspect;
mod lifecycle;
mod list;
mod moves;
mod output;
pub mod probe;
mod progress;
pub mod target;
mod transport;
mod upstream;

use bytes::Bytes;
use http::{Method, StatusCode, header};

pub use auth::Credentials;
pub use error::ClientError;
pub use transport::{Trust, Url};
pub use upstream::Upstream;

use self::{
    auth::{authorize, parse_challenge},
    error::from_answer,
    transport::{Answer, Transport},
};
use crate::registry::{Digest, Reference, RepoName, Tag};

/// Every manifest type a registry may hold: without them in `Accept`, a
/// registry may convert the manifest (or refuse), and the digest would not
/// be the stored one.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// A connection to one registry, with the credentials to answer challenges.
pub struct Client {
    base: Url,
    transport: Transport,
    credentials: Option<Credentials>,
    /// The last `Authorization` that worked, sent first on the next request.
    authorization: Option<String>,
}

impl Client {
    /// A client for the registry at `base` (`http(s)://host:port[/prefix]`).
    pub fn new(base: &str, trust: &Trust, credentials: Option<Credentials>) -> Result<Client, ClientError> {
        Ok(Client { base: Url::parse(base)?, transport: Transport::new(trust)?, credentials, authorization: None })
    }

    /// Deletes a whole repository through berth's admin route.
    pub async fn delete_repository(&mut self, name: &RepoName) -> Result<(), ClientError> {
        self.expect(Method::DELETE, &format!("/v2/_berth/repositories/{name}"), StatusCode::ACCEPTED).await.map(drop)
    }

    /// Deletes a tag; the manifest it pointed at stays, reachable by digest.
    pub async fn delete_tag(&mut self, name: &RepoName, tag: &Tag) -> Result<(), ClientError> {
        self.expect(Method::DELETE, &format!("/v2/{name}/manifests/{tag}"), StatusCode::ACCEPTED).await.map(drop)
    }

    /// Deletes a manifest, and with it every tag pointing at it. A tag is
    /// first resolved to the digest it points at. Returns the digest.
    pub async fn delete_image(&mut self, name: &RepoName, reference: &Reference) -> Result<Digest, ClientError> {
        let digest = match reference {
            Reference::Digest(digest) => digest.clone(),
            Reference::Tag(_) => self.resolve(name, reference).await?,
        };
        self.expect(Method::DELETE, &format!("/v2/{name}/manifests/{digest}"), StatusCode::ACCEPTED).await?;
        Ok(digest)
    }

    /// The digest of the manifest a tag or digest names, from a HEAD that
    /// accepts every manifest type (the seeds' `curl -I -H Accept:` step).
    pub async fn resolve(&mut self, name: &RepoName, reference: &Reference) -> Result<Digest, ClientError> {
        let path = format!("/v2/{name}/manifests/{reference}");
        let answer = self.send(Method::HEAD, &path, &[(header::ACCEPT.as_str(), MANIFEST_TYPES)]).await?;
        if answer.status != StatusCode::OK {
            // A HEAD answer has no body: ask again for the error's code.
            let answer = self.send(Method::GET, &path, &[(header::ACCEPT.as_str(), MANIFEST_TYPES)]).await?;
            return Err(from_answer(&format!("GET {path}"), answer.status, &answer.body));
        }
        let digest = answer.header(header::HeaderName::from_static("docker-content-digest"));
        let unusable = || ClientError::Transport {
            url: self.base.join(&path).to_string(),
            reason: format!("no valid Docker-Content-Digest in the answer ({digest:?})"),
        };
        digest.and_then(|d| d.parse().ok()).ok_or_else(unusable)
    }

    /// Sends a request and insists on one status.
    async fn expect(&mut self, method: Method, path: &str, status: StatusCode) -> Result<Answer, ClientError> {
        let answer = self.send(method.clone(), path, &[]).await?;
        if answer.status == status {
            Ok(answer)
        } else {
            Err(from_answer(&format!("{method} {path}"), answer.status, &answer.body))
        }
    }

    /// Sends a request to a path under the base URL; on a 401, answers the
    /// challenge and sends it once more.
    async fn send(&mut self, method: Method, path: &str, headers: &[(&str, &str)]) -> Result<Answer, ClientError> {
        let url = self.base.join(path);
        self.send_to(method, &url, headers).await
    }

    /// As `send`, to any URL of this registry (a `Link` to follow).
    async fn send_to(&mut self, method: Method, url: &Url, headers: &[(&str, &str)]) -> Result<Answer, ClientError> {
        self.send_body(method, url, headers, Bytes::new()).await
    }

    /// Sends a request with a body (empty: none); on a 401, answers the
    /// challenge and sends it once more.
    async fn send_body(
        &mut self,
        method: Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let answer = self.send_authorized(&method, url, headers, body.clone()).await?;
        if answer.status != StatusCode::UNAUTHORIZED {
            return Ok(answer);
        }
        let Some(challenge) = answer.header(header::WWW_AUTHENTICATE).and_then(parse_challenge) else {
            return Ok(answer);
        };
        self.authorization = Some(authorize(&self.transport, &challenge, self.credentials.as_ref()).await?);
        self.send_authorized(&method, url, headers, body).await
    }

    async fn send_authorized(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let mut all = headers.to_vec();
        if let Some(authorization) = &self.authorization {
            all.push((header::AUTHORIZATION.as_str(), authorization));
        }
        self.transport.send_body(method, url, &all, body).await
    }
}
