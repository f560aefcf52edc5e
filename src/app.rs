//! What each mode does, given a parsed command line. Errors come back to `main`, which
//! prints them as one line and picks the exit code.

use std::io::{self, BufWriter, Write};

use crate::cli::{Cli, Command, SnapshotArgs};
use crate::collect::{CollectError, CollectOptions, Collector, SocketSource};
use crate::model::{Attribution, Snapshot};
use crate::report;

/// Exit code for a failure to poll or any runtime error.
pub const EXIT_FAILURE: u8 = 1;

/// Run the command line; returns the process exit code.
pub fn run(cli: &Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Some(Command::Snapshot(args)) => snapshot(cli, args),
        None => snapshot(cli, &SnapshotArgs::default()),
    }
}

/// Collector options for the flags in `cli`.
pub fn collect_options(cli: &Cli) -> CollectOptions {
    CollectOptions {
        netns: cli.target.netns(),
        processes: !cli.target.no_processes,
        force_procnet: std::env::var("SOCKSCOPE_SOURCE").is_ok_and(|v| v == "proc"),
        ..CollectOptions::default()
    }
}

/// Open a collector and take one snapshot, telling stderr what the user should know about
/// its completeness.
pub fn poll_once(options: CollectOptions) -> Result<Snapshot, CollectError> {
    let mut collector = Collector::open(options)?;
    let snapshot = collector.poll()?;
    if let Some(reason) = collector.fallback_reason() {
        eprintln!(
            "sockscope: reading /proc/net/tcp instead of sock_diag ({reason}); no cookies, tcp_info or bound-only sockets"
        );
    }
    if let Attribution::Partial { unreadable } = snapshot.attribution {
        eprintln!(
            "sockscope: could not read the descriptors of {unreadable} processes (not root?): their sockets show owner '?'; run as root to see every owner"
        );
    }
    Ok(snapshot)
}

fn snapshot(cli: &Cli, args: &SnapshotArgs) -> anyhow::Result<u8> {
    let snapshot = poll_once(collect_options(cli))?;
    let filter = cli.filters.filter();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = if args.json {
        report::json::render(&snapshot, &filter, &mut out)
    } else {
        report::text::render(&snapshot, &filter, &mut out)
    };
    finish_output(written.and_then(|()| out.flush()))?;
    Ok(0)
}

/// A closed pipe (`sockscope snapshot | head`) is not an error.
fn finish_output(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
