//! sockscope: a live TCP connection-state monitor for Linux servers.
//!
//! `collect` talks to the kernel and yields [`model::Snapshot`]s; the outputs render them.
//! `model` and `collect` never import clap or any terminal crate.

pub mod collect;
pub mod lab;
pub mod model;
