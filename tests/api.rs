//! HTTP integration tests: each test starts a real berth on 127.0.0.1:0 over
//! a fresh storage root and talks to it with an HTTP client.

#[path = "api/common.rs"]
mod common;
// Shared with the client and proxy tests; this suite signs tokens but
// serves none.
#[allow(dead_code)]
#[path = "support/token_issuer.rs"]
mod token_issuer;

#[path = "api/access.rs"]
mod access;
#[path = "api/blobs.rs"]
mod blobs;
#[path = "api/caching.rs"]
mod caching;
#[path = "api/catalog_index.rs"]
mod catalog_index;
#[path = "api/errors.rs"]
mod errors;
#[path = "api/gc.rs"]
mod gc;
#[path = "api/headers.rs"]
mod headers;
#[path = "api/hostile.rs"]
mod hostile;
#[path = "api/layout.rs"]
mod layout;
#[path = "api/lifecycle.rs"]
mod lifecycle;
#[path = "api/limits.rs"]
mod limits;
#[path = "api/listing.rs"]
mod listing;
#[path = "api/manifests.rs"]
mod manifests;
#[path = "api/names.rs"]
mod names;
#[path = "api/notifications.rs"]
mod notifications;
#[path = "api/online_gc.rs"]
mod online_gc;
#[path = "api/purge.rs"]
mod purge;
#[path = "api/referrers.rs"]
mod referrers;
#[path = "api/repository.rs"]
mod repository;
#[path = "api/retention.rs"]
mod retention;
#[path = "api/tls.rs"]
mod tls;
#[path = "api/ui.rs"]
mod ui;
#[path = "api/uploads.rs"]
mod uploads;
