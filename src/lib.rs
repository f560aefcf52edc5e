//! sockscope: a live TCP connection-state monitor for Linux servers.
//!
//! `collect` talks to the kernel and yields [`model::Snapshot`]s; `aggregate` turns them into
//! the [`aggregate::Summary`] the outputs render; `config` reads the thresholds.
//! `model`, `collect`, `aggregate` and `config` never import clap or any terminal crate.

pub mod aggregate;
pub mod collect;
pub mod config;
pub mod model;
