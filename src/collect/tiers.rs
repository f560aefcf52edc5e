//! Re-reading the bulk of ESTABLISHED sockets less often than the rest, for the dashboard
//! at scale.
//!
//! On a busy server most sockets are ESTABLISHED, and no anomaly rule looks at them: the
//! rules watch listeners, SYN_RECV, CLOSE_WAIT, TIME_WAIT, FIN_WAIT2 and the counters. Yet
//! the kernel's dump spends most of its time filling in messages, one per matching socket
//! (at 100,000 sockets, about 7 % of a core per poll a second; walking its tables without
//! filling is a third of that). So while the last full read found at least
//! [`TIER_FROM`] ESTABLISHED sockets, a poll asks the kernel for every state but
//! ESTABLISHED, and the ESTABLISHED sockets of the last full read are carried over; a
//! full read happens again once [`ESTABLISHED_EVERY`] has passed.
//!
//! A carried socket that shows up in another state (it closed, or is closing) is dropped
//! from the carried set for good, so it is never counted twice. A socket that went away
//! entirely, or a new connection, shows only at the next full read.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::model::{Cgroups, EstablishedTier, Snapshot, Socket, StateSet, TcpState};

/// Below this many ESTABLISHED sockets every poll is a full read: it is cheap enough.
pub const TIER_FROM: usize = 10_000;
/// How often the dashboard re-reads ESTABLISHED sockets at scale.
pub const ESTABLISHED_EVERY: Duration = Duration::from_secs(5);
/// A full read is due this much before `every` has passed, so that a poll a few
/// milliseconds early does not push it back by a whole interval.
const SLACK: Duration = Duration::from_millis(200);

/// Which sockets a poll re-reads (see the module notes).
///
/// The carried sockets are not copied: they are the ESTABLISHED sockets of the last
/// snapshot handed out, which its consumer shares back with [`Tiers::remember`] (at a
/// million sockets a copy would cost 80 MB). Until it does, every poll is a full read.
#[derive(Debug)]
pub struct Tiers {
    every: Duration,
    from: usize,
    /// The last snapshot handed out, when its ESTABLISHED sockets are to be carried: those
    /// of the last full read, minus those seen since in another state.
    previous: Option<Arc<Snapshot>>,
    /// How many ESTABLISHED sockets the last poll ended with.
    established: usize,
    /// When the last full read started.
    last_full: Option<(Instant, SystemTime)>,
    /// Scratch: the cookies of one partial read, sorted.
    seen: Vec<u64>,
}

/// What a poll asks the kernel for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Every state asked for.
    Full,
    /// Every state asked for but ESTABLISHED; [`Tiers::carry`] adds the carried ones.
    WithoutEstablished,
}

impl Tiers {
    /// Tiers that re-read ESTABLISHED sockets only every `every` once a full read finds
    /// `from` of them (the dashboard: [`ESTABLISHED_EVERY`], [`TIER_FROM`]).
    pub fn new(every: Duration, from: usize) -> Tiers {
        Tiers {
            every,
            from,
            previous: None,
            established: 0,
            last_full: None,
            seen: Vec::new(),
        }
    }

    /// Tiers with these settings and nothing remembered (for a collector opened anew).
    #[must_use]
    pub fn fresh(&self) -> Tiers {
        Tiers::new(self.every, self.from)
    }

    /// What the poll starting `now` should read, when `states` are asked for and `fresh`
    /// (tcp_info is wanted: every socket's must be current) forces a full read.
    pub fn plan(&self, now: Instant, states: StateSet, fresh: bool) -> Read {
        let due = self
            .last_full
            .is_none_or(|(at, _)| now.saturating_duration_since(at) + SLACK >= self.every);
        if fresh
            || due
            || !states.contains(TcpState::Established)
            || self.established < self.from
            || self.previous.is_none()
        {
            Read::Full
        } else {
            Read::WithoutEstablished
        }
    }

    /// After a full read started at `at`: its ESTABLISHED sockets are the ones to carry
    /// once its snapshot is remembered. Returns the tier when the next polls will carry them.
    pub fn full_read(
        &mut self,
        sockets: &[Socket],
        at: (Instant, SystemTime),
    ) -> Option<EstablishedTier> {
        self.previous = None;
        self.established = sockets
            .iter()
            .filter(|s| s.state == TcpState::Established)
            .count();
        self.last_full = Some(at);
        self.tier()
    }

    /// After a partial read: append to `sockets` the previous snapshot's ESTABLISHED
    /// sockets that it did not see in another state (those are dropped for good). Returns
    /// the tier they come from. Their cgroup ids come along into `cgroups` (finished again).
    pub fn carry(
        &mut self,
        sockets: &mut Vec<Socket>,
        cgroups: &mut Cgroups,
    ) -> Option<EstablishedTier> {
        self.seen.clear();
        self.seen.extend(sockets.iter().map(|s| s.cookie));
        self.seen.sort_unstable();
        let before = sockets.len();
        if let Some(previous) = self.previous.take() {
            // Room for all of them at once: grown by doubling, the vector would end up
            // to twice their size.
            sockets.reserve_exact(self.established);
            let seen = &self.seen;
            sockets.extend(
                previous
                    .sockets
                    .iter()
                    .filter(|s| {
                        s.state == TcpState::Established && seen.binary_search(&s.cookie).is_err()
                    })
                    .copied(),
            );
            for s in &sockets[before..] {
                cgroups.record(s, previous.cgroups.id_of(s).unwrap_or(0));
            }
        }
        self.established = sockets.len() - before;
        self.carried_from()
    }

