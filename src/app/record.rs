//! `sockscope record`: poll through the watcher (the exporter's policy: every namespace
//! watched dumped every round) and append each round to a recording until SIGINT or
//! SIGTERM (after the frame under way) or `--duration`; and `record --info FILE`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use crate::cli::{Cli, RecordArgs};
use crate::record::{RecordError, Recorder, RecorderSettings, Recording};
use crate::watch::{Judges, Policy, Watcher};

use super::{UsageError, all_netns};

/// Where a root recorder writes by default.
const STATE_DIRECTORY: &str = "/var/lib/sockscope";

/// Run `sockscope record` (or `record --info`).
pub(super) fn record(cli: &Cli, args: &RecordArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.info {
        return info(path);
    }
    let every = cli.target.all_netns;
    let filter = cli.filters.filter();
    let (collectors, _) = all_netns::open_watched(cli, &filter, Policy::exporter())?;
    let host = nix::unistd::gethostname().map_or_else(
        |_| "localhost".to_owned(),
        |h| h.to_string_lossy().into_owned(),
    );
    let path = match &args.output {
        Some(path) => path.clone(),
        None => default_path(&host)?,
    };
    let settings = RecorderSettings {
        max_size: args.max_size,
        ..RecorderSettings::new(host, every, args.interval)
    };
    let exists = std::fs::symlink_metadata(&path).is_ok();
    let mut recorder = if exists {
        Recorder::append(&path, settings)?
    } else {
        Recorder::create(&path, settings)?
    };
    crate::stderr_line!(
        "sockscope: recording to {} every {}{}",
        path.display(),
        crate::format::interval(args.interval),
        if exists { " (going on with it)" } else { "" }
    );
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let mut watcher = Watcher::new(collectors, Judges::off());
    let narrows = {
        let mut sockets_only = filter.clone();
        sockets_only.netns.clear();
        !sockets_only.is_empty()
    };
    let ends = args.duration.map(|d| Instant::now() + d);
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) && ends.is_none_or(|e| Instant::now() < e) {
        let mut round = watcher.poll(args.interval);
        if let Some(why) = &round.failure {
            crate::stderr_line!("sockscope: a poll failed, not recorded: {why}");
        } else {
            if !filter.netns.is_empty() {
                round.namespaces.retain(|n| {
                    filter
                        .netns
                        .iter()
                        .any(|m| m.names(&n.label.name, n.label.inode))
                });
            }
            if narrows {
                // Only the sockets the filters keep are recorded (the counters and limits
                // stay whole, as `filter.narrow` leaves them).
                for namespace in &mut round.namespaces {
                    if let Some(snapshot) = &namespace.snapshot {
                        namespace.snapshot = Some(Arc::new(filter.narrow(snapshot)));
                    }
                }
            }
            if let Err(err) = recorder.record(&round) {
                return Err(stopped(&err));
            }
        }
        next += args.interval;
        let wake = ends.map_or(next, |e| e.min(next));
        while !stop.load(Ordering::Relaxed) && Instant::now() < wake {
            std::thread::sleep(
                wake.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100)),
            );
        }
    }
    let (frames, keys) = recorder.frames();
    crate::stderr_line!(
        "sockscope: recorded {frames} polls ({keys} key frames) to {}, {} bytes",
        recorder.path().display(),
        recorder.size()
    );
    Ok(0)
}

/// A recorder's write error, said as the reason recording stopped: its message already
/// names the cause, so the cause is not chained after it again.
fn stopped(err: &RecordError) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

/// `/var/lib/sockscope/sockscope-HOST-YYYYMMDDTHHMMSSZ.ssrec` as root (the directory made
/// 0750 if missing), else the same name in the current directory.
fn default_path(host: &str) -> anyhow::Result<PathBuf> {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(['-', ':'], "");
    let safe_host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("sockscope-{safe_host}-{stamp}.ssrec");
    if !nix::unistd::geteuid().is_root() {
        return Ok(PathBuf::from(name));
    }
    let dir = Path::new(STATE_DIRECTORY);
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .with_context(|| {
                format!("creating {STATE_DIRECTORY} for the recording (or give -o FILE)")
            })?;
    }
    Ok(dir.join(name))
}

/// `sockscope record --info FILE`.
fn info(path: &Path) -> anyhow::Result<u8> {
    let mut recording = Recording::open(path).map_err(|e| UsageError(e.to_string()))?;
    let names = recording
        .namespace_names()
        .map_err(|why| UsageError(format!("{}: {why}", path.display())))?;
    let info = recording.info();
    let mut lines = vec![
        format!("file        {}", info.path.display()),
        format!(
            "format      {}.{}, host {}, {}",
            info.version.0,
            info.version.1,
            info.host,
            if info.every {
                "every namespace (-A)"
            } else {
                "one namespace"
            }
        ),
    ];
    match info.span {
        Some((first, last)) => {
            lines.push(format!(
                "span        {} .. {} ({})",
                humantime::format_rfc3339_seconds(first),
                humantime::format_rfc3339_seconds(last),
                humantime::format_duration(Duration::from_secs(
                    last.duration_since(first).unwrap_or_default().as_secs()
                ))
            ));
        }
        None => lines.push("span        no poll".to_owned()),
    }
    lines.push(format!(
        "polls       {} every {} ({} key frames)",
        info.polls,
        crate::format::interval(info.interval),
        info.key_frames
    ));
    lines.push(format!("namespaces  {}", names.join(", ")));
    let hours = info
        .span
        .map(|(f, l)| l.duration_since(f).unwrap_or_default().as_secs_f64() / 3600.0)
        .unwrap_or_default();
    // Under ten minutes the first key frame (every socket) outweighs the deltas after it:
    // a rate per hour of that would mislead.
    lines.push(if hours >= 10.0 / 60.0 {
        format!(
            "size        {} bytes ({:.1} MB per hour)",
            info.size,
            info.size as f64 / hours / 1e6
        )
    } else {
        format!("size        {} bytes", info.size)
    });
    if info.lost_bytes == 0 && info.skipped.is_empty() {
        lines.push("lost        nothing".to_owned());
    } else {
        if info.lost_bytes > 0 {
            lines.push(format!(
                "lost        {} bytes at the end (a frame cut off mid-write)",
                info.lost_bytes
            ));
        }
        for skipped in &info.skipped {
            lines.push(format!("skipped     {skipped}"));
        }
    }
    // The host and namespace names come from the file: escaped where they are written.
    let mut text = String::new();
    for line in &lines {
        text.push_str(&crate::format::printable(line));
        text.push('\n');
    }
    super::finish_output(std::io::stdout().lock().write_all(text.as_bytes()))?;
    Ok(0)
}
