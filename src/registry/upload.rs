//! Upload sessions: bytes arrive in one or more chunks, are hashed as they
//! stream to storage, and become a blob only once the client's digest matches.
//!
//! The session lives in storage (`_uploads/<id>/{startedat,data}`, as in
//! distribution), so it survives a restart; the running hash lives in memory
//! and is rebuilt from the data file whenever it is missing or stale (after a
//! restart, or when another process wrote the last chunk). A per-session lock
//! serialises chunks, and a chunk that fails half-way is cut off again, so
//! the data file only ever holds acknowledged bytes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures_util::StreamExt;

use super::{Algorithm, BlobInfo, ByteStream, Digest, RegistryError, RepoName, digest::Hasher, layout};

/// The running hash of one session and how many bytes it covers.
#[derive(Clone)]
struct HashState {
    hasher: Hasher,
    hashed: u64,
}

type Slot = Arc<tokio::sync::Mutex<Option<HashState>>>;

/// In-memory hash states of the sessions this process is serving.
#[derive(Clone, Default)]
pub struct Uploads {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

impl Uploads {
    fn slot(&self, id: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(id.to_owned()).or_default().clone()
    }

    pub(super) fn forget(&self, id: &str) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// Where an upload session stands.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    /// The session id (a UUID).
    pub id: String,
    /// Bytes received so far.
    pub size: u64,
}

/// A chunk of an upload as the client declared it.
pub struct Chunk {
    /// Where the client says it starts (`Content-Range`), if it said.
    pub start: Option<u64>,
    /// How long the client says it is (`Content-Length`), if it said.
    pub len: Option<u64>,
    /// The bytes.
    pub body: ByteStream,
}

/// Session ids come from URLs: only canonical UUIDs may become a path.
fn parse_id(id: &str) -> Result<String, RegistryError> {
    uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()).map_err(|_| RegistryError::BlobUploadUnknown)
}

