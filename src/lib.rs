//! sockscope: a live TCP connection-state monitor for Linux servers.
//!
//! `collect` talks to the kernel and yields [`model::Snapshot`]s; `report` renders them;
//! `app` ties a parsed command line to both. `model` and `collect` never import clap or any
//! terminal crate.

pub mod app;
pub mod cli;
pub mod collect;
pub mod filter;
pub mod model;
pub mod report;