    /// Share the snapshot just handed out: its ESTABLISHED sockets are carried by the
    /// partial reads to come. Without it the next poll is a full read.
    pub fn remember(&mut self, snapshot: &Arc<Snapshot>) {
        if self.established >= self.from {
            self.previous = Some(Arc::clone(snapshot));
        }
    }

    /// The tier, while the carried sockets are many enough to be carried.
    fn tier(&self) -> Option<EstablishedTier> {
        self.carried_from()
            .filter(|_| self.established >= self.from)
    }

    /// The full read the carried sockets come from.
    fn carried_from(&self) -> Option<EstablishedTier> {
        self.last_full.map(|(_, read_at)| EstablishedTier {
            read_at,
            every: self.every,
        })
    }

    /// Forget the carried sockets (the source changed, or a read failed).
    pub fn reset(&mut self) {
        self.previous = None;
        self.established = 0;
        self.last_full = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::socket;

    fn shared(sockets: Vec<Socket>) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            sockets,
            ..Snapshot::default()
        })
    }

    fn established(from: u64, count: u64) -> Vec<Socket> {
        (from..from + count)
            .map(|c| socket(TcpState::Established).cookie(c))
            .collect()
    }

    #[test]
    fn few_established_sockets_are_always_read_in_full() {
        let start = Instant::now();
        let mut tiers = Tiers::new(ESTABLISHED_EVERY, TIER_FROM);
        assert_eq!(tiers.plan(start, StateSet::ALL, false), Read::Full);
        let tier = tiers.full_read(
            &established(1, TIER_FROM as u64 - 1),
            (start, SystemTime::UNIX_EPOCH),
        );
        assert_eq!(tier, None);
        let next = start + Duration::from_secs(1);
        assert_eq!(tiers.plan(next, StateSet::ALL, false), Read::Full);
    }

    #[test]
    fn at_scale_established_is_read_again_only_when_due_or_tcp_info_is_wanted() {
        let start = Instant::now();
        let mut tiers = Tiers::new(ESTABLISHED_EVERY, TIER_FROM);
        let tier = tiers.full_read(
            &established(1, TIER_FROM as u64),
            (start, SystemTime::UNIX_EPOCH),
        );
        assert_eq!(
            tier,
            Some(EstablishedTier {
                read_at: SystemTime::UNIX_EPOCH,
                every: ESTABLISHED_EVERY
            })
        );
        let full = shared(established(1, TIER_FROM as u64));
        assert_eq!(
            tiers.plan(start + Duration::from_secs(1), StateSet::ALL, false),
            Read::Full,
            "nothing to carry until the snapshot is shared back"
        );
        tiers.remember(&full);
        let plan = |secs: f64, fresh| {
            tiers.plan(start + Duration::from_secs_f64(secs), StateSet::ALL, fresh)
        };
        assert_eq!(plan(1.0, false), Read::WithoutEstablished);
        assert_eq!(plan(4.7, false), Read::WithoutEstablished);
        assert_eq!(plan(4.8, false), Read::Full, "due, with the slack");
        assert_eq!(plan(1.0, true), Read::Full, "tcp_info wanted");
        let only_close_wait = StateSet::EMPTY.with(TcpState::CloseWait);
        assert_eq!(
            tiers.plan(start + Duration::from_secs(1), only_close_wait, false),
            Read::Full,
            "ESTABLISHED not asked for: nothing to carry"
        );
    }

    #[test]
    fn carried_sockets_seen_in_another_state_are_dropped_for_good() {
        let start = Instant::now();
        let read_at = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let mut tiers = Tiers::new(ESTABLISHED_EVERY, TIER_FROM);
        let mut full = established(1, 20_000);
        full.push(socket(TcpState::TimeWait).cookie(50_000));
        tiers.full_read(&full, (start, read_at));
        tiers.remember(&shared(full));

        // Cookies 7 and 8 now close; 50,000 is the fresh TIME_WAIT again.
        let mut partial = vec![
            socket(TcpState::CloseWait).cookie(7),
            socket(TcpState::FinWait1).cookie(8),
            socket(TcpState::TimeWait).cookie(50_000),
        ];
        let tier = EstablishedTier {
            read_at,
            every: ESTABLISHED_EVERY,
        };
        assert_eq!(
            tiers.carry(&mut partial, &mut Cgroups::default()),
            Some(tier)
        );
        assert_eq!(partial.len(), 3 + 19_998);
        let established_count = partial
            .iter()
            .filter(|s| s.state == TcpState::Established)
            .count();
        assert_eq!(established_count, 19_998);
        assert!(!partial[3..].iter().any(|s| s.cookie == 7 || s.cookie == 8));
        tiers.remember(&shared(partial));

        // 7 is gone entirely now: it must not come back as ESTABLISHED.
        let mut later = vec![socket(TcpState::LastAck).cookie(8)];
        tiers.carry(&mut later, &mut Cgroups::default());
        assert_eq!(later.len(), 1 + 19_998);
        assert!(!later.iter().any(|s| s.cookie == 7));
        assert_eq!(later.iter().filter(|s| s.cookie == 8).count(), 1);
    }
}
