//! The S3 driver: distribution's `s3` storage driver layout on any
//! S3-compatible object store (AWS S3, garage, MinIO, Ceph RGW).
//!
//! Objects are keys below `rootdirectory`; directories are key prefixes,
//! listed with the delimiter `/` (see `keys`). S3 gives what the driver
//! contract asks: PutObject, CopyObject and CompleteMultipartUpload replace
//! an object atomically, and are durable once answered. Appends are
//! multipart uploads (`writer`), moves are copy then delete (`copy`).
//! `touch` and `delete_stale` are in `sweep`, with what S3 does not give.

mod client;
mod copy;
mod keys;
mod multipart;
mod presign;
mod sweep;
mod writer;

use std::{io, sync::Arc, time::SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::{
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    primitives::ByteStream as S3Body,
    types::{Delete, ObjectIdentifier},
};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};

use self::{
    client::{Sizes, WriteOptions, new_object},
    keys::Keys,
};
use super::{ByteStream, Driver, Stat, StorageError, Writer, check_path};
use crate::config::S3 as S3Config;

/// S3's smallest part but the last.
const MIN_PART: u64 = 5 * 1024 * 1024;

/// S3's largest CopyObject.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// The content type distribution gives every object.
const CONTENT_TYPE: &str = "application/octet-stream";

/// Keys one DeleteObjects call takes (S3's limit).
const DELETE_BATCH: usize = 1000;

/// Requests in flight at once in sweeps of many paths.
const SWEEP_CONCURRENCY: usize = 16;

/// Stores objects in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3 {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: aws_sdk_s3::Client,
    bucket: String,
    keys: Keys,
    write: WriteOptions,
    sizes: Sizes,
}

impl S3 {
    /// Connects to the bucket `storage.s3` names. Nothing is sent yet: a
    /// wrong bucket or key shows on the first request (and in the storage
    /// health check).
    pub async fn open(config: &S3Config) -> anyhow::Result<S3> {
        let inner = Inner {
            client: client::client(config).await?,
            bucket: config.bucket.clone(),
            keys: Keys::new(&config.rootdirectory),
            write: client::write_options(config),
            sizes: client::sizes(config),
        };
        Ok(S3 { inner: Arc::new(inner) })
    }
}

/// A request's failure as a storage error: S3's "no such key" answers (and
/// a bodiless 404, as HEAD gets) are `NotFound`; everything else, a missing
/// bucket included, is I/O.
fn error<E>(path: &str, e: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let not_found = match e.code() {
        Some(code) => matches!(code, "NoSuchKey" | "NotFound" | "NoSuchUpload"),
        None => status == Some(404),
    };
    if not_found {
        return StorageError::NotFound(path.to_owned());
    }
    StorageError::Io { path: path.to_owned(), source: io::Error::other(DisplayErrorContext(e).to_string()) }
}

/// An answer S3 should never give.
fn protocol(path: &str, what: &str) -> StorageError {
    StorageError::Io { path: path.to_owned(), source: io::Error::other(what.to_owned()) }
}

fn modified(t: Option<&aws_sdk_s3::primitives::DateTime>) -> SystemTime {
    t.and_then(|t| SystemTime::try_from(*t).ok()).unwrap_or(SystemTime::UNIX_EPOCH)
}

