//! One multipart upload: created with the bucket's write settings, parts
//! added, then completed (the object appears whole, atomically) or aborted.

use aws_sdk_s3::{
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};
use bytes::Bytes;

use super::{Inner, client::new_object};
use crate::storage::StorageError;

/// A multipart upload in progress and the parts it has so far, with sizes.
#[derive(Debug)]
pub(super) struct Upload {
    pub key: String,
    pub id: String,
    pub parts: Vec<(CompletedPart, u64)>,
}

impl Upload {
    /// Starts an upload to `key`.
    pub(super) async fn create(s3: &Inner, path: &str, key: &str) -> Result<Upload, StorageError> {
        let request = s3.client.create_multipart_upload().bucket(&s3.bucket).key(key);
        let out = new_object!(request, s3.write).send().await.map_err(|e| super::error(path, e))?;
        let id = out.upload_id().ok_or_else(|| super::protocol(path, "CreateMultipartUpload without an upload id"))?;
        Ok(Upload { key: key.to_owned(), id: id.to_owned(), parts: Vec::new() })
    }

    /// The number the next part gets.
    pub(super) fn next_number(&self) -> i32 {
        i32::try_from(self.parts.len()).unwrap_or(i32::MAX) + 1
    }

    /// Uploads `data` as the next part.
    pub(super) async fn push(&mut self, s3: &Inner, path: &str, data: Bytes) -> Result<(), StorageError> {
        let number = self.next_number();
        let len = data.len() as u64;
        let out = s3
            .client
            .upload_part()
            .bucket(&s3.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .part_number(number)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| super::error(path, e))?;
        let part = CompletedPart::builder().part_number(number).set_e_tag(out.e_tag().map(str::to_owned)).build();
        self.parts.push((part, len));
        Ok(())
    }

    /// Completes the upload: the object is replaced by the parts, at once.
    /// On failure the upload is aborted.
    pub(super) async fn complete(self, s3: &Inner, path: &str) -> Result<(), StorageError> {
        let parts = self.parts.iter().map(|(p, _)| p.clone()).collect();
        let result = s3
            .client
            .complete_multipart_upload()
            .bucket(&s3.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await;
        if let Err(e) = result {
            self.abort(s3).await;
            return Err(super::error(path, e));
        }
        Ok(())
    }

    /// Drops the upload and its parts. A failure only leaves storage behind
    /// (for the bucket's lifecycle rule to reclaim), so it is logged.
    pub(super) async fn abort(&self, s3: &Inner) {
        let result =
            s3.client.abort_multipart_upload().bucket(&s3.bucket).key(&self.key).upload_id(&self.id).send().await;
        if let Err(e) = result {
            tracing::warn!(key = self.key, error = %aws_sdk_s3::error::DisplayErrorContext(e), "cannot abort a multipart upload");
        }
    }
}
