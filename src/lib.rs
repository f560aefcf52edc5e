//! sockscope: a live TCP connection-state monitor for Linux servers.
//!
//! `collect` talks to the kernel and yields [`model::Snapshot`]s; `aggregate` turns them into
//! the [`aggregate::Summary`] the outputs render; `config` reads the thresholds; `format`
//! says how values read; `report` renders; `tui` is the live dashboard; `app` ties a parsed
//! command line to all of them. `model`, `collect`, `aggregate` and `config` never import clap
//! or any terminal crate.
//!
//! A top-level module is public when the binary, the integration tests (`tests/it`), the
//! benches or the examples name it: `demo`, `hash` and `untrusted` are the crate's own, and
//! so are submodules none of them reaches (`pub(crate)`). `lab` builds sockets in network
//! namespaces for the tests and for `sockscope demo`; its test-only parts exist only with the
//! `lab` feature, which the tests, benches and examples turn on (see `Cargo.toml`).

/// `eprintln!` that never panics and escapes: one line to stderr, its control characters
/// written by [`format::printable`] (a message quotes names other users chose, and a newline
/// in one must not split the line), and a full or closed stderr (`2>/dev/full`, a closed
/// pipe) loses the line and nothing else. A diagnostic that cannot be shown must not stop a
/// check from printing its status, nor take a mode down with exit 101. Every line the
/// program itself writes to stderr goes through it (clippy's `print_stderr` refuses
/// `eprintln!` outside tests).
#[macro_export]
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let line = ::std::format!($($arg)*);
        let _ = ::std::writeln!(
            ::std::io::stderr().lock(),
            "{}",
            $crate::format::printable(&line)
        );
    }};
}

pub mod aggregate;
pub mod app;
pub mod cli;
pub mod collect;
pub mod config;
mod demo;
pub mod filter;
pub mod format;
mod hash;
pub mod lab;
pub mod model;
pub mod record;
pub mod report;
pub mod serve;
pub mod tui;
mod untrusted;
pub mod watch;
