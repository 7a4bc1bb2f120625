//! The registry layer: repositories, blobs, uploads, manifests, tags,
//! referrers and the catalog, on top of a storage driver.
//!
//! It knows no HTTP: requests arrive as typed values (`RepoName`, `Digest`,
//! `Reference`, byte streams) and leave as typed results or a
//! `RegistryError`, which the http layer maps to OCI error codes.

mod blob;
mod catalog;
mod catalog_index;
mod claim;
pub mod digest;
mod gc;
mod inspect;
pub mod layout;
mod listing;
pub mod manifest;
pub mod name;
pub mod proxy;
mod purge;
pub mod reference;
mod referrers;
mod repository;
pub mod tags;
mod upload;

use std::{io, sync::Arc, time::Duration};

use crate::storage::{Driver, Forget, Listeners, Peers, StorageError};

pub use blob::BlobInfo;
pub use catalog::Page;
pub use digest::{Algorithm, Digest};
pub use gc::{GcOptions, GcReport};
pub use inspect::{ImageSummary, ManifestDetail, TagInfo};
pub use manifest::{PutManifest, StoredManifest};
pub use name::RepoName;
pub use purge::PurgedUpload;
pub use reference::{Reference, Tag};
pub use referrers::Referrer;
pub use tags::{
    history::{HistoryEntry, TagHistory, Via},
    immutable::ImmutableRule,
    moves::{Moved, TagMoves},
    pattern::{RepoGlob, TagRegex},
    retention::{Policies, Policy, RetentionReport},
};
pub use upload::{Chunk, UploadStatus, Uploads};

/// A stream of request bytes, as the registry consumes them.
pub type ByteStream = crate::storage::ByteStream;

/// What the registry can refuse or fail with. Each variant maps to one OCI
/// error code in the http layer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The repository name does not match the grammar.
    #[error(transparent)]
    NameInvalid(#[from] name::NameError),
    /// The repository does not exist.
    #[error("repository {0} not known to registry")]
    NameUnknown(RepoName),
    /// A digest is malformed, unsupported, or does not match the content.
    #[error("{0}")]
    DigestInvalid(String),
    /// A tag does not match the grammar.
    #[error("{0}")]
    TagInvalid(String),
    /// The blob is not in the repository.
    #[error("blob unknown: {0}")]
    BlobUnknown(Digest),
    /// No such upload session.
    #[error("upload unknown")]
    BlobUploadUnknown,
    /// The upload cannot continue as asked.
    #[error("upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// A chunk does not start where the upload ends; `size` is what it has.
    #[error("chunk starts at {start}, upload has {size} bytes")]
    RangeInvalid {
        /// Where the client said the chunk starts.
        start: u64,
        /// How many bytes the upload holds.
        size: u64,
    },
    /// A length the client declared does not match what it sent.
    #[error("{0}")]
    SizeInvalid(String),
    /// A tag of a compare-and-swap move does not point where the caller
    /// read it pointing; nothing was changed.
    #[error("tag {tag} moved since it was read (expected {}, now {})", show(expected), show(actual))]
    TagMoved {
        /// The tag.
        tag: Tag,
        /// Where the caller read it pointing (`None`: nowhere).
        expected: Option<Digest>,
        /// Where it points.
        actual: Option<Digest>,
    },
    /// An immutable rule forbids the change.
    #[error("tag {tag} of {name} is immutable (berth.tags.immutable rule \"{rule}\")")]
    Immutable {
        /// The repository.
        name: RepoName,
        /// The tag.
        tag: Tag,
        /// The rule's name.
        rule: String,
        /// What the tag was to point at (`None`: a delete).
        digest: Option<Digest>,
        /// What was refused: `push`, `delete`, or how a tag was to move.
        operation: &'static str,
    },
    /// The manifest is not in the repository.
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    /// The manifest is not one berth accepts.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// The manifest references a blob or manifest the repository lacks.
    #[error("manifest references unknown blob {0}")]
    ManifestBlobUnknown(Digest),
    /// The operation is disabled by configuration.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The request took too long to be safe against garbage collection;
    /// nothing was acknowledged and the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The client's body ended early or failed.
    #[error("reading request body: {0}")]
    Body(io::Error),
    /// The storage driver failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A digest or "nothing", in messages.
fn show(digest: &Option<Digest>) -> String {
    digest.as_ref().map_or_else(|| "no tag".to_owned(), ToString::to_string)
}

/// Options that change what the registry allows.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `storage.delete.enabled`: allow deleting blobs, manifests, tags and
    /// repositories.
    pub delete_enabled: bool,
    /// The garbage-collection grace period pushes claim content against
    /// (`claim.rs`); zero turns claims off.
    pub grace: Duration,
    /// The largest manifest accepted (`berth.limits.manifestsize`).
    pub max_manifest_size: usize,
    /// `berth.tags.immutable`: tags that may not be re-pointed or deleted.
    pub immutable: Vec<ImmutableRule>,
    /// Keep and serve the catalog index (`catalog_index.rs`).
    pub catalog_index: bool,
    /// `storage.redirect` (not `disable`d): blob reads go to the driver's
    /// signed URLs where it has them.
    pub redirect: bool,
}

