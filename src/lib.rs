//! sockscope: a live TCP connection-state monitor for Linux servers.
//!
//! `collect` talks to the kernel and yields [`model::Snapshot`]s; `aggregate` turns them into
//! the [`aggregate::Summary`] the outputs render; `config` reads the thresholds; `format`
//! says how values read; `report` renders; `tui` is the live dashboard; `app` ties a parsed
//! command line to all of them. `model`, `collect`, `aggregate` and `config` never import clap
//! or any terminal crate.

pub mod aggregate;
pub mod app;
pub mod cli;
pub mod collect;
pub mod config;
pub mod demo;
pub mod filter;
pub mod format;
mod hash;
pub mod lab;
pub mod model;
pub mod report;
pub mod serve;
pub mod tui;
mod untrusted;
