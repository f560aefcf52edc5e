//! Side-by-side benchmark (root): sockscope, `ss` and `netstat` on the same sockets.
//!
//! Builds a scratch network namespace `ssbench-<pid>` holding `--sockets` ESTABLISHED
//! loopback sockets (connected pairs, spread over holder processes that each stay under the
//! 20,000-descriptor limit) plus a batch of TIME_WAIT sockets made fresh before each round,
//! then runs every tool once per round, in rotating order, with its output going to
//! `/dev/null`, and prints a markdown table: median wall time, CPU time, peak RSS and the
//! ratio to `ss -tan` (the median of the per-round ratios, so a machine busy with other
//! work slows both sides of a ratio alike). Everything is torn down at the end, on error
//! and on Ctrl-C: holders are killed by pid, the namespace is deleted.
//!
//! ```sh
//! cargo build --release
//! sudo cargo run --release --example bench -- --sockets 100000 --runs 3
//! ```
//!
//! Then the exporter's figures (`exporter.rs`): its poll, a scrape served from the last
//! poll, the exposition's size, and `sockscope serve`'s CPU and memory at its default
//! interval (`--exporter-watch`, 60 s; 0 skips it).
//!
//! Not a test: nothing fails on speed. The sockscope timed is `target/release/sockscope`
//! (or `--sockscope PATH`).

// A tool run by hand, whose report is its printed output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod exporter;
mod holder;
mod many;
mod measure;
mod netns;
mod steady;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;

use measure::{Measurement, Tool};
use netns::BenchNet;

/// Descriptors a holder keeps for itself (stdio, listener) below its limit.
const HOLDER_SPARE_FDS: u32 = 100;
/// At most this many connected pairs per holder, whatever its descriptor limit.
const MAX_PAIRS_PER_HOLDER: u32 = 9_000;

/// Time sockscope, ss and netstat side by side on N sockets in a scratch namespace.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// ESTABLISHED sockets to build (both ends of each loopback connection count).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(2..=4_000_000))]
    sockets: u32,
    /// Rounds; every tool runs once per round. Medians are over rounds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    runs: u32,
    /// TIME_WAIT sockets made before each round (default: 1 % of --sockets). They live 60 s.
    #[arg(long)]
    time_wait: Option<u32>,
    /// Tools to run (default: all; at more than 200,000 sockets all but ss-p and netstat-p,
    /// which take minutes there).
    #[arg(long, value_delimiter = ',')]
    tools: Vec<Tool>,
    /// The sockscope binary to time.
    #[arg(long, value_name = "PATH")]
    sockscope: Option<PathBuf>,
    /// Build the namespace, print its name and hold it until Enter (or stdin closes),
    /// without timing anything: for profiling by hand.
    #[arg(long)]
    hold: bool,
    /// Library polls to time after the tools (what the dashboard pays per poll); 0 for none.
    #[arg(long, default_value_t = 3)]
    polls: u32,
    /// Seconds to run `sockscope serve` at its default 15 s interval for its average CPU
    /// and memory, after its in-process poll and scrape figures; 0 skips the exporter.
    #[arg(long, default_value_t = 60)]
    exporter_watch: u64,
    /// Instead of one namespace of --sockets: this many namespaces of --per-netns sockets
    /// each, a CLOSE_WAIT leak in one, timed against `ss -N` in each, and the dashboard
    /// `-A` (in tmux) over --watch-secs.
    #[arg(long, default_value_t = 0)]
    namespaces: u32,
    /// ESTABLISHED sockets per namespace with --namespaces.
    #[arg(long, default_value_t = 500)]
    per_netns: u32,
    /// Seconds the dashboard's CPU time is read over with --namespaces.
    #[arg(long, default_value_t = 60)]
    watch_secs: u64,
}

