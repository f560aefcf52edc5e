//! What each mode does, given a parsed command line. Errors come back to `main`, which
//! prints them as one line and picks the exit code.

use std::io::{self, BufWriter, Write};

use anyhow::Context as _;

use std::sync::Arc;

use crate::cli::{Cli, Command, OneShotArgs, TopArgs};
use crate::collect::CollectOptions;
use crate::collect::cgroup::ContainerRoots;
use crate::config::Config;
use crate::filter::Filter;
use crate::model::{Attribution, Snapshot};
use crate::report;
use crate::report::check::{CheckOutcome, Status};
use crate::tui::Dashboard;
use crate::watch::{Collectors, Judges, Policy, Watcher};
use one_shot::Mode;

mod all_netns;
mod events;
pub mod one_shot;
mod record;
mod replay;
mod serve;

/// Exit code for a failure to poll or any runtime error.
pub const EXIT_FAILURE: u8 = 1;

/// A command line that parses but asks for something inconsistent: exit 2, like clap's
/// own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Run the command line; returns the process exit code.
pub fn run(cli: &Cli) -> anyhow::Result<u8> {
    if cli.top.interval.is_some() && cli.command.is_some() {
        return Err(UsageError(
            "--interval goes after the mode it is for: `sockscope top --interval 2s`; one-shot modes take --window"
                .to_owned(),
        )
        .into());
    }
    if !cli.target.all_netns && !cli.filters.filter().netns.is_empty() {
        return Err(UsageError(
            "--netns-match picks among the namespaces -A watches, and without -A only one is watched: add -A (`sockscope check -A --netns-match NAME`), or watch that namespace alone with --netns NAME"
                .to_owned(),
        )
        .into());
    }
    match &cli.command {
        Some(Command::Snapshot(args)) if args.from.is_some() => replay::snapshot(cli, args),
        Some(Command::Check(args)) if args.from.is_some() => Ok(replay::check(cli, args)),
        Some(Command::Snapshot(args)) if cli.target.all_netns => all_netns::snapshot(cli, args),
        Some(Command::Check(args)) if cli.target.all_netns => Ok(all_netns::check(cli, args)),
        Some(Command::Snapshot(args)) => snapshot(cli, args),
        Some(Command::Check(args)) => Ok(check(cli, args)),
        Some(Command::Serve(args)) => serve::serve(cli, args),
        Some(Command::Events(args)) => events::events(cli, args),
        Some(Command::Record(args)) => record::record(cli, args),
        Some(Command::Replay(args)) => replay(cli, args),
        Some(Command::Top(args)) => crate::tui::run(dashboard(cli, args)?),
        Some(Command::Demo(args)) => crate::demo::run(dashboard(cli, args)?),
        None => crate::tui::run(dashboard(cli, &cli.top)?),
    }
}

/// `sockscope replay FILE`: the dashboard on a recording, judged by the rules of the
/// config file in force, narrowed by the filter flags; Space plays at the config's
/// interval.
fn replay(cli: &Cli, args: &crate::cli::ReplayArgs) -> anyhow::Result<u8> {
    let (config, path) = Config::load(cli.target.config_path().as_deref())?;
    config.check_dashboard(path.as_deref())?;
    let polls = open_recording(&args.file).map_err(|why| anyhow::anyhow!("cannot replay {why}"))?;
    let filter = cli.filters.filter();
    crate::tui::replay::run(polls, config, filter.clone(), filter.to_string())
}

/// The recording at `path`, opened for the replay; what it lost or skipped is said on
/// stderr first (the replay shows the rest). The error names the file.
fn open_recording(path: &std::path::Path) -> Result<Box<dyn crate::record::RecordedPolls>, String> {
    let recording = crate::record::Recording::open(path).map_err(|e| e.to_string())?;
    let info = recording.info();
    if info.polls == 0 {
        return Err(format!("{}: it holds no readable poll", path.display()));
    }
    if info.lost_bytes > 0 {
        crate::stderr_line!(
            "sockscope: {}: the last {} bytes hold no whole frame (a write cut off): replaying up to the poll before",
            path.display(),
            info.lost_bytes
        );
    }
    for skipped in &info.skipped {
        crate::stderr_line!("sockscope: {}: {skipped}", path.display());
    }
    Ok(Box::new(recording))
}

