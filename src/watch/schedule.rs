//! Which namespaces the dashboard dumps at a poll (`sockscope -A`). Pure: it is fed cheap
//! per-namespace readings and the time, and answers with the namespaces to dump.
//!
//! Every namespace shares one TCP hash table, so a dump of any namespace walks every
//! socket of every namespace: about 12 ms of kernel time at 100,000 sockets, however few
//! the namespace holds. Dumping 200 namespaces every second would take more than two
//! cores. The readings that decide instead cost two `pread`s a namespace: the `Tcp:` line
//! of `/proc/net/snmp` (segments in and out, opens, resets, retransmits, established) and
//! `inuse` and `tw` of `/proc/net/sockstat` (both per namespace; `orphan`, `alloc` and
//! `mem` are host-wide and left out). When none of them moved since a namespace's last
//! dump, it sent and received nothing, opened and closed nothing: none of its sockets
//! changed state, except by a timer (a TIME_WAIT socket that expires moves `tw`).
//!
//! At each poll a namespace is a candidate when
//! 1. it was never dumped (new: at the first poll, every namespace) — always dumped;
//! 2. its readings moved since its last dump (or could not be read);
//! 3. its data is older than [`Schedule::max_staleness`] (timers, queues).
//!
//! Candidates of 2 are dumped at the poll, the oldest data first, as many as the poll's
//! CPU budget pays for at the measured cost of one dump (at least one a poll, so that
//! every candidate is reached). Candidates of 3 are dumped in rounds, every
//! [`STALE_ROUND`], as many as the budget of the polls since the last round pays for,
//! oldest first: a poll that dumps nothing sends the screen nothing new to merge, so quiet
//! polls stay nearly free, and the refresh of quiet namespaces costs one merge per round
//! instead of one per poll. The others keep their last snapshot, whose age the dashboard
//! shows; when the budget cannot refresh every namespace within the bound, the ages say
//! so.

use std::time::{Duration, Instant};

use crate::hash::FastMap;

/// What a dump costs before any was measured: the figure of 200 namespaces × 500 sockets.
pub const FIRST_DUMP_COST: Duration = Duration::from_millis(12);

/// The share of one core a poll's dumps of moved and stale namespaces may take (of the
/// poll interval): a tenth, so that the dashboard with the rest of its work (readings,
/// discovery, the merge, the screen) stays within 15 % of a core.
pub const DUMP_SHARE: f64 = 0.10;

/// How old a namespace's data may grow while its readings stand still.
pub const MAX_STALENESS: Duration = Duration::from_secs(30);

/// How often namespaces whose data passed [`MAX_STALENESS`] are dumped (in one round).
pub const STALE_ROUND: Duration = Duration::from_secs(5);

pub use crate::collect::kernel::Signal;

/// A namespace at one poll: its inode and its readings (`None`: unreadable now, which
/// counts as moved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The namespace's nsfs inode.
    pub inode: u64,
    /// Its readings now.
    pub signal: Option<Signal>,
}

/// Why a namespace is dumped (or would be).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Never dumped.
    New,
    /// Its readings moved since its last dump.
    Moved,
    /// Its data is older than the staleness bound.
    Stale,
}

/// The last dump of one namespace.
#[derive(Clone, Debug)]
struct Dumped {
    at: Instant,
    signal: Option<Signal>,
}

/// The dump policy's memory: each namespace's last dump and the readings it was made at,
/// and what a dump costs.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// How old data may grow while the readings stand still.
    pub max_staleness: Duration,
    dumped: FastMap<u64, Dumped>,
    cost: Duration,
    /// When the last round of stale dumps was (`None`: none yet).
    stale_round: Option<Instant>,
    /// CPU the dumps measured since that round took.
    spent_since_round: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::new(MAX_STALENESS)
    }
}

impl Schedule {
    /// A schedule that has dumped nothing yet.
    pub fn new(max_staleness: Duration) -> Schedule {
        Schedule {
            max_staleness,
            dumped: FastMap::default(),
            cost: FIRST_DUMP_COST,
            stale_round: None,
            spent_since_round: Duration::ZERO,
        }
    }

