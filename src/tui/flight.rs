//! The live dashboard's flight recorder: the last minutes of rounds, kept on the UI thread
//! as the `Arc`s the rounds already are (no copy), and written to a file on `w` for
//! `sockscope replay` — the moment someone notices something is usually just after it.
//!
//! What it holds is bounded three ways: by time (`[general] flight_recorder`, 10 minutes
//! by default), by count ([`MAX_POLLS`]), and by the sockets the kept snapshots hold
//! ([`MAX_SOCKETS`], about 80 bytes each): polls are let go oldest first. A poll of more
//! than [`MAX_SOCKETS_PER_POLL`] sockets is not kept at all (ten minutes of them would
//! hold gigabytes), and the dashboard says so once.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::watch::Round;

/// The most polls kept (ten minutes at 250 ms is 2,400).
pub const MAX_POLLS: usize = 3_600;

/// The most sockets the kept polls hold together (about 320 MB of socket records).
pub const MAX_SOCKETS: usize = 4_000_000;

/// A poll of more sockets than this is not kept.
pub const MAX_SOCKETS_PER_POLL: usize = 200_000;

/// The last minutes of rounds.
#[derive(Debug)]
pub struct FlightRecorder {
    span: Duration,
    rounds: VecDeque<(Arc<Round>, usize)>,
    sockets: usize,
    /// Polls not kept for their size since the last one kept.
    skipped: u64,
}

impl FlightRecorder {
    /// A recorder of the last `span` (zero keeps nothing).
    pub fn new(span: Duration) -> FlightRecorder {
        FlightRecorder {
            span,
            rounds: VecDeque::new(),
            sockets: 0,
            skipped: 0,
        }
    }

    /// Keep `round` (a failed one is not kept), and let go of what falls out of the
    /// bounds. Returns a notice the first time a poll is too large to keep.
    pub fn keep(&mut self, round: Arc<Round>) -> Option<String> {
        if self.span.is_zero() || round.failure().is_some() {
            return None;
        }
        let sockets = sockets_of(&round);
        if sockets > MAX_SOCKETS_PER_POLL {
            self.skipped += 1;
            return (self.skipped == 1).then(|| too_large(sockets));
        }
        self.skipped = 0;
        let newest = round.taken_at;
        self.sockets += sockets;
        self.rounds.push_back((round, sockets));
        while let Some((oldest, held)) = self.rounds.front() {
            let too_old = newest
                .duration_since(oldest.taken_at)
                .is_ok_and(|age| age > self.span);
            if !(too_old || self.rounds.len() > MAX_POLLS || self.sockets > MAX_SOCKETS) {
                break;
            }
            self.sockets -= held;
            self.rounds.pop_front();
        }
        None
    }

    /// The rounds kept, oldest first.
    pub fn rounds(&self) -> Vec<Arc<Round>> {
        self.rounds.iter().map(|(r, _)| Arc::clone(r)).collect()
    }

    /// Why nothing is kept, when nothing is.
    pub fn why_empty(&self) -> String {
        if self.span.is_zero() {
            "the flight recorder is off ([general] flight_recorder = \"0s\")".to_owned()
        } else if self.skipped > 0 {
            format!(
                "the flight recorder keeps no poll of over {} sockets",
                crate::format::grouped(MAX_SOCKETS_PER_POLL as u64)
            )
        } else {
            "no poll yet to write".to_owned()
        }
    }
}

fn too_large(sockets: usize) -> String {
    format!(
        "flight recorder: a poll of {} sockets is over {} and is not kept (w writes only smaller polls)",
        crate::format::grouped(sockets as u64),
        crate::format::grouped(MAX_SOCKETS_PER_POLL as u64)
    )
}

/// The sockets a round holds that no earlier round holds: its merged snapshot and the
/// snapshots dumped now (a namespace not dumped now shares its snapshot with a round
/// before).
fn sockets_of(round: &Round) -> usize {
    let merged = round.merged.as_ref().map_or(0, |s| s.sockets.len());
    if !round.every {
        return merged;
    }
    merged
        + round
            .namespaces
            .iter()
            .filter_map(|n| n.fresh_snapshot())
            .map(|s| s.sockets.len())
            .sum::<usize>()
}