fn main() -> ExitCode {
    if let Some(code) = holder::run_from_args() {
        return ExitCode::from(code);
    }
    if let Some(code) = measure::run_from_args() {
        return ExitCode::from(code);
    }
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every tool once per round, in rotating order, with a fresh TIME_WAIT batch before each
/// round: the measurements per round and the namespace's sockstat at each round's start.
fn time_rounds(
    net: &mut BenchNet,
    exe: &std::path::Path,
    sockscope: &std::path::Path,
    tools: &[Tool],
    runs: u32,
    time_wait: u32,
) -> anyhow::Result<(Vec<Vec<Measurement>>, Vec<String>)> {
    let mut rounds: Vec<Vec<Measurement>> = Vec::new();
    let mut sockstat = Vec::new();
    for round in 0..runs {
        net.time_wait_batch(round, time_wait)?;
        sockstat.push(netns::sockstat());
        let mut results = Vec::new();
        let offset = round as usize % tools.len();
        for tool in tools.iter().cycle().skip(offset).take(tools.len()) {
            let m = measure::run_tool(net, exe, sockscope, *tool)?;
            eprintln!(
                "bench: round {} {:<18} {:>8.3}s  {:>7} KiB",
                round + 1,
                tool.label(),
                m.wall.as_secs_f64(),
                m.max_rss_kib
            );
            results.push(m);
        }
        rounds.push(results);
    }
    Ok((rounds, sockstat))
}

fn run(args: &Args) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("needs root (network namespaces, every process's descriptors): run it with sudo");
    }
    let sockscope = args.sockscope.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/sockscope")
    });
    if !sockscope.exists() {
        bail!(
            "no sockscope binary at {}: build it first with `cargo build --release`, or pass --sockscope PATH",
            sockscope.display()
        );
    }
    if args.namespaces > 0 {
        return many::run(&many::Plan {
            namespaces: args.namespaces,
            per_netns: args.per_netns,
            runs: args.runs,
            watch_secs: args.watch_secs,
            sockscope: &sockscope,
            hold: args.hold,
        });
    }
    let tools = if args.tools.is_empty() {
        Tool::defaults(args.sockets)
    } else {
        args.tools.clone()
    };
    let time_wait = args.time_wait.unwrap_or(args.sockets / 100);
    let per_holder = pairs_per_holder()?;
    let pairs = args.sockets.div_ceil(2);

    let started = Instant::now();
    let net = BenchNet::create().context("building the namespace")?;
    eprintln!(
        "bench: netns {}; filling {} sockets over {} holder processes",
        net.name(),
        pairs * 2,
        pairs.div_ceil(per_holder)
    );
    let mut net = net;
    let exe = std::env::current_exe().context("locating the bench executable")?;
    net.fill(&exe, pairs, per_holder)?;
    net.settle(u64::from(pairs) * 2, Duration::from_secs(120))?;
    eprintln!(
        "bench: {} ESTABLISHED sockets in place after {:.1}s",
        pairs * 2,
        started.elapsed().as_secs_f64()
    );

    if args.hold {
        println!("netns {}", net.name());
        println!("press Enter (or close stdin) to tear down");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        return Ok(());
    }

    let (rounds, sockstat) = time_rounds(&mut net, &exe, &sockscope, &tools, args.runs, time_wait)?;
    print!(
        "{}",
        measure::table(
            &measure::Setup {
                sockets: pairs * 2,
                time_wait,
                holders: pairs.div_ceil(per_holder),
                runs: args.runs,
                sockstat: &sockstat,
                sockscope: &sockscope,
            },
            &tools,
            &rounds
        )
    );
    if args.polls > 0 {
        print!("{}", steady::measure(args.polls)?);
    }
    if args.exporter_watch > 0 {
        print!(
            "{}",
            exporter::measure(
                &sockscope,
                args.polls,
                Duration::from_secs(args.exporter_watch)
            )?
        );
    }
    Ok(())
}

/// Pairs one holder can keep: two descriptors each, under this process's open-file limit
/// (which holders inherit), capped so that large counts spread over many processes.
fn pairs_per_holder() -> anyhow::Result<u32> {
    let limits =
        std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u32>().ok())
        .context("no 'Max open files' in /proc/self/limits")?;
    if soft < HOLDER_SPARE_FDS + 200 {
        bail!("the open-file limit is {soft}: raise it (ulimit -n) to at least a few thousand");
    }
    Ok(((soft - HOLDER_SPARE_FDS) / 2).min(MAX_PAIRS_PER_HOLDER))
}