    /// The namespaces of `readings` to dump now (their positions in `readings`, in
    /// dump-priority order) and why: every new one, the moved ones the poll's `budget`
    /// pays for at the measured cost of a dump (at least one), and, in a stale round, the
    /// stale ones the budget of the polls since the last round pays for (see the module
    /// documentation). Call [`Schedule::stale_round_at`] when a round's dumps were made.
    pub fn choose(
        &self,
        readings: &[Reading],
        now: Instant,
        budget: Duration,
    ) -> Vec<(usize, Reason)> {
        let mut new = Vec::new();
        let mut moved: Vec<(Instant, usize)> = Vec::new();
        let mut stale: Vec<(Instant, usize)> = Vec::new();
        for (i, reading) in readings.iter().enumerate() {
            match self.dumped.get(&reading.inode) {
                None => new.push((i, Reason::New)),
                Some(last) => {
                    if reading.signal.is_none() || reading.signal != last.signal {
                        moved.push((last.at, i));
                    } else if now.saturating_duration_since(last.at) >= self.max_staleness {
                        stale.push((last.at, i));
                    }
                }
            }
        }
        moved.sort_unstable();
        let affordable = self.affordable(budget);
        let moved_taken = moved.len().min(affordable);
        new.extend(
            moved
                .into_iter()
                .take(moved_taken)
                .map(|(_, i)| (i, Reason::Moved)),
        );
        let since = self
            .stale_round
            .map_or(STALE_ROUND, |at| now.saturating_duration_since(at));
        if since >= STALE_ROUND && !stale.is_empty() {
            stale.sort_unstable();
            // The dump share of the time since the last round, less what was spent on
            // dumps since and what this poll's moved ones will cost.
            let round = since
                .mul_f64(DUMP_SHARE)
                .saturating_sub(self.spent_since_round)
                .saturating_sub(self.cost * moved_taken as u32);
            let take = (round.as_nanos() / self.per_dump().as_nanos()).max(1) as usize;
            new.extend(
                stale
                    .into_iter()
                    .take(take)
                    .map(|(_, i)| (i, Reason::Stale)),
            );
        }
        new
    }

    /// Record that a round of stale dumps was made at `at`.
    pub fn stale_round_at(&mut self, at: Instant) {
        self.stale_round = Some(at);
        self.spent_since_round = Duration::ZERO;
    }

    /// How many moved or stale namespaces a poll with `budget` of CPU may dump.
    pub fn affordable(&self, budget: Duration) -> usize {
        ((budget.as_nanos() / self.per_dump().as_nanos()) as usize).max(1)
    }

    /// The cost estimate of one dump, never below 100 µs (it divides budgets).
    fn per_dump(&self) -> Duration {
        self.cost.max(Duration::from_micros(100))
    }

    /// Record that `inode` was dumped at `at` with `signal` read just before.
    pub fn dumped(&mut self, inode: u64, signal: Option<Signal>, at: Instant) {
        self.dumped.insert(inode, Dumped { at, signal });
    }

    /// Record what `dumps` dumps cost together (CPU time): the estimate moves a quarter
    /// of the way toward the new figure, so one slow poll does not stall the others.
    pub fn measured(&mut self, dumps: usize, cost: Duration) {
        if dumps == 0 {
            return;
        }
        self.spent_since_round += cost;
        let each = cost / u32::try_from(dumps).unwrap_or(u32::MAX);
        self.cost = (self.cost * 3 + each) / 4;
    }

    /// The current estimate of one dump's cost.
    pub fn dump_cost(&self) -> Duration {
        self.cost
    }

    /// Forget namespaces that are not in `present` (they vanished): one that comes back
    /// with the same inode is new again.
    pub fn retain(&mut self, present: &[u64]) {
        self.dumped.retain(|inode, _| present.contains(inode));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(segments: i64, tw: u64) -> Signal {
        Signal {
            tcp: vec![1, 200, 120_000, -1, segments, segments],
            inuse: 4,
            tw,
        }
    }

    fn reading(inode: u64, s: Option<Signal>) -> Reading {
        Reading { inode, signal: s }
    }

    fn dumped_all(schedule: &mut Schedule, readings: &[Reading], at: Instant) {
        for r in readings {
            schedule.dumped(r.inode, r.signal.clone(), at);
        }
    }

    #[test]
    fn at_the_first_poll_every_namespace_is_new_and_dumped_whatever_the_budget() {
        let schedule = Schedule::default();
        let readings: Vec<Reading> = (0..5)
            .map(|i| reading(100 + i, Some(signal(7, 0))))
            .collect();
        let chosen = schedule.choose(&readings, Instant::now(), Duration::ZERO);
        assert_eq!(chosen, (0..5).map(|i| (i, Reason::New)).collect::<Vec<_>>());
    }

    #[test]
    fn namespaces_whose_readings_stood_still_are_not_dumped() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        let readings: Vec<Reading> = (0..200).map(|i| reading(i, Some(signal(7, 0)))).collect();
        dumped_all(&mut schedule, &readings, t0);
        let chosen = schedule.choose(
            &readings,
            t0 + Duration::from_secs(5),
            Duration::from_secs(1),
        );
        assert_eq!(chosen, []);
    }