/// Where `w` writes, as `sockscope record` does: `/var/lib/sockscope/` when root and it
/// exists, else the current directory; named after the host (only its letters, digits,
/// `-`, `_` and `.`) and the time of the newest poll.
pub fn default_path(host: &str, at: SystemTime, root: bool) -> PathBuf {
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(64)
        .collect();
    let host = if host.is_empty() || host.starts_with('.') {
        "host".to_owned()
    } else {
        host
    };
    let stamp = humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace([':', '-'], "");
    let name = format!("sockscope-{host}-{stamp}.ssrec");
    let system = Path::new("/var/lib/sockscope");
    if root && system.is_dir() {
        system.join(name)
    } else {
        Path::new(".").join(name)
    }
}

/// Write `rounds` to a new recording at `path`, which `sockscope replay` opens.
pub fn write_recording(path: &Path, rounds: &[Arc<Round>]) -> Result<(), String> {
    let Some(first) = rounds.first() else {
        return Err("no poll yet to write".to_owned());
    };
    let host = first
        .merged
        .as_ref()
        .or_else(|| first.namespaces.iter().find_map(|n| n.snapshot.as_ref()))
        .map_or_else(String::new, |s| s.host.clone());
    let interval = match rounds {
        [a, b, ..] => b.taken_at.duration_since(a.taken_at).unwrap_or_default(),
        _ => std::time::Duration::ZERO,
    };
    let settings = crate::record::RecorderSettings::new(host, first.every, interval);
    let mut recorder =
        crate::record::Recorder::create(path, settings).map_err(|e| e.to_string())?;
    for round in rounds {
        recorder.record(round).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Write the flight recorder's `rounds` to the default path: what the status line says.
pub fn write_now(rounds: &[Arc<Round>]) -> Result<String, String> {
    let Some(newest) = rounds.last() else {
        return Err("no poll yet to write".to_owned());
    };
    let host = newest
        .merged
        .as_ref()
        .or_else(|| newest.namespaces.iter().find_map(|n| n.snapshot.as_ref()))
        .map_or("host", |s| s.host.as_str());
    let path = default_path(host, newest.taken_at, nix::unistd::geteuid().is_root());
    write_recording(&path, rounds)
        .map_err(|why| format!("could not write {}: {why}", path.display()))?;
    Ok(format!(
        "wrote {} to {} (sockscope replay opens it)",
        crate::format::count_of(rounds.len() as u64, "poll"),
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Snapshot;

    fn round(secs: u64, sockets: usize) -> Arc<Round> {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let mut snapshot = Snapshot::default();
        let socket = crate::model::Socket::new(
            crate::model::TcpState::Established,
            "10.0.0.1:80".parse().unwrap(),
            "10.0.0.2:40000".parse().unwrap(),
        );
        snapshot.sockets.resize(sockets, socket);
        Arc::new(Round {
            merged: Some(Arc::new(snapshot)),
            ..Round::empty(at, false)
        })
    }

    #[test]
    fn it_keeps_the_last_span_and_lets_the_oldest_go() {
        let mut recorder = FlightRecorder::new(Duration::from_secs(600));
        for secs in 0..=700 {
            assert_eq!(recorder.keep(round(secs, 10)), None);
        }
        let kept = recorder.rounds();
        assert_eq!(kept.len(), 601);
        assert_eq!(
            kept[0].taken_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(100)
        );
    }

    #[test]
    fn a_poll_too_large_is_not_kept_and_said_once() {
        let mut recorder = FlightRecorder::new(Duration::from_secs(600));
        let said = recorder.keep(round(0, MAX_SOCKETS_PER_POLL + 1));
        assert_eq!(
            said.as_deref(),
            Some(
                "flight recorder: a poll of 200,001 sockets is over 200,000 and is not kept (w writes only smaller polls)"
            )
        );
        assert_eq!(recorder.keep(round(1, MAX_SOCKETS_PER_POLL + 1)), None);
        assert!(recorder.rounds().is_empty());
        assert_eq!(
            recorder.why_empty(),
            "the flight recorder keeps no poll of over 200,000 sockets"
        );
    }

    #[test]
    fn the_sockets_held_are_bounded() {
        let mut recorder = FlightRecorder::new(Duration::from_secs(600));
        for secs in 0..30 {
            recorder.keep(round(secs, MAX_SOCKETS_PER_POLL));
        }
        assert_eq!(recorder.rounds().len(), MAX_SOCKETS / MAX_SOCKETS_PER_POLL);
    }

    #[test]
    fn the_default_path_is_named_after_the_host_and_time() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_613_124);
        assert_eq!(
            default_path("web-1", at, false),
            Path::new("./sockscope-web-1-20261207T031204Z.ssrec")
        );
        assert_eq!(
            default_path("../\u{1b}[2J", at, false),
            Path::new("./sockscope-host-20261207T031204Z.ssrec")
        );
    }
}
