//! The upstream of a pull-through cache (`proxy.remoteurl`): the registry
//! layer's `Remote`, spoken with this module's client, which answers Basic
//! and Bearer challenges with `proxy.username` and `proxy.password` as
//! docker does.

use std::{collections::HashMap, io, sync::Mutex, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{
    Client, Credentials, MANIFEST_TYPES,
    auth::{authorize, parse_challenge},
    error::{ClientError, from_answer},
    progress::Progress,
    transport::{Answer, Transport, Trust, Url},
};
use crate::registry::{
    ByteStream, Digest, RepoName, Tag,
    proxy::{Remote, RemoteError},
};

/// A blob download fails after this long without a byte from the upstream.
const SILENCE: Duration = Duration::from_secs(60);

/// A registry to fetch from.
pub struct Upstream {
    base: Url,
    transport: Transport,
    credentials: Option<Credentials>,
    /// The last `Authorization` that worked, by repository: a token's scope
    /// names one repository.
    authorizations: Mutex<HashMap<RepoName, String>>,
}

impl Upstream {
    /// The registry at `url`, trusted through the system's store (and
    /// `SSL_CERT_FILE`), with credentials for its challenges.
    pub fn new(url: &str, credentials: Option<Credentials>) -> Result<Upstream, ClientError> {
        let base = Url::parse(url)?;
        Ok(Upstream { base, transport: Transport::new(&Trust::System)?, credentials, authorizations: Mutex::default() })
    }

    /// A client for one repository's requests, with the authorization that
    /// worked last for it.
    fn client(&self, name: &RepoName) -> Client {
        let authorization = self.authorizations.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned();
        Client {
            base: self.base.clone(),
            transport: self.transport.clone(),
            credentials: self.credentials.clone(),
            authorization,
        }
    }

    /// Remembers what authorization the client ended up with.
    fn keep(&self, name: &RepoName, client: Client) {
        if let Some(authorization) = client.authorization {
            self.authorizations.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone(), authorization);
        }
    }

    /// One request about a repository; a 404 is `None`, any status but 200
    /// and 404 an error.
    async fn ask(&self, name: &RepoName, method: Method, path: &str) -> Result<Option<Answer>, RemoteError> {
        let mut client = self.client(name);
        let answer = client.send(method.clone(), path, &[(header::ACCEPT.as_str(), MANIFEST_TYPES)]).await;
        self.keep(name, client);
        let answer = answer.map_err(remote)?;
        match answer.status {
            StatusCode::OK => Ok(Some(answer)),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(remote(from_answer(&format!("{method} {path}"), status, &answer.body))),
        }
    }

    /// A blob GET or HEAD, following one redirect (to object storage)
    /// without credentials, as docker does.
    async fn open_blob(
        &self,
        name: &RepoName,
        method: Method,
        digest: &Digest,
    ) -> Result<Option<Response<Incoming>>, RemoteError> {
        let path = format!("/v2/{name}/blobs/{digest}");
        let mut client = self.client(name);
        let response = client.open(&method, &path).await;
        self.keep(name, client);
        let mut response = response.map_err(remote)?;
        if response.status().is_redirection()
            && let Some(location) = response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok())
        {
            let url = self.base.join(&path).resolve(location).map_err(remote)?;
            response = self.transport.open(&method, &url, &[]).await.map_err(remote)?;
        }
        match response.status() {
            StatusCode::OK => Ok(Some(response)),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(RemoteError(format!("{method} {path}: {status}"))),
        }
    }
}

impl Client {
    /// Sends a bodiless request and returns the answer unread; on a 401,
    /// answers the challenge and sends it once more.
    async fn open(&mut self, method: &Method, path: &str) -> Result<Response<Incoming>, ClientError> {
        let url = self.base.join(path);
        let response = self.open_authorized(method, &url).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
        let Some(challenge) = challenge.and_then(parse_challenge) else { return Ok(response) };
        self.authorization = Some(authorize(&self.transport, &challenge, self.credentials.as_ref()).await?);
        self.open_authorized(method, &url).await
    }

    async fn open_authorized(&self, method: &Method, url: &Url) -> Result<Response<Incoming>, ClientError> {
        let authorization = self.authorization.as_deref().map(|a| (header::AUTHORIZATION.as_str(), a));
        self.transport.open(method, url, authorization.as_slice()).await
    }
}

fn remote(e: ClientError) -> RemoteError {
    RemoteError(e.to_string())
}

/// The size an answer announces.
fn content_length(response: &Response<Incoming>) -> Result<u64, RemoteError> {
    let length = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    length.ok_or_else(|| RemoteError("the upstream's blob answer has no Content-Length".into()))
}

/// An answer's body as a stream that fails after `SILENCE` without bytes.
fn body_stream(response: Response<Incoming>) -> ByteStream {
    let data = response.into_body().into_data_stream();
    Box::pin(futures_util::stream::unfold(data, |mut data| async move {
        let item = match tokio::time::timeout(SILENCE, data.next()).await {
            Ok(Some(piece)) => piece.map_err(io::Error::other),
            Ok(None) => return None,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "the upstream sent nothing for 60s")),
        };
        Some((item, data))
    }))
}

#[async_trait]
impl Remote for Upstream {
    async fn resolve(&self, name: &RepoName, tag: &Tag) -> Result<Option<Digest>, RemoteError> {
        let Some(answer) = self.ask(name, Method::HEAD, &format!("/v2/{name}/manifests/{tag}")).await? else {
            return Ok(None);
        };
        let digest = answer.header(header::HeaderName::from_static("docker-content-digest"));
        let digest = digest.and_then(|d| d.parse().ok());
        digest.map(Some).ok_or_else(|| RemoteError(format!("no valid Docker-Content-Digest for {name}:{tag}")))
    }

    async fn manifest(&self, name: &RepoName, digest: &Digest) -> Result<Option<Bytes>, RemoteError> {
        let answer = self.ask(name, Method::GET, &format!("/v2/{name}/manifests/{digest}")).await?;
        Ok(answer.map(|a| a.body))
    }

    async fn blob_size(&self, name: &RepoName, digest: &Digest) -> Result<Option<u64>, RemoteError> {
        let response = self.open_blob(name, Method::HEAD, digest).await?;
        response.as_ref().map(content_length).transpose()
    }

    async fn tags(&self, name: &RepoName) -> Result<Vec<String>, RemoteError> {
        let mut client = self.client(name);
        let tags = client.tags(name, None, &mut Progress::to(None)).await;
        self.keep(name, client);
        tags.map_err(remote)
    }

    async fn blob(&self, name: &RepoName, digest: &Digest) -> Result<Option<(u64, ByteStream)>, RemoteError> {
        let Some(response) = self.open_blob(name, Method::GET, digest).await? else { return Ok(None) };
        Ok(Some((content_length(&response)?, body_stream(response))))
    }
}