/// The dashboard's settings from the flags and the config file.
fn dashboard(cli: &Cli, args: &TopArgs) -> anyhow::Result<Dashboard> {
    let (mut config, path) = Config::load(cli.target.config_path().as_deref())?;
    match args.interval {
        Some(interval) => config.general.interval = interval,
        // Only the dashboard polls at the file's interval: only it checks it.
        None => config.check_dashboard(path.as_deref())?,
    }
    let filter = cli.filters.filter();
    Ok(Dashboard {
        collect: collect_options(cli),
        config,
        filter_text: filter.to_string(),
        filter,
        all_netns: cli.target.all_netns,
    })
}

/// Collector options for the flags in `cli`.
pub fn collect_options(cli: &Cli) -> CollectOptions {
    CollectOptions {
        netns: cli.target.netns(),
        processes: !cli.target.no_processes,
        force_procnet: std::env::var("SOCKSCOPE_SOURCE").is_ok_and(|v| v == "proc"),
        container_roots: container_roots(),
        ..CollectOptions::default()
    }
}

/// Where container and pod names are read: the real paths, or `SOCKSCOPE_DOCKER_ROOT`
/// and `SOCKSCOPE_PODS_ROOT` when set and not empty (tests stage them elsewhere).
fn container_roots() -> ContainerRoots {
    let mut roots = ContainerRoots::default();
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(docker) = var("SOCKSCOPE_DOCKER_ROOT") {
        roots.docker = docker.into();
    }
    if let Some(pods) = var("SOCKSCOPE_PODS_ROOT") {
        roots.pods = pods.into();
    }
    roots
}

/// Load the thresholds the flags point at.
pub fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    Ok(Config::load(cli.target.config_path().as_deref())?.0)
}

/// Tell stderr, once, what the user should know about a snapshot's completeness.
fn warn_about(collectors: &Collectors, snapshot: &Snapshot) {
    if let Some(reason) = collectors.fallback_reason() {
        crate::stderr_line!(
            "sockscope: reading /proc/net/tcp instead of sock_diag ({reason}); no cookies, tcp_info or bound-only sockets"
        );
    }
    warn_attribution(&snapshot.attribution);
}

/// Tell stderr, once, when some processes' descriptors could not be read.
fn warn_attribution(attribution: &Attribution) {
    if let Attribution::Partial { unreadable } = *attribution {
        let processes = if unreadable == 1 {
            "process"
        } else {
            "processes"
        };
        if nix::unistd::geteuid().is_root() {
            crate::stderr_line!(
                "sockscope: could not read the descriptors of {unreadable} {processes} even as root (a hardened /proc or another user namespace): their sockets show owner '?'"
            );
        } else {
            crate::stderr_line!(
                "sockscope: could not read the descriptors of {unreadable} {processes} of other users: their sockets show owner '?'; run as root to see every owner"
            );
        }
    }
}

/// A one-shot dump of the namespace the flags name, with the counters over the mode's
/// window (see [`Watcher::dump_once`]), and the watcher whose judge is to judge it (with
/// `keep`, on the sockets it keeps).
fn dump(
    cli: &Cli,
    args: &OneShotArgs,
    mode: Mode,
    tcp_info: bool,
    keep: Option<&Filter>,
) -> anyhow::Result<(Arc<Snapshot>, Judges, Config)> {
    let config = load_config(cli)?;
    let mut options = collect_options(cli);
    // Only the JSON snapshot shows tcp_info; asking for it costs the kernel a third more.
    options.tcp_info = tcp_info;
    let collectors = Collectors::open(&options, false, Policy::one_shot())?;
    let window = mode.counter_window(args.window);
    let mut watcher = Watcher::new(collectors, one_shot::judges(&config, keep));
    if one_shot::listens(&config, window) {
        watcher = watcher.with_destroyed(&options, false);
    }
    let round = watcher.dump_once(window);
    one_shot::warn_unheard(&round);
    let snapshot = one_shot::the_snapshot(&round).map_err(anyhow::Error::msg)?;
    warn_about(watcher.source(), &snapshot);
    // The collector goes before the report is written: its buffers and caches are not
    // needed any more.
    Ok((snapshot, watcher.into_judges(), config))
}

fn snapshot(cli: &Cli, args: &OneShotArgs) -> anyhow::Result<u8> {
    stdout_is_open()?;
    let (snapshot, judges, _) = dump(cli, args, Mode::Snapshot, args.json, None)?;
    write_snapshot(cli, args, &snapshot, judges)
}

