//! `touch` and `delete_stale` on S3, which has no compare-and-delete: a
//! DeleteObject cannot be made conditional on an object's modification time
//! (AWS takes `x-amz-if-match-last-modified-time` on directory buckets
//! only; garage and MinIO not at all), and a touch keeps the ETag, so
//! `If-Match` cannot tell a touched object from the old one either.
//!
//! What is done instead, closing all but one short window:
//! - A touch is a copy of the object onto itself (new LastModified), then a
//!   HEAD: a sweep that deleted the object before that HEAD makes the touch
//!   fail with `NotFound`, as the contract wants.
//! - A sweep reads the marker's time, then deletes the marker at once,
//!   before anything else of the directory: a touch arriving after that
//!   delete finds nothing and fails.
//! - What remains: a sweep whose marker delete reaches S3 after a touch's
//!   copy *and* its checking HEAD, although the sweep read the marker's time
//!   before the copy. That needs the sweep to stall between two requests
//!   longer than the toucher takes for two; berth's claims touch only
//!   objects older than half the grace period, so both must also race on the
//!   same object at the same second.
//!
//! S3 times are to the second (Last-Modified), so "modified at or after the
//! cutoff" is decided at that resolution.

use std::time::SystemTime;

use super::Inner;
use crate::storage::StorageError;

impl Inner {
    /// Renews an object's modification time; `NotFound` when it is missing
    /// or a sweep removed it meanwhile.
    pub(super) async fn touch(&self, path: &str) -> Result<(), StorageError> {
        let key = self.keys.object(path);
        let size = self.head(path, &key).await?.size;
        self.copy(path, &key, &key, size).await?;
        self.head(path, &key).await.map(drop)
    }

    /// Removes `dir` unless its `marker` is at least as young as `cutoff`;
    /// true when it removed it.
    pub(super) async fn sweep(&self, dir: &str, marker: &str, cutoff: SystemTime) -> Result<bool, StorageError> {
        // Listed first, so that what is put into the directory after the
        // marker's check (a new push of the same content) is left alone.
        let keys = self.all_keys(dir, &self.keys.dir(dir)).await?;
        if keys.is_empty() {
            return Ok(false);
        }
        let marker_path = format!("{dir}/{marker}");
        let marker_key = self.keys.object(&marker_path);
        match self.head(&marker_path, &marker_key).await {
            Ok(stat) if stat.modified >= cutoff => return Ok(false),
            Ok(_) => self.delete_keys(&marker_path, vec![marker_key.clone()]).await?,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let rest: Vec<String> = keys.into_iter().filter(|k| *k != marker_key).collect();
        self.delete_keys(dir, rest).await?;
        Ok(true)
    }
}