/// The registry: every operation the API offers, over one storage driver.
#[derive(Clone)]
pub struct Registry {
    driver: Arc<dyn Driver>,
    /// The same storage without the read cache in front: collection must
    /// see every write that happened before it looked.
    uncached: Arc<dyn Driver>,
    options: Options,
    uploads: Uploads,
    listings: Arc<listing::Listings>,
    tag_locks: Arc<tags::locks::TagLocks>,
    /// Repositories this process knows the catalog index names.
    indexed: Arc<catalog_index::Indexed>,
    /// Set once a build of the catalog index has been started.
    index_started: Arc<std::sync::atomic::AtomicBool>,
    /// Set in proxy mode: reads fall through to the upstream.
    proxy: Option<Arc<proxy::Proxy>>,
}

impl Registry {
    /// A registry over a driver.
    pub fn new(driver: Arc<dyn Driver>, options: Options) -> Self {
        Registry {
            uncached: driver.clone(),
            driver,
            options,
            uploads: Uploads::default(),
            listings: Arc::default(),
            tag_locks: Arc::default(),
            indexed: Arc::default(),
            index_started: Arc::default(),
            proxy: None,
        }
    }

    /// This registry as a pull-through cache of `proxy`'s upstream.
    pub fn with_proxy(self, proxy: proxy::Proxy) -> Self {
        Registry { proxy: Some(Arc::new(proxy)), ..self }
    }

    /// A registry that reads through `cached`, a read cache in front of
    /// `driver` (`storage::Cached`); garbage collection reads `driver`.
    pub fn with_cache(driver: Arc<dyn Driver>, cached: Arc<dyn Driver>, options: Options) -> Self {
        Registry { uncached: driver, ..Registry::new(cached, options) }
    }

    /// This registry as one replica of several on one storage: its memos are
    /// trusted only while `peers` is in sync, and its tag locks are shared
    /// through `locks`.
    pub fn with_replicas(self, peers: Arc<dyn Peers>, locks: Arc<dyn tags::locks::SharedLocks>) -> Self {
        Registry {
            listings: Arc::new(listing::Listings::new(peers)),
            tag_locks: Arc::new(tags::locks::TagLocks::shared(locks)),
            ..self
        }
    }

    /// What drops this registry's memos when another replica announces a
    /// change.
    pub fn listener(&self) -> Arc<dyn Forget> {
        Arc::new(Listeners(vec![self.listings.clone(), self.indexed.clone()]))
    }

    fn require_delete(&self) -> Result<(), RegistryError> {
        if self.options.delete_enabled { Ok(()) } else { Err(RegistryError::Unsupported("deletes are disabled")) }
    }

    /// Reads a link file (a digest as text).
    async fn read_link(&self, path: &str) -> Result<Option<Digest>, RegistryError> {
        match self.driver.get(path).await {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let digest = text.trim().parse().map_err(|e| {
                    RegistryError::Storage(StorageError::Io { path: path.to_owned(), source: io::Error::other(e) })
                })?;
                Ok(Some(digest))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn write_link(&self, path: &str, digest: &Digest) -> Result<(), RegistryError> {
        Ok(self.driver.put(path, digest.to_string().into()).await?)
    }

    async fn exists(&self, path: &str) -> Result<bool, RegistryError> {
        match self.driver.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The digests named by a `<alg>/<hex>` directory tree (revisions, layer
    /// links, referrers), skipping entries that are not valid digests.
    async fn digests_in(&self, dir: &str) -> Result<Vec<Digest>, RegistryError> {
        let mut found = Vec::new();
        for alg in self.list_or_empty(dir).await? {
            for hex in self.list_or_empty(&format!("{dir}/{alg}")).await? {
                if let Ok(d) = format!("{alg}:{hex}").parse() {
                    found.push(d);
                }
            }
        }
        Ok(found)
    }

    /// Lists a directory; a missing directory is empty.
    async fn list_or_empty(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        match self.driver.list(path).await {
            Ok(names) => Ok(names),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}