impl Inner {
    /// Size and time of the object at `key`.
    async fn head(&self, path: &str, key: &str) -> Result<Stat, StorageError> {
        let out = self.client.head_object().bucket(&self.bucket).key(key).send().await.map_err(|e| error(path, e))?;
        let size = u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0);
        Ok(Stat { size, is_dir: false, modified: modified(out.last_modified()) })
    }

    /// The object at `key`, or the bytes `range` (an HTTP Range) of it.
    async fn get_key(&self, path: &str, key: &str, range: Option<String>) -> Result<S3Body, StorageError> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).set_range(range).send().await;
        Ok(out.map_err(|e| error(path, e))?.body)
    }

    /// The whole object at `key`.
    async fn get_bytes(&self, path: &str, key: &str) -> Result<Bytes, StorageError> {
        let body = self.get_key(path, key, None).await?;
        let data = body.collect().await.map_err(|e| protocol(path, &e.to_string()))?;
        Ok(data.into_bytes())
    }

    async fn put_key(&self, path: &str, key: &str, data: Bytes) -> Result<(), StorageError> {
        let request = self.client.put_object().bucket(&self.bucket).key(key).body(S3Body::from(data));
        new_object!(request, self.write).send().await.map_err(|e| error(path, e))?;
        Ok(())
    }

    /// One page of keys below `prefix`: objects (key, size, time) and, with
    /// a delimiter, the common prefixes. `None` as the token for the first.
    async fn list_page(
        &self,
        path: &str,
        prefix: &str,
        delimiter: bool,
        token: Option<String>,
        max: Option<i32>,
    ) -> Result<Page, StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.then(|| "/".to_owned()))
            .set_continuation_token(token)
            .set_max_keys(max)
            .send()
            .await
            .map_err(|e| error(path, e))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                let size = u64::try_from(o.size().unwrap_or(0)).unwrap_or(0);
                Some((o.key()?.to_owned(), size, modified(o.last_modified())))
            })
            .collect();
        let prefixes = out.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)).collect();
        let next = out.next_continuation_token().map(str::to_owned).filter(|_| out.is_truncated() == Some(true));
        Ok(Page { objects, prefixes, next })
    }

    /// Every key below `prefix`, page by page.
    async fn all_keys(&self, path: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self.list_page(path, prefix, false, token, None).await?;
            keys.extend(page.objects.into_iter().map(|(k, _, _)| k));
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Deletes keys, a thousand per request.
    async fn delete_keys(&self, path: &str, keys: Vec<String>) -> Result<(), StorageError> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| protocol(path, &e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| protocol(path, &e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| error(path, e))?;
            if let Some(failed) = out.errors().first() {
                let what =
                    format!("cannot delete {}: {}", failed.key().unwrap_or("?"), failed.message().unwrap_or("?"));
                return Err(protocol(path, &what));
            }
        }
        Ok(())
    }

    /// Removes the object at `path` and every key below it.
    async fn delete_tree(&self, path: &str) -> Result<(), StorageError> {
        let mut keys = self.all_keys(path, &self.keys.dir(path)).await?;
        keys.push(self.keys.object(path));
        self.delete_keys(path, keys).await
    }
}

/// One page of a listing.
struct Page {
    objects: Vec<(String, u64, SystemTime)>,
    prefixes: Vec<String>,
    next: Option<String>,
}

/// Turns S3's body into the driver's stream of pieces.
fn body_stream(path: &str, body: S3Body) -> ByteStream {
    let path = path.to_owned();
    Box::pin(stream::try_unfold(body, move |mut body| {
        let path = path.clone();
        async move {
            match body.next().await {
                Some(Ok(piece)) => Ok(Some((piece, body))),
                Some(Err(e)) => Err(io::Error::other(format!("reading {path}: {e}"))),
                None => Ok(None),
            }
        }
    }))
}

#[async_trait]
impl Driver for S3 {
    async fn get(&self, path: &str) -> Result<Bytes, StorageError> {
        check_path(path)?;
        self.inner.get_bytes(path, &self.inner.keys.object(path)).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        check_path(path)?;
        self.inner.put_key(path, &self.inner.keys.object(path), data).await
    }

    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream, StorageError> {
        check_path(path)?;
        let key = self.inner.keys.object(path);
        // S3 answers a range starting at or past the end with 416; the
        // driver contract wants an empty stream there, as a file gives.
        let size = self.inner.head(path, &key).await?.size;
        let end = len.map_or(size, |len| size.min(offset.saturating_add(len)));
        if offset >= end {
            return Ok(Box::pin(stream::empty()));
        }
        let range = (offset > 0 || end < size).then(|| format!("bytes={offset}-{}", end - 1));
        Ok(body_stream(path, self.inner.get_key(path, &key, range).await?))
    }

