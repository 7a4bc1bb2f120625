//! Presigned URLs for `storage.redirect`: a client fetches a blob from the
//! bucket itself, as distribution's s3 driver lets it (20 minutes, GET and
//! HEAD only).

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;

use super::Inner;
use crate::storage::StorageError;

/// How long a presigned URL works: distribution's default.
const EXPIRY: Duration = Duration::from_secs(20 * 60);

impl Inner {
    /// A signed URL for `method` on the object at `path`; `None` for
    /// methods other than GET and HEAD.
    pub(super) async fn presign(&self, path: &str, method: &http::Method) -> Result<Option<String>, StorageError> {
        let config = PresigningConfig::expires_in(EXPIRY).map_err(|e| super::protocol(path, &e.to_string()))?;
        let key = self.keys.object(path);
        let request = match *method {
            http::Method::GET => {
                let get = self.client.get_object().bucket(&self.bucket).key(key);
                get.presigned(config).await.map_err(|e| super::error(path, e))?
            }
            http::Method::HEAD => {
                let head = self.client.head_object().bucket(&self.bucket).key(key);
                head.presigned(config).await.map_err(|e| super::error(path, e))?
            }
            _ => return Ok(None),
        };
        Ok(Some(request.uri().to_owned()))
    }
}