/// Write the report of `snapshot` (live or recorded), judged by `judges` meanwhile.
fn write_snapshot(
    cli: &Cli,
    args: &OneShotArgs,
    snapshot: &Snapshot,
    mut judges: Judges,
) -> anyhow::Result<u8> {
    let filter = cli.filters.filter();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    // The rules run while the report prepares its listing: both only read the snapshot.
    let judge = || one_shot::judge(&mut judges, 0, snapshot);
    let written = if args.json {
        report::json::render_judging(snapshot, &filter, judge, &mut out)
    } else {
        report::text::render_judging(snapshot, &filter, judge, &mut out)
    };
    finish_output(written.and_then(|_| out.flush()))?;
    Ok(0)
}

/// The check never fails with exit 1: anything that stops it is UNKNOWN (3).
fn check(cli: &Cli, args: &OneShotArgs) -> u8 {
    if let Err(e) = stdout_is_open() {
        crate::stderr_line!("sockscope: {e:#}");
        return Status::Unknown.exit_code();
    }
    let filter = cli.filters.filter();
    check_of(
        dump(cli, args, Mode::Check, false, Some(&filter)),
        args.json,
    )
}

/// The check of a snapshot (live or recorded) and its judges, or UNKNOWN for why there is
/// none.
fn check_of(dumped: anyhow::Result<(Arc<Snapshot>, Judges, Config)>, json: bool) -> u8 {
    let polled = dumped.map(|(snapshot, mut judges, config)| {
        let anomalies = one_shot::judge(&mut judges, 0, &snapshot);
        let levels = config.rules.state_levels(&snapshot.limits);
        (snapshot, anomalies, levels)
    });
    match polled {
        Ok((snapshot, anomalies, levels)) => {
            let outcome = CheckOutcome {
                levels,
                netns: &[],
                counts: &snapshot.state_counts(),
                anomalies: &anomalies,
                taken_at: snapshot.taken_at.unwrap_or_else(std::time::SystemTime::now),
            };
            write_check(Ok(&outcome), json)
        }
        Err(err) => write_check(Err(err), json),
    }
}

/// Write what a check found (or, as UNKNOWN, why it could not run) to stdout and return the
/// plugin's exit code; a result that cannot be written is UNKNOWN too.
fn write_check(result: anyhow::Result<&CheckOutcome<'_>>, json: bool) -> u8 {
    let mut out = io::stdout().lock();
    let (status, written) = match result {
        Ok(outcome) => {
            let written = if json {
                outcome.render_json(&mut out)
            } else {
                outcome.render_text(&mut out)
            };
            (outcome.status(), written)
        }
        Err(err) => (
            Status::Unknown,
            report::check::render_unknown(&format!("{err:#}"), json, &mut out),
        ),
    };
    if let Err(e) = finish_output(written) {
        crate::stderr_line!("sockscope: writing the check result: {e:#}");
        return Status::Unknown.exit_code();
    }
    status.exit_code()
}

/// A one-shot mode's output goes to stdout. Started with stdout closed (`snapshot >&-`), the
/// Rust runtime puts `/dev/null` there, opened read-write, before `main`: every write would
/// vanish and the run look like a success. A shell's redirection to `/dev/null` opens it
/// write-only, so it is told apart.
fn stdout_is_open() -> anyhow::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use std::os::fd::AsFd as _;
    let stdout = io::stdout();
    let read_write = fcntl(stdout.as_fd(), FcntlArg::F_GETFL)
        .is_ok_and(|flags| OFlag::from_bits_retain(flags) & OFlag::O_ACCMODE == OFlag::O_RDWR);
    let dev_null = nix::sys::stat::stat("/dev/null").ok().map(|s| s.st_rdev);
    let is_dev_null = nix::sys::stat::fstat(stdout.as_fd())
        .is_ok_and(|s| Some(s.st_rdev) == dev_null && s.st_mode & libc::S_IFMT == libc::S_IFCHR);
    if read_write && is_dev_null {
        anyhow::bail!(
            "stdout is closed, so the report would go nowhere: run it with stdout open (a file, a pipe or the terminal)"
        );
    }
    Ok(())
}

/// A closed pipe (`sockscope snapshot | head`) is not an error.
fn finish_output(result: io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}
