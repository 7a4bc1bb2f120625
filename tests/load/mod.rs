//! Shared by the crash test and the soak: the real `berth` binary on a
//! temporary root, a seeded random source, a client that pushes and pulls
//! whole images checking every byte, and a check of the tree on disk.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

pub mod client;
pub mod process;
pub mod rng;
pub mod tree;
