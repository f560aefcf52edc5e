//! The one-shot poll behind `snapshot` and `check`: the sockets are dumped once, and the
//! kernel counters are read when the dump starts and again when it ends — or, with a
//! counter window, that long after the first reading — so that the rules on counter rises
//! (SYN cookies, listen overflows, TIME_WAIT overflow) run on the one snapshot.

use std::time::{Duration, Instant};

use crate::aggregate::{Aggregator, Anomaly};
use crate::collect::all_netns::EachSource;
use crate::collect::{CollectError, SocketSource};
use crate::filter::Filter;
use crate::model::Snapshot;

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

/// One poll of `source` run through `aggregator`: read the counters, dump the sockets
/// once, and read the counters again at the end of the dump or `counter_window` after
/// the first reading, whichever comes later. `keep` narrows the sockets the rules see
/// (check's filters); the snapshot returned is the whole one, so counts per state cover
/// every socket, as in every mode. Returns it and the anomalies raised.
///
/// The aggregator sees one snapshot, so socket ages start at it and no state change or
/// trend is made up; only the counter rises span the interval between the two readings
/// (their evidence says how long it was).
pub fn poll_once<S: SocketSource + ?Sized>(
    source: &mut S,
    aggregator: &mut Aggregator,
    counter_window: Duration,
    keep: Option<&Filter>,
) -> Result<(Snapshot, Vec<Anomaly>), CollectError> {
    let snapshot = dump_once(source, aggregator, counter_window)?;
    let anomalies = judge(aggregator, &snapshot, keep);
    Ok((snapshot, anomalies))
}

/// The first half of [`poll_once`]: the counters, the one dump and the counter window.
/// The counters read before the dump become `aggregator`'s baseline.
pub fn dump_once<S: SocketSource + ?Sized>(
    source: &mut S,
    aggregator: &mut Aggregator,
    counter_window: Duration,
) -> Result<Snapshot, CollectError> {
    if let Some(baseline) = source.sample_counters() {
        aggregator.counter_baseline(baseline);
    }
    let started = Instant::now();
    // The poll reads the counters again when its dump is done.
    let mut snapshot = source.poll()?;
    let left = counter_window.saturating_sub(started.elapsed());
    if !left.is_zero() {
        std::thread::sleep(left);
        if let Some(counters) = source.sample_counters() {
            snapshot.counters = counters;
        }
    }
    Ok(snapshot)
}

/// [`dump_once`] for several namespaces at once (`--all-netns`), the counters of source `i`
/// going to `aggregators[i]`: every source's counters are read, every source is dumped
/// (one /proc walk for all, with [`AllNetns`](crate::collect::all_netns::AllNetns)), and
/// the counters are read again at the end of the dumps or `counter_window` after the first
/// readings, whichever comes later — one window for all, not one each.
pub fn dump_each<S: EachSource + ?Sized>(
    sources: &mut S,
    aggregators: &mut [Aggregator],
    counter_window: Duration,
) -> Vec<Result<Snapshot, CollectError>> {
    for (i, aggregator) in aggregators.iter_mut().enumerate().take(sources.count()) {
        if let Some(baseline) = sources.sample_counters_of(i) {
            aggregator.counter_baseline(baseline);
        }
    }
    let started = Instant::now();
    let mut snapshots = sources.poll_each();
    let left = counter_window.saturating_sub(started.elapsed());
    if !left.is_zero() {
        std::thread::sleep(left);
        for (i, snapshot) in snapshots.iter_mut().enumerate() {
            if let (Ok(snapshot), Some(counters)) = (snapshot, sources.sample_counters_of(i)) {
                snapshot.counters = counters;
            }
        }
    }
    snapshots
}

/// The second half of [`poll_once`]: run the rules on `snapshot` (narrowed by `keep`) and
/// return the anomalies raised. The reports call it on one thread while they prepare the
/// socket listing on others.
pub fn judge(
    aggregator: &mut Aggregator,
    snapshot: &Snapshot,
    keep: Option<&Filter>,
) -> Vec<Anomaly> {
    // An empty filter keeps every socket: no copy of them (80 MB at a million).
    match keep {
        Some(filter) if !filter.is_empty() => aggregator.ingest(&filter.narrow(snapshot)),
        _ => aggregator.ingest(snapshot),
    }
    .anomalies
    .clone()
}

#[cfg(test)]
mod tests;
