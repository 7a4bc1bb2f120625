//! berth: a private container image registry.
//!
//! Three layers, one direction of dependency:
//! - [`http`]: routing, headers, error codes; the server side of hyper.
//! - [`registry`]: names, digests, manifests, uploads, tags, referrers; no HTTP.
//! - [`storage`]: a driver trait over paths and bytes; no registry concepts.
//!
//! [`client`] talks to a running registry for the `berth repo|tag|image`
//! commands. [`config`] reads distribution's `config.yml` and stands beside them.
//! See ARCHITECTURE.md for the map and the invariants.

pub mod client;
pub mod config;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod storage;
