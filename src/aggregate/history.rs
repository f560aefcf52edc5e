//! Bounded history of every poll: state counts and the rates of the key kernel counters,
//! for sparklines and trends.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::model::{StateCounts, TcpState};

/// Counters whose per-second rate every history sample keeps (TcpExt or Tcp names).
pub const KEY_COUNTERS: [&str; 12] = [
    "ListenOverflows",
    "ListenDrops",
    "SyncookiesSent",
    "TCPReqQFullDrop",
    "TCPTimeWaitOverflow",
    "ActiveOpens",
    "PassiveOpens",
    "AttemptFails",
    "EstabResets",
    "RetransSegs",
    "OutRsts",
    "TCPAbortOnTimeout",
];

/// The most samples a history keeps, whatever span and interval ask for (a day at 1 s).
pub const MAX_SAMPLES: usize = 86_400;

/// One poll as the history keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// When the snapshot was taken (`None` for a snapshot without a time).
    pub at: Option<SystemTime>,
    /// Sockets per state.
    pub counts: StateCounts,
    /// Per-second rate of each of [`KEY_COUNTERS`], in that order; `None` on the first poll,
    /// after a counter reset, or when the kernel does not have the counter.
    pub rates: [Option<f64>; KEY_COUNTERS.len()],
}

/// A ring of the last samples, long enough to cover a time span at a poll interval.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    capacity: usize,
    samples: VecDeque<Sample>,
}

impl Default for History {
    /// Ten minutes at one poll per second.
    fn default() -> Self {
        History::with_span(Duration::from_secs(600), Duration::from_secs(1))
    }
}

impl History {
    /// A history holding `span` worth of polls taken every `interval` (at least two samples,
    /// at most [`MAX_SAMPLES`]).
    pub fn with_span(span: Duration, interval: Duration) -> History {
        let interval_ms = interval.as_millis().max(1);
        let wanted = span.as_millis().div_ceil(interval_ms) + 1;
        let capacity = usize::try_from(wanted)
            .unwrap_or(MAX_SAMPLES)
            .clamp(2, MAX_SAMPLES);
        History {
            capacity,
            samples: VecDeque::with_capacity(capacity.min(1024)),
        }
    }

    /// How many samples the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many samples it holds now.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no poll was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Every sample, oldest first.
    pub fn samples(&self) -> impl DoubleEndedIterator<Item = &Sample> + ExactSizeIterator {
        self.samples.iter()
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// The count of `state` in each sample, oldest first: a sparkline's data.
    pub fn state_series(
        &self,
        state: TcpState,
    ) -> impl DoubleEndedIterator<Item = u64> + ExactSizeIterator + '_ {
        self.samples.iter().map(move |s| s.counts.get(state))
    }

    /// The rate of one of [`KEY_COUNTERS`] in each sample, oldest first; `None` if `counter`
    /// is not one of them.
    pub fn rate_series(
        &self,
        counter: &str,
    ) -> Option<impl DoubleEndedIterator<Item = Option<f64>> + ExactSizeIterator + '_> {
        let index = KEY_COUNTERS.iter().position(|c| *c == counter)?;
        Some(self.samples.iter().map(move |s| s.rates[index]))
    }

    /// Add a sample, dropping the oldest when full.
    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(close_wait: u64) -> Sample {
        let mut counts = StateCounts::default();
        for _ in 0..close_wait {
            counts.add(TcpState::CloseWait);
        }
        Sample {
            at: None,
            counts,
            rates: [None; KEY_COUNTERS.len()],
        }
    }

    #[test]
    fn ten_minutes_at_one_second_holds_601_samples() {
        let history = History::with_span(Duration::from_secs(600), Duration::from_secs(1));
        assert_eq!(history.capacity(), 601);
    }

    #[test]
    fn span_is_sized_from_interval() {
        let history = History::with_span(Duration::from_secs(600), Duration::from_millis(250));
        assert_eq!(history.capacity(), 2401);
        let history = History::with_span(Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(history.capacity(), 2);
    }

    #[test]
    fn full_ring_drops_oldest_sample() {
        let mut history = History::with_span(Duration::from_secs(2), Duration::from_secs(1));
        for n in 1..=5 {
            history.push(sample(n));
        }
        let series: Vec<u64> = history.state_series(TcpState::CloseWait).collect();
        assert_eq!(series, vec![3, 4, 5]);
    }

    #[test]
    fn rate_series_is_none_for_an_untracked_counter() {
        let history = History::default();
        assert!(history.rate_series("NoSuchCounter").is_none());
        assert_eq!(
            history.rate_series("ListenDrops").map(Iterator::count),
            Some(0)
        );
    }

    #[test]
    fn len_is_empty_and_latest_follow_the_pushes() {
        let mut history = History::with_span(Duration::from_secs(1), Duration::from_secs(1));
        assert!(history.is_empty());
        assert_eq!(history.len(), 0);
        assert_eq!(history.latest(), None);
        history.push(sample(4));
        assert!(!history.is_empty());
        assert_eq!(history.len(), 1);
        history.push(sample(5));
        history.push(sample(6));
        assert_eq!(history.len(), 2);
        assert_eq!(history.latest(), Some(&sample(6)));
    }
}