    async fn append(&self, path: &str) -> Result<Box<dyn Writer>, StorageError> {
        check_path(path)?;
        Ok(Box::new(writer::S3Writer::open(self.inner.clone(), path).await?))
    }

    async fn stat(&self, path: &str) -> Result<Stat, StorageError> {
        check_path(path)?;
        match self.inner.head(path, &self.inner.keys.object(path)).await {
            Err(e) if e.is_not_found() => {}
            other => return other,
        }
        // A directory: its time is that of the first object below it.
        let page = self.inner.list_page(path, &self.inner.keys.dir(path), false, None, Some(1)).await?;
        let (_, _, modified) =
            page.objects.into_iter().next().ok_or_else(|| StorageError::NotFound(path.to_owned()))?;
        Ok(Stat { size: 0, is_dir: true, modified })
    }

    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError> {
        check_path(path)?;
        let prefix = self.inner.keys.dir(path);
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = self.inner.list_page(path, &prefix, true, token, None).await?;
            let found = page.objects.iter().map(|(k, _, _)| k).chain(&page.prefixes);
            names.extend(found.filter_map(|k| keys::child_name(&prefix, k)).map(str::to_owned));
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        if names.is_empty() {
            return Err(StorageError::NotFound(path.to_owned()));
        }
        Ok(names)
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_path(from)?;
        check_path(to)?;
        let (from_key, to_key) = (self.inner.keys.object(from), self.inner.keys.object(to));
        let size = self.inner.head(from, &from_key).await?.size;
        self.inner.copy(from, &from_key, &to_key, size).await?;
        self.inner.delete_keys(from, vec![from_key]).await
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        self.inner.delete_tree(path).await
    }

    async fn touch(&self, path: &str) -> Result<(), StorageError> {
        check_path(path)?;
        self.inner.touch(path).await
    }

    async fn delete_stale(&self, dirs: &[String], marker: &str, cutoff: SystemTime) -> Result<Vec<bool>, StorageError> {
        for dir in dirs {
            check_path(dir)?;
        }
        // Owned futures: borrowed ones trip the compiler's higher-ranked
        // lifetime check inside an `async_trait` method.
        let sweeps = dirs.iter().cloned().map(|dir| {
            let (inner, marker) = (self.inner.clone(), marker.to_owned());
            async move { inner.sweep(&dir, &marker, cutoff).await }
        });
        stream::iter(sweeps).buffered(SWEEP_CONCURRENCY).try_collect().await
    }

    async fn delete_all(&self, paths: &[String]) -> Result<(), StorageError> {
        for path in paths {
            check_path(path)?;
        }
        let deletes = paths.iter().cloned().map(|path| {
            let inner = self.inner.clone();
            async move { inner.delete_tree(&path).await }
        });
        stream::iter(deletes).buffer_unordered(SWEEP_CONCURRENCY).try_collect::<Vec<()>>().await?;
        Ok(())
    }

    async fn redirect_url(&self, path: &str, method: &http::Method) -> Result<Option<String>, StorageError> {
        check_path(path)?;
        self.inner.presign(path, method).await
    }

    /// One flat listing of every key below `path` instead of a request per
    /// directory: distribution's `_catalog` walk is what makes it slow on S3.
    async fn walk_dirs(&self, path: &str, enter: for<'a> fn(&'a str) -> bool) -> Result<Vec<String>, StorageError> {
        check_path(path)?;
        let prefix = self.inner.keys.dir(path);
        let keys = self.inner.all_keys(path, &prefix).await?;
        let relative = keys.iter().filter_map(|k| k.strip_prefix(prefix.as_str()));
        Ok(keys::implied_dirs(relative, enter).into_iter().collect())
    }
}
