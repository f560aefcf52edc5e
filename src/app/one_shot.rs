//! The one-shot poll behind `snapshot` and `check`: the sockets are dumped once, and the
//! kernel counters are read when the dump starts and again when it ends — or, with a
//! counter window, that long after the first reading — so that the rules on counter rises
//! (SYN cookies, listen overflows, TIME_WAIT overflow) run on the one snapshot.

use std::sync::Arc;
use std::time::Duration;

use crate::aggregate::Anomaly;
use crate::config::Config;
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::watch::judge::Sees;
use crate::watch::{JudgeSpec, Judges, Round, RoundSource, Watcher};

/// The counter window `check` uses unless `--window` says otherwise: a monitoring plugin
/// may take a second, and a second of counters says more than a fast dump's few
/// milliseconds.
pub const CHECK_WINDOW: Duration = Duration::from_secs(1);

/// Which one-shot mode is polling: they differ only in their default counter window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `sockscope snapshot`: counters over the dump itself unless `--window` is given.
    Snapshot,
    /// `sockscope check`: counters over [`CHECK_WINDOW`] unless `--window` is given.
    Check,
}

impl Mode {
    /// The counter window for `--window` as given (`None`: not given).
    pub fn counter_window(self, window: Option<Duration>) -> Duration {
        window.unwrap_or(match self {
            Mode::Snapshot => Duration::ZERO,
            Mode::Check => CHECK_WINDOW,
        })
    }
}

/// The judges of a one-shot poll: `config`'s rules and thresholds, and no socket
/// identities (one look tells no age). With `keep` (check's filters) the rules see only
/// the sockets it keeps; the snapshot stays whole, so counts per state cover every
/// socket, as in every mode. `--netns-match` in it leaves the other namespaces unjudged.
pub fn judges(config: &Config, keep: Option<&Filter>) -> Judges {
    let spec = JudgeSpec::new(config.clone()).without_ages();
    Judges::new(match keep {
        Some(filter) => spec.narrowed_by(filter.clone(), Sees::KeptOnly),
        None => spec,
    })
}

/// Whether a one-shot poll listens for destroyed sockets during its counter `window`
/// (for `connection_churn`): with the rule on, over a window of a second or more (a rate
/// over less says little).
pub fn listens(config: &Config, window: Duration) -> bool {
    config.rules.connection_churn.enabled && window >= Duration::from_secs(1)
}

/// Say on stderr that the destroy events of `round` could not be listened to, if so.
pub fn warn_unheard(round: &Round) {
    if let Some(why) = &round.events_error {
        crate::stderr_line!(
            "sockscope: not listening for destroyed sockets ({why}); connection_churn is not judged"
        );
    }
}

/// One poll of `watcher`'s one namespace, judged: read the counters, dump the sockets
/// once, read the counters again at the end of the dump or `counter_window` after the
/// first reading, whichever comes later ([`Watcher::dump_once`]), then run the rules.
/// Returns the snapshot and the anomalies raised, or why the dump failed.
///
/// The judge sees one snapshot, so socket ages start at it and no state change or trend
/// is made up; only the counter rises span the interval between the two readings (their
/// evidence says how long it was).
pub fn poll_once<S: RoundSource>(
    watcher: &mut Watcher<S>,
    counter_window: Duration,
) -> Result<(Arc<Snapshot>, Vec<Anomaly>), String> {
    let round = watcher.dump_once(counter_window);
    let snapshot = the_snapshot(&round)?;
    let anomalies = judge(watcher.judges_mut(), 0, &snapshot);
    Ok((snapshot, anomalies))
}

/// The one namespace's snapshot of a one-shot round, or why there is none.
pub fn the_snapshot(round: &Round) -> Result<Arc<Snapshot>, String> {
    if let Some(why) = round.failure() {
        return Err(why.to_owned());
    }
    round
        .namespaces
        .first()
        .and_then(|n| n.fresh_snapshot().cloned())
        .ok_or_else(|| "no namespace was dumped".to_owned())
}

/// Run the rules of namespace `key`'s judge on `snapshot` and return the anomalies raised
/// (none when `--netns-match` leaves it out). The reports call it on one thread while they
/// prepare the socket listing on others.
pub fn judge(judges: &mut Judges, key: u64, snapshot: &Snapshot) -> Vec<Anomaly> {
    judges
        .judge(key, snapshot)
        .map(|verdict| verdict.anomalies)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
