//! A synthetic recording, for measuring seeks without waiting an hour: `--polls` polls one
//! `--interval` apart (default an hour of polls a second) of one namespace holding
//! `--sockets` ESTABLISHED sockets held by 20 processes, of which `--changes` a second are
//! replaced by new ones (new cookies, new ports). Written with the real `Recorder`, so the
//! file is what `sockscope record` would have written of such a host; its size per hour is
//! printed.
//!
//! ```sh
//! cargo build --release --example record_synth
//! target/release/examples/record_synth --sockets 100000 -o /tmp/hour.ssrec
//! time target/release/sockscope snapshot --from /tmp/hour.ssrec --at -30m > /dev/null
//! ```
//!
//! Not a test: nothing fails on speed.

#![allow(clippy::print_stdout)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clap::Parser;
use sockscope::model::{NetnsLabel, Owners, Process, Snapshot, Socket, TcpState};
use sockscope::record::{Recorder, RecorderSettings};
use sockscope::watch::{NamespaceRound, Round};

/// Write a synthetic recording.
#[derive(Debug, Parser)]
struct Args {
    /// Sockets held.
    #[arg(long, default_value_t = 100_000)]
    sockets: u32,
    /// Sockets replaced by new ones per poll.
    #[arg(long, default_value_t = 100)]
    changes: u32,
    /// Polls.
    #[arg(long, default_value_t = 3600)]
    polls: u32,
    /// Time between polls.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// The file to write (must not exist).
    #[arg(short = 'o', long)]
    output: PathBuf,
}

/// Socket `n` of the host: a connection from 10.0.x.y to 10.1.0.1:443, cookie `n + 1`,
/// held by process `n % 20`.
fn socket(n: u32) -> Socket {
    let local = SocketAddr::from((
        Ipv4Addr::from(0x0a00_0000 + (n >> 14)),
        1024 + (n & 0x3fff) as u16,
    ));
    let remote = SocketAddr::from((Ipv4Addr::new(10, 1, 0, 1), 443));
    let mut socket = Socket::new(TcpState::Established, local, remote);
    socket.cookie = u64::from(n) + 1;
    socket.inode = n + 1;
    socket.owners = Owners {
        start: n % 20,
        len: 1,
    };
    socket
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let start = SystemTime::now() - args.interval * args.polls;
    let processes: Vec<Process> = (0..20)
        .map(|i| Process {
            pid: 1000 + i,
            comm: format!("worker-{i}"),
            cmdline: format!("/usr/bin/worker --id {i}"),
            ..Process::default()
        })
        .collect();
    let label = NetnsLabel {
        name: "synthetic".to_owned(),
        inode: 4_026_531_840,
        container: None,
    };
    let mut ids: Vec<u32> = (0..args.sockets).collect();
    let mut next = args.sockets;
    let settings = RecorderSettings::new("synthetic".to_owned(), false, args.interval);
    let mut recorder = Recorder::create(&args.output, settings)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let began = Instant::now();
    for poll in 0..args.polls {
        for c in 0..args.changes {
            let slot = ((u64::from(poll) * 7919 + u64::from(c) * 104_729) % u64::from(args.sockets))
                as usize;
            ids[slot] = next;
            next += 1;
        }
        let snapshot = Snapshot {
            taken_at: Some(start + args.interval * poll),
            host: "synthetic".to_owned(),
            netns: label.name.clone(),
            sockets: ids.iter().map(|&n| socket(n)).collect(),
            processes: processes.clone(),
            owner_index: (0..20).collect(),
            ..Snapshot::default()
        };
        let snapshot = Arc::new(snapshot);
        let round = Round {
            namespaces: vec![NamespaceRound::polled(
                0,
                label.clone(),
                Ok(Arc::clone(&snapshot)),
            )],
            merged: Some(snapshot),
            dumped: 1,
            ..Round::empty(start + args.interval * poll, false)
        };
        recorder.record(&round)?;
    }
    let size = recorder.size();
    let span = args.interval * args.polls;
    println!(
        "wrote {} polls of {} sockets ({} changes a poll) to {} in {:.1} s: {} bytes, {:.1} MB per hour of recording",
        args.polls,
        args.sockets,
        args.changes,
        args.output.display(),
        began.elapsed().as_secs_f64(),
        size,
        size as f64 / 1e6 * 3600.0 / span.as_secs_f64()
    );
    Ok(())
}