impl super::Registry {
    /// Opens a new upload session.
    pub async fn start_upload(&self, name: &RepoName) -> Result<UploadStatus, RegistryError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339);
        let now = now.map_err(|e| RegistryError::BlobUploadInvalid(e.to_string()))?;
        self.driver.put(&layout::upload_started_at(name, &id), now.into()).await?;
        Ok(UploadStatus { id, size: 0 })
    }

    /// How many bytes a session holds.
    pub async fn upload_status(&self, name: &RepoName, id: &str) -> Result<UploadStatus, RegistryError> {
        let id = parse_id(id)?;
        let slot = self.uploads.slot(&id);
        let _guard = slot.lock().await;
        let size = self.session_size(name, &id).await?;
        Ok(UploadStatus { id, size })
    }

    /// Appends a chunk (PATCH).
    pub async fn write_upload(&self, name: &RepoName, id: &str, chunk: Chunk) -> Result<UploadStatus, RegistryError> {
        let id = parse_id(id)?;
        let slot = self.uploads.slot(&id);
        let mut guard = slot.lock().await;
        let size = self.session_size(name, &id).await?;
        let mut state = self.hash_state(name, &id, guard.take(), size, Algorithm::Sha256).await?;
        let result = self.append_chunk(name, &id, &mut state, chunk, false).await;
        let size = state.hashed;
        *guard = Some(state);
        result.map(|()| UploadStatus { id, size })
    }

    /// Completes a session (PUT): appends the optional last chunk, checks the
    /// digest and makes the bytes a blob of the repository. On a mismatch the
    /// session is discarded and nothing is stored.
    pub async fn finish_upload(
        &self,
        name: &RepoName,
        id: &str,
        digest: &Digest,
        last: Option<Chunk>,
    ) -> Result<BlobInfo, RegistryError> {
        let id = parse_id(id)?;
        let slot = self.uploads.slot(&id);
        let mut guard = slot.lock().await;
        let size = self.session_size(name, &id).await?;
        let mut state = self.hash_state(name, &id, guard.take(), size, digest.algorithm()).await?;
        // Durable from here: chunks were only closed, and the blob is about
        // to be acknowledged.
        let last =
            last.unwrap_or_else(|| Chunk { start: None, len: Some(0), body: Box::pin(futures_util::stream::empty()) });
        if let Err(e) = self.append_chunk(name, &id, &mut state, last, true).await {
            *guard = Some(state);
            return Err(e);
        }
        let actual = if state.hasher.algorithm() == digest.algorithm() {
            state.hasher.clone().finish()
        } else {
            self.rehash(name, &id, digest.algorithm()).await?.hasher.finish()
        };
        let outcome = if &actual == digest {
            self.commit_blob(name, &id, digest, state.hashed)
                .await
                .map(|()| BlobInfo { digest: digest.clone(), size: state.hashed })
        } else {
            Err(RegistryError::DigestInvalid(format!(
                "provided digest {digest} did not match uploaded content {actual}"
            )))
        };
        self.driver.delete(&layout::upload_dir(name, &id)).await?;
        self.uploads.forget(&id);
        outcome
    }

    /// Uploads a whole blob in one request (POST with `?digest=`). Its
    /// session is the server's own: when the upload fails, it goes too, as
    /// no client could resume it.
    pub async fn upload_blob(&self, name: &RepoName, digest: &Digest, chunk: Chunk) -> Result<BlobInfo, RegistryError> {
        let session = self.start_upload(name).await?;
        let finished = self.finish_upload(name, &session.id, digest, Some(chunk)).await;
        // finish_upload keeps a session whose last chunk failed, for the
        // client to retry; this client never learnt of the session, so it
        // would only linger until purged.
        if finished.is_err() {
            match self.cancel_upload(name, &session.id).await {
                Ok(()) | Err(RegistryError::BlobUploadUnknown) => {}
                Err(e) => tracing::warn!(error = %e, "removing a failed monolithic upload's session"),
            }
        }
        finished
    }

    /// Cancels a session and deletes what it received.
    pub async fn cancel_upload(&self, name: &RepoName, id: &str) -> Result<(), RegistryError> {
        let id = parse_id(id)?;
        let slot = self.uploads.slot(&id);
        let _guard = slot.lock().await;
        self.session_size(name, &id).await?;
        self.driver.delete(&layout::upload_dir(name, &id)).await?;
        self.uploads.forget(&id);
        Ok(())
    }

    /// Bytes held by a session, or `BlobUploadUnknown` when there is none.
    async fn session_size(&self, name: &RepoName, id: &str) -> Result<u64, RegistryError> {
        if !self.exists(&layout::upload_started_at(name, id)).await? {
            self.uploads.forget(id);
            return Err(RegistryError::BlobUploadUnknown);
        }
        match self.driver.stat(&layout::upload_data(name, id)).await {
            Ok(stat) => Ok(stat.size),
            Err(e) if e.is_not_found() => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// The hash state covering exactly `size` bytes: the cached one when it
    /// does, else rebuilt from the data file.
    async fn hash_state(
        &self,
        name: &RepoName,
        id: &str,
        cached: Option<HashState>,
        size: u64,
        algorithm: Algorithm,
    ) -> Result<HashState, RegistryError> {
        match cached {
            Some(state) if state.hashed == size => Ok(state),
            _ if size == 0 => Ok(HashState { hasher: Hasher::new(algorithm), hashed: 0 }),
            _ => self.rehash(name, id, algorithm).await,
        }
    }

    async fn rehash(&self, name: &RepoName, id: &str, algorithm: Algorithm) -> Result<HashState, RegistryError> {
        let mut state = HashState { hasher: Hasher::new(algorithm), hashed: 0 };
        let mut stream = match self.driver.reader(&layout::upload_data(name, id), 0, None).await {
            Ok(stream) => stream,
            Err(e) if e.is_not_found() => return Ok(state),
            Err(e) => return Err(e.into()),
        };
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| crate::storage::StorageError::io(&layout::upload_data(name, id), e))?;
            state.hasher.update(&chunk);
            state.hashed += chunk.len() as u64;
        }
        Ok(state)
    }

    /// Streams a chunk to the data file, hashing as it goes. On any failure
    /// the file and the hash state are rolled back to where they were. A
    /// PATCH's chunk is only closed: its 202 says the bytes arrived, and a
    /// crash may cut a suffix off a session (its size then says so). The
    /// PUT's chunk (`durable`) is committed, which makes the whole file
    /// durable before the blob exists.
    async fn append_chunk(
        &self,
        name: &RepoName,
        id: &str,
        state: &mut HashState,
        mut chunk: Chunk,
        durable: bool,
    ) -> Result<(), RegistryError> {
        if let Some(start) = chunk.start
            && start != state.hashed
        {
            return Err(RegistryError::RangeInvalid { start, size: state.hashed });
        }
        let snapshot = state.clone();
        let mut writer = self.driver.append(&layout::upload_data(name, id)).await?;
        let streamed: Result<(), RegistryError> = async {
            while let Some(bytes) = chunk.body.next().await {
                let bytes = bytes.map_err(RegistryError::Body)?;
                state.hasher.update(&bytes);
                state.hashed += bytes.len() as u64;
                writer.write(bytes).await?;
            }
            Ok(())
        }
        .await;
        let received = state.hashed - snapshot.hashed;
        let result = match (streamed, chunk.len) {
            (Ok(()), Some(len)) if len != received => {
                Err(RegistryError::SizeInvalid(format!("declared {len} bytes, received {received}")))
            }
            (result, _) => result,
        };
        let finished = match result {
            Ok(()) if durable => writer.commit().await,
            Ok(()) => writer.close().await,
            Err(e) => {
                *state = snapshot;
                writer.cancel().await?;
                return Err(e);
            }
        };
        // A failed commit or close dropped the chunk (a full disk fails
        // there: small chunks only reach the file then).
        finished.map_err(|e| {
            *state = snapshot;
            e.into()
        })
    }

    /// Moves verified upload bytes to the blob store and links the blob.
    /// Bytes already stored are claimed (touched), so a collection running
    /// now cannot take them from under the new link.
    async fn commit_blob(&self, name: &RepoName, id: &str, digest: &Digest, size: u64) -> Result<(), RegistryError> {
        let blob = layout::blob_data(digest);
        if !self.claim_now(&blob).await? {
            if size == 0 {
                // No chunk ever arrived, so there is no data file to move.
                self.driver.put(&blob, Default::default()).await?;
            } else {
                self.driver.rename(&layout::upload_data(name, id), &blob).await?;
            }
        }
        self.write_link(&layout::layer_link(name, digest), digest).await
    }
}