    #[test]
    fn a_leak_starting_in_one_quiet_namespace_among_200_is_dumped_at_the_next_poll() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        let mut readings: Vec<Reading> = (0..200).map(|i| reading(i, Some(signal(7, 0)))).collect();
        dumped_all(&mut schedule, &readings, t0);
        readings[137].signal = Some(signal(9, 0));
        let chosen = schedule.choose(
            &readings,
            t0 + Duration::from_secs(1),
            Duration::from_millis(100),
        );
        assert_eq!(chosen, [(137, Reason::Moved)]);
    }

    #[test]
    fn a_timewait_expiry_moves_tw_and_counts_as_moved() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        let mut readings = vec![
            reading(1, Some(signal(7, 3))),
            reading(2, Some(signal(7, 0))),
        ];
        dumped_all(&mut schedule, &readings, t0);
        readings[0].signal = Some(signal(7, 2));
        let chosen = schedule.choose(&readings, t0, Duration::from_millis(100));
        assert_eq!(chosen, [(0, Reason::Moved)]);
    }

    #[test]
    fn unreadable_readings_count_as_moved() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        let mut readings = vec![reading(1, Some(signal(7, 0)))];
        dumped_all(&mut schedule, &readings, t0);
        readings[0].signal = None;
        let chosen = schedule.choose(&readings, t0, Duration::from_millis(100));
        assert_eq!(chosen, [(0, Reason::Moved)]);
    }

    #[test]
    fn quiet_namespaces_are_dumped_again_once_their_data_is_older_than_the_bound() {
        let t0 = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(30));
        let readings = vec![
            reading(1, Some(signal(7, 0))),
            reading(2, Some(signal(7, 0))),
        ];
        schedule.dumped(1, Some(signal(7, 0)), t0);
        schedule.dumped(2, Some(signal(7, 0)), t0 + Duration::from_secs(10));
        let budget = Duration::from_secs(1);
        assert_eq!(
            schedule.choose(&readings, t0 + Duration::from_secs(29), budget),
            []
        );
        assert_eq!(
            schedule.choose(&readings, t0 + Duration::from_secs(30), budget),
            [(0, Reason::Stale)]
        );
    }

    #[test]
    fn stale_namespaces_wait_for_the_next_round_and_take_its_budget_oldest_first() {
        let t0 = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(30));
        // A dump measured at 10 ms.
        schedule.cost = Duration::from_millis(10);
        let mut readings: Vec<Reading> = (0..100).map(|i| reading(i, Some(signal(7, 0)))).collect();
        for (i, r) in readings.iter().enumerate() {
            schedule.dumped(
                r.inode,
                r.signal.clone(),
                t0 + Duration::from_millis(i as u64),
            );
        }
        let round = t0 + Duration::from_secs(40);
        schedule.stale_round_at(round);
        readings[99].signal = Some(signal(8, 0));
        let budget = Duration::from_millis(100);
        // Between rounds only the moved one is dumped.
        assert_eq!(
            schedule.choose(&readings, round + Duration::from_secs(2), budget),
            [(99, Reason::Moved)]
        );
        schedule.measured(1, Duration::from_millis(10));
        // At the round: a tenth of the 5 s since, less the 10 ms spent and the moved
        // one's 10 ms: 48 dumps of 10 ms, the oldest first.
        let chosen = schedule.choose(&readings, round + STALE_ROUND, budget);
        assert_eq!(chosen.len(), 49);
        assert_eq!(chosen[0], (99, Reason::Moved));
        assert_eq!(chosen[1], (0, Reason::Stale));
        assert_eq!(chosen[48], (47, Reason::Stale));
    }

    #[test]
    fn the_poll_budget_bounds_the_moved_dumps_oldest_data_first() {
        let t0 = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(30));
        // A dump measured at 10 ms: a 30 ms budget pays for 3.
        schedule.cost = Duration::from_millis(10);
        let mut readings: Vec<Reading> = (0..6).map(|i| reading(i, Some(signal(7, 0)))).collect();
        for (i, r) in readings.iter().enumerate() {
            schedule.dumped(
                r.inode,
                r.signal.clone(),
                t0 + Duration::from_secs(10 - i as u64),
            );
        }
        for r in &mut readings {
            r.signal = Some(signal(8, 0));
        }
        let chosen = schedule.choose(
            &readings,
            t0 + Duration::from_secs(12),
            Duration::from_millis(30),
        );
        assert_eq!(
            chosen,
            [(5, Reason::Moved), (4, Reason::Moved), (3, Reason::Moved)]
        );
    }

    #[test]
    fn a_budget_smaller_than_one_dump_still_dumps_one() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        let mut readings = vec![
            reading(1, Some(signal(7, 0))),
            reading(2, Some(signal(7, 0))),
        ];
        dumped_all(&mut schedule, &readings, t0);
        readings[0].signal = Some(signal(8, 0));
        readings[1].signal = Some(signal(8, 0));
        let chosen = schedule.choose(&readings, t0, Duration::ZERO);
        assert_eq!(chosen, [(0, Reason::Moved)]);
    }

    #[test]
    fn the_cost_estimate_moves_a_quarter_of_the_way_per_measurement() {
        let mut schedule = Schedule::default();
        schedule.measured(10, Duration::from_millis(160));
        // (12 × 3 + 16) / 4 = 13 ms.
        assert_eq!(schedule.dump_cost(), Duration::from_millis(13));
        schedule.measured(0, Duration::from_secs(9));
        assert_eq!(schedule.dump_cost(), Duration::from_millis(13));
        assert_eq!(schedule.affordable(Duration::from_millis(130)), 10);
    }

    #[test]
    fn a_vanished_namespace_is_forgotten_and_new_again_when_it_returns() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        let readings = vec![
            reading(1, Some(signal(7, 0))),
            reading(2, Some(signal(7, 0))),
        ];
        dumped_all(&mut schedule, &readings, t0);
        schedule.retain(&[1]);
        let chosen = schedule.choose(&readings, t0, Duration::from_millis(100));
        assert_eq!(chosen, [(1, Reason::New)]);
    }
}
