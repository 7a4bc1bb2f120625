//! berth: a private container image registry.
//!
//! Three layers, one direction of dependency:
//! - [`http`]: routing, headers, error codes; the server side of hyper.
//! - [`registry`]: names, digests, manifests, uploads, tags, referrers; no HTTP.
//! - [`storage`]: a driver trait over paths and bytes; no registry concepts.
//!
//! [`config`] reads distribution's `config.yml` and stands beside them, as
//! does [`notifications`], which delivers registry events to webhooks, and
//! [`client`], which talks to a running registry for the `berth repo|tag|image`
//! commands. [`admin`] prepares a registry's files (`berth htpasswd`,
//! `berth cert self-signed`). [`redis`] is what replicas of one storage
//! share: announcements of changes and tag locks.
//! See ARCHITECTURE.md for the map and the invariants.

pub mod admin;
pub mod client;
pub mod config;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notifications;
pub mod redis;
pub mod registry;
pub mod server;
pub mod storage;
