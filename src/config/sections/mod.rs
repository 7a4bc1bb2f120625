//! The typed sections of config.yml, one module per top-level key (the 2.8
//! leftovers together in `legacy`). Each type mirrors a struct of
//! distribution's `configuration.go`, with distribution's defaults; field
//! names are the YAML keys.

mod auth;
mod berth;
mod health;
mod http;
mod legacy;
mod listing;
mod log;
mod middleware;
mod notifications;
mod policy;
mod proxy;
mod redis;
mod retention;
mod storage;
mod tag_rules;
mod validation;

pub use auth::Auth;
pub use berth::{Berth, Gc, Limits};
pub use health::{FileCheck, Health, HttpCheck, StorageDriverCheck, TcpCheck};
pub use http::{ClientAuth, DebugServer, H2c, Http, Http2, LetsEncrypt, MinimumTls, Net, Prometheus, Tls};
pub use legacy::{Bugsnag, Compatibility, NewRelic, Reporting, Schema1};
pub use listing::{Catalog, Tags};
pub use log::{AccessLog, Formatter, Log, LogHook, LogLevel, MailOptions, Smtp};
pub use middleware::{Middleware, MiddlewareEntry};
pub use notifications::{Endpoint, Events, Ignore, Notifications};
pub use policy::{Policy, RepositoryPolicy};
pub use proxy::{Exec, Proxy};
pub use redis::{Redis, RedisPool, RedisTls};
pub use retention::{Retention, RetentionPolicy};
pub use storage::{
    Azure, AzureCredentials, BlobDescriptorCache, Cache, Delete, Filesystem, Gcs, Maintenance, Oss, ReadOnly, Redirect,
    S3, Storage, StorageDriver, Swift, Tag, UploadPurging,
};
pub use tag_rules::{ImmutableTags, TagRules};
pub use validation::{IndexValidation, ManifestValidation, Platform, Platforms, UrlValidation, Validation};
