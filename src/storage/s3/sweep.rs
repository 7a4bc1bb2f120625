//! `touch` and `delete_stale` on S3, which has no compare-and-delete: a
//! DeleteObject cannot be made conditional on an object's modification time
//! (AWS takes `x-amz-if-match-last-modified-time` on directory buckets
//! only; garage and MinIO not at all), and a touch keeps the ETag, so
//! `If-Match` cannot tell a touched object from the old one either.
//!
//! What is done instead: both sides keep to a time budget `B` (`BUDGET`),
//! which turns the race into an ordering.
//! - A sweep sends the marker's HEAD at `t0`, and sends its DELETE only
//!   before `t0 + B` (else it reads the time again), with a request timeout
//!   of `B`: the delete is done at S3 by `t0 + 2B`.
//! - A touch copies the object onto itself (new LastModified), waits `2B`
//!   after S3 answered, then checks with a HEAD that the object is still
//!   there, failing with `NotFound` if not.
//! - If the sweep's HEAD saw the old time, it reached S3 before the copy,
//!   so the sweep's delete is done before the touch's check, which sees it.
//!   A touch arriving after the delete finds nothing and fails at once.
//! - What remains: a DELETE that S3 carries out more than `B` after it was
//!   sent, after the client gave up on it (the sweep then fails with an
//!   error rather than claiming anything). The price is `2B` per touch;
//!   berth's claims touch only objects older than half the grace period.
//!
//! S3 times are to the second (Last-Modified), so "modified at or after the
//! cutoff" is decided at that resolution.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::timeout::TimeoutConfig;

use super::Inner;
use crate::storage::{Stat, StorageError};

/// The time budget of each side (see above).
const BUDGET: Duration = Duration::from_millis(500);

/// Times a sweep reads a marker's time again when S3 was too slow to
/// answer within the budget, before it leaves the directory alone.
const HEAD_TRIES: usize = 3;

impl Inner {
    /// Renews an object's modification time; `NotFound` when it is missing
    /// or a sweep removed it meanwhile.
    pub(super) async fn touch(&self, path: &str) -> Result<(), StorageError> {
        let key = self.keys.object(path);
        let size = self.head(path, &key).await?.size;
        self.copy(path, &key, &key, size).await?;
        tokio::time::sleep(2 * BUDGET).await;
        self.head(path, &key).await.map(drop)
    }

    /// The marker's time, read within the budget: `None` when S3 did not
    /// answer in time, so that no delete may follow.
    async fn timed_head(&self, path: &str, key: &str) -> Result<Option<(Instant, Stat)>, StorageError> {
        for _ in 0..HEAD_TRIES {
            let sent = Instant::now();
            let stat = self.head(path, key).await?;
            if sent.elapsed() < BUDGET {
                return Ok(Some((sent, stat)));
            }
        }
        Ok(None)
    }

    /// Deletes one key, sent before `deadline`, with a timeout of `BUDGET`.
    async fn delete_by(&self, path: &str, key: &str, deadline: Instant) -> Result<bool, StorageError> {
        if Instant::now() >= deadline {
            return Ok(false);
        }
        let timeout = TimeoutConfig::builder().operation_timeout(BUDGET).build();
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .customize()
            .config_override(aws_sdk_s3::config::Builder::default().timeout_config(timeout))
            .send()
            .await
            .map_err(|e| super::error(path, e))?;
        Ok(true)
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
        match self.timed_head(&marker_path, &marker_key).await {
            Ok(None) => return Ok(false),
            Ok(Some((_, stat))) if stat.modified >= cutoff => return Ok(false),
            Ok(Some((sent, _))) => {
                if !self.delete_by(&marker_path, &marker_key, sent + BUDGET).await? {
                    return Ok(false);
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let rest: Vec<String> = keys.into_iter().filter(|k| *k != marker_key).collect();
        self.delete_keys(dir, rest).await?;
        Ok(true)
    }
}
