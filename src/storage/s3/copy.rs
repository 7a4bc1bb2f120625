//! Server-side copies: one CopyObject up to `multipartcopythresholdsize`,
//! above it a multipart upload of UploadPartCopy ranges, as distribution's
//! s3 driver does (a single copy stops at 5 GiB, and parts go in parallel).

use aws_sdk_s3::types::{CompletedPart, MetadataDirective};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{Inner, MIN_PART, client::new_object, keys::copy_source, multipart::Upload};
use crate::storage::StorageError;

impl Inner {
    /// Copies the object at key `from` (of `size` bytes) onto key `to`,
    /// replacing it atomically; `from == to` renews its modification time.
    pub(super) async fn copy(&self, path: &str, from: &str, to: &str, size: u64) -> Result<(), StorageError> {
        if size <= self.sizes.copy_threshold {
            return self.copy_whole(path, from, to).await;
        }
        let mut upload = Upload::create(self, path, to).await?;
        match self.copy_parts(&upload, path, from, size, 1).await {
            Ok(parts) => {
                upload.parts = parts;
                upload.complete(self, path).await
            }
            Err(e) => {
                upload.abort(self).await;
                Err(e)
            }
        }
    }

    async fn copy_whole(&self, path: &str, from: &str, to: &str) -> Result<(), StorageError> {
        let request = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(copy_source(&self.bucket, from))
            // Required to copy an object onto itself; harmless otherwise, as
            // berth keeps no metadata but the content type.
            .metadata_directive(MetadataDirective::Replace);
        new_object!(request, self.write).send().await.map_err(|e| super::error(path, e))?;
        Ok(())
    }

    /// Copies the whole object `from` into `upload` as parts numbered from
    /// `first`, `multipartcopymaxconcurrency` at a time. Every part is at
    /// least `MIN_PART` (the remainder joins the last range), so more parts
    /// may follow.
    pub(super) async fn copy_parts(
        &self,
        upload: &Upload,
        path: &str,
        from: &str,
        size: u64,
        first: i32,
    ) -> Result<Vec<(CompletedPart, u64)>, StorageError> {
        let ranges = ranges(size, self.sizes.copy_chunk);
        let copies = ranges.into_iter().enumerate().map(|(i, (start, end))| {
            let number = first + i32::try_from(i).unwrap_or(i32::MAX);
            async move {
                let out = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(&upload.key)
                    .upload_id(&upload.id)
                    .part_number(number)
                    .copy_source(copy_source(&self.bucket, from))
                    .copy_source_range(format!("bytes={start}-{}", end - 1))
                    .send()
                    .await
                    .map_err(|e| super::error(path, e))?;
                let etag = out.copy_part_result().and_then(|r| r.e_tag()).map(str::to_owned);
                Ok::<_, StorageError>((
                    CompletedPart::builder().part_number(number).set_e_tag(etag).build(),
                    end - start,
                ))
            }
        });
        let mut parts: Vec<_> =
            stream::iter(copies).buffer_unordered(self.sizes.copy_concurrency).try_collect().await?;
        parts.sort_by_key(|(p, _)| p.part_number());
        Ok(parts)
    }
}

/// Byte ranges `[start, end)` of at most `chunk` (plus a remainder under
/// `MIN_PART`, which joins the last range) covering `size` bytes.
fn ranges(size: u64, chunk: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < size {
        let end = if size - start < chunk + MIN_PART { size } else { start + chunk };
        ranges.push((start, end));
        start = end;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_never_leave_a_small_part_behind() {
        const M: u64 = 1 << 20;
        assert_eq!(ranges(10 * M, 32 * M), [(0, 10 * M)]);
        assert_eq!(ranges(64 * M, 32 * M), [(0, 32 * M), (32 * M, 64 * M)]);
        assert_eq!(ranges(66 * M, 32 * M), [(0, 32 * M), (32 * M, 66 * M)]);
        assert_eq!(ranges(70 * M, 32 * M), [(0, 32 * M), (32 * M, 64 * M), (64 * M, 70 * M)]);
    }
}
