//! Appends as multipart uploads. S3 refuses non-last parts under 5 MiB, so
//! bytes are gathered into `chunksize` parts, and an object being appended
//! to becomes the first parts of the new upload: copied server-side
//! (UploadPartCopy) when it is at least 5 MiB, read back into the buffer
//! when smaller — the merge distribution's s3 driver does.
//!
//! `close` and `commit` both complete the upload: S3 has no readable
//! "kept but not final" state (parts of an open upload cannot be read), and
//! a completed object is durable. So the state of an append lives in the
//! object alone, and any process continues it: the next `append` there
//! starts from the object, wherever the previous one ran.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::{Inner, MIN_PART, multipart::Upload};
use crate::storage::{StorageError, Writer};

/// An append to one key.
pub(super) struct S3Writer {
    s3: std::sync::Arc<Inner>,
    path: String,
    key: String,
    /// Size of the object before this writer, not yet in `upload` or `buf`
    /// (an object of at least `MIN_PART`, copied once a part must go out).
    base: u64,
    upload: Option<Upload>,
    buf: BytesMut,
    size: u64,
    /// True when this writer appended anything, or the object is new.
    changed: bool,
}

impl S3Writer {
    /// Opens `path` for appending.
    pub(super) async fn open(s3: std::sync::Arc<Inner>, path: &str) -> Result<S3Writer, StorageError> {
        let key = s3.keys.object(path);
        let (base, buf, changed) = match s3.head(path, &key).await {
            Ok(stat) if stat.size >= MIN_PART => (stat.size, BytesMut::new(), false),
            Ok(_) => (0, BytesMut::from(&s3.get_bytes(path, &key).await?[..]), false),
            Err(e) if e.is_not_found() => (0, BytesMut::new(), true),
            Err(e) => return Err(e),
        };
        let size = base + buf.len() as u64;
        Ok(S3Writer { s3, path: path.to_owned(), key, base, upload: None, buf, size, changed })
    }

    /// The upload, started on first use with the old object as its first parts.
    async fn upload(&mut self) -> Result<&mut Upload, StorageError> {
        if self.upload.is_none() {
            let mut upload = Upload::create(&self.s3, &self.path, &self.key).await?;
            if self.base > 0 {
                match self.s3.copy_parts(&upload, &self.path, &self.key, self.base, 1).await {
                    Ok(parts) => upload.parts = parts,
                    Err(e) => {
                        upload.abort(&self.s3).await;
                        return Err(e);
                    }
                }
            }
            self.upload = Some(upload);
        }
        Ok(self.upload.as_mut().expect("set above"))
    }

    /// Sends buffered bytes as parts while a full `chunksize` part is there.
    async fn flush_full_parts(&mut self) -> Result<(), StorageError> {
        let chunk = usize::try_from(self.s3.sizes.chunk).unwrap_or(usize::MAX);
        while self.buf.len() >= chunk {
            let part = self.buf.split_to(chunk).freeze();
            let (s3, path) = (self.s3.clone(), self.path.clone());
            self.upload().await?.push(&s3, &path, part).await?;
        }
        Ok(())
    }

    /// Makes the object what was appended: one PutObject when everything
    /// fits the buffer, else the rest as the last part and a completion.
    async fn finish(mut self) -> Result<(), StorageError> {
        if !self.changed {
            return Ok(());
        }
        if self.upload.is_none() && self.base == 0 {
            let data = std::mem::take(&mut self.buf).freeze();
            return self.s3.put_key(&self.path, &self.key, data).await;
        }
        let (s3, path) = (self.s3.clone(), self.path.clone());
        let rest = std::mem::take(&mut self.buf).freeze();
        let upload = self.upload().await?;
        if !rest.is_empty()
            && let Err(e) = upload.push(&s3, &path, rest).await
        {
            upload.abort(&s3).await;
            return Err(e);
        }
        let upload = self.upload.take().expect("started above");
        upload.complete(&s3, &path).await
    }

    async fn abort(mut self) {
        if let Some(upload) = self.upload.take() {
            upload.abort(&self.s3).await;
        }
    }
}

#[async_trait]
impl Writer for S3Writer {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        if data.is_empty() {
            return Ok(());
        }
        self.size += data.len() as u64;
        self.changed = true;
        self.buf.extend_from_slice(&data);
        self.flush_full_parts().await
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.finish().await
    }

    async fn close(self: Box<Self>) -> Result<(), StorageError> {
        self.finish().await
    }

    async fn cancel(self: Box<Self>) -> Result<(), StorageError> {
        self.abort().await;
        Ok(())
    }
}
