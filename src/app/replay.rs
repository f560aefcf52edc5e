//! `snapshot --from FILE --at TIME` and `check --from … --at …`: the report a live run
//! would have printed at a recorded poll. The poll is rebuilt from the recording and goes
//! through the same judges and reports as a live dump; the counter rules' baseline is the
//! poll before it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::{Cli, OneShotArgs};
use crate::config::Config;
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::record::{RecordedPolls as _, Recording};
use crate::report::check::Status;
use crate::watch::{Judges, Round};

use super::all_netns::DumpedEach;
use super::{UsageError, load_config, one_shot, stdout_is_open};

/// `sockscope snapshot --from FILE [--at TIME]`.
pub(super) fn snapshot(cli: &Cli, args: &OneShotArgs) -> anyhow::Result<u8> {
    stdout_is_open()?;
    let (every, polled, judges, _) = recorded(cli, args, None)?;
    if every {
        super::all_netns::write_snapshot(cli, args, polled, judges)
    } else {
        let snapshot = one_of(polled)?;
        super::write_snapshot(cli, args, &snapshot, judges)
    }
}

/// `sockscope check --from FILE [--at TIME]`: anything that stops it is UNKNOWN (3).
pub(super) fn check(cli: &Cli, args: &OneShotArgs) -> u8 {
    if let Err(e) = stdout_is_open() {
        crate::stderr_line!("sockscope: {e:#}");
        return Status::Unknown.exit_code();
    }
    let filter = cli.filters.filter();
    match recorded(cli, args, Some(&filter)) {
        Ok((true, polled, judges, _)) => {
            super::all_netns::check_of(Ok((polled, judges)), args.json)
        }
        Ok((false, polled, judges, config)) => super::check_of(
            one_of(polled).map(|snapshot| (snapshot, judges, config)),
            args.json,
        ),
        Err(err) => super::check_of(Err(err), args.json),
    }
}

/// The one namespace's snapshot of a recording of one.
fn one_of(polled: DumpedEach) -> anyhow::Result<Arc<Snapshot>> {
    polled
        .into_iter()
        .next()
        .map(|(_, snapshot)| snapshot)
        .ok_or_else(|| anyhow::anyhow!("the poll holds no namespace"))
}

/// The recorded poll `--at` names: whether the recording watched every namespace, each
/// namespace's key and snapshot, the judges (with `keep`, on the sockets it keeps) with
/// each namespace's counters of the poll before as their baseline, and the config.
fn recorded(
    cli: &Cli,
    args: &OneShotArgs,
    keep: Option<&Filter>,
) -> anyhow::Result<(bool, DumpedEach, Judges, Config)> {
    let config = load_config(cli)?;
    let Some(path) = args.from.as_deref() else {
        anyhow::bail!("--from FILE names the recording");
    };
    let mut recording = Recording::open(path).map_err(|e| UsageError(e.to_string()))?;
    for skipped in &recording.info().skipped {
        crate::stderr_line!("sockscope: {}: {skipped}", path.display());
    }
    let i = poll_index(&recording, path, args.at.as_deref())?;
    let round = recording
        .round(i)
        .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
    let mut judges = one_shot::judges(&config, keep);
    if i > 0
        && let Ok(before) = recording.round(i - 1)
    {
        baselines(&mut judges, &before);
    }
    let polled = round
        .namespaces
        .into_iter()
        .filter_map(|n| Some((n.key, n.snapshot?)))
        .collect();
    Ok((recording.every(), polled, judges, config))
}

/// Each namespace's counters in `before` as its judge's baseline.
fn baselines(judges: &mut Judges, before: &Round) {
    for namespace in &before.namespaces {
        if let Some(snapshot) = &namespace.snapshot {
            let mut counters = snapshot.counters.clone();
            counters.read_at = counters.read_at.or(snapshot.taken_at);
            judges.entry(namespace.key).counter_baseline(counters);
        }
    }
}

/// The index of the last poll at or before `at` (`None`: the last poll).
fn poll_index(recording: &Recording, path: &Path, at: Option<&str>) -> anyhow::Result<usize> {
    let Some((first, last)) = recording.info().span else {
        return Err(UsageError(format!("{}: it holds no readable poll", path.display())).into());
    };
    let Some(text) = at else {
        return Ok(recording.len() - 1);
    };
    let time = parse_time(text, last).map_err(UsageError)?;
    recording.poll_at(time).ok_or_else(|| {
        UsageError(format!(
            "{} starts at {}: --at {text} is before its first poll",
            path.display(),
            humantime::format_rfc3339_seconds(first)
        ))
        .into()
    })
}

/// `--at`: RFC 3339 UTC, `-DURATION` before `end`, or a time of day (UTC) on `end`'s day.
pub(super) fn parse_time(text: &str, end: SystemTime) -> Result<SystemTime, String> {
    let wrong = || {
        format!(
            "--at {text:?}: give a time as 2026-12-07T03:12:00Z (UTC), -10m (before the recording's end) or 03:12[:30] (UTC, on its last day)"
        )
    };
    if let Some(ago) = text.strip_prefix('-') {
        let ago = humantime::parse_duration(ago).map_err(|_| wrong())?;
        return Ok(end.checked_sub(ago).unwrap_or(UNIX_EPOCH));
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    let parts: Vec<&str> = text.split(':').collect();
    let field = |i: usize, max: u64| -> Result<u64, String> {
        match parts.get(i) {
            None => Ok(0),
            Some(p) if p.len() == 2 => p
                .parse::<u64>()
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(wrong),
            Some(_) => Err(wrong()),
        }
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(wrong());
    }
    let of_day = field(0, 23)? * 3600 + field(1, 59)? * 60 + field(2, 59)?;
    let end_secs = end.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Ok(UNIX_EPOCH + Duration::from_secs(end_secs - end_secs % 86_400 + of_day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_rfc3339_relative_and_time_of_day_forms() {
        let end = humantime::parse_rfc3339("2026-12-07T03:25:10Z").unwrap();
        let t =
            |text| parse_time(text, end).map(|t| humantime::format_rfc3339_seconds(t).to_string());
        assert_eq!(t("2026-12-07T03:12:00Z").unwrap(), "2026-12-07T03:12:00Z");
        assert_eq!(t("-10m").unwrap(), "2026-12-07T03:15:10Z");
        assert_eq!(t("03:12").unwrap(), "2026-12-07T03:12:00Z");
        assert_eq!(t("03:12:30").unwrap(), "2026-12-07T03:12:30Z");
        for bad in ["3:12", "25:00", "03:61", "yesterday", "-", "03:12:30:1"] {
            assert!(t(bad).unwrap_err().starts_with("--at"), "{bad}");
        }
    }
}
