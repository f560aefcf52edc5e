//! Poll pacing: the interval the user asked for (`+` and `-` step it), and a longer one when
//! the recent polls cost too much of it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{MAX_INTERVAL, MIN_INTERVAL};
use crate::format;

/// Poll intervals `+` and `-` step through: from [`MIN_INTERVAL`] to [`MAX_INTERVAL`], the
/// range the command line and the config file accept too.
pub const INTERVAL_STEPS: [Duration; 10] = [
    MIN_INTERVAL,
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(15),
    Duration::from_secs(30),
    MAX_INTERVAL,
];

/// A poll may take at most this share of the interval; beyond it the interval grows.
const BUSY_SHARE: f64 = 0.4;
/// How many recent polls' cost the interval is adapted to.
pub const COST_WINDOW: usize = 5;

/// How often the dashboard polls.
#[derive(Clone, Debug, PartialEq)]
pub struct Pacing {
    /// The interval the user asked for.
    asked: Duration,
    /// The smallest step the recent polls' mean cost allows, when it is above `asked`, and
    /// that cost.
    slowed: Option<(Duration, Duration)>,
    /// The cost of the last [`COST_WINDOW`] polls.
    costs: VecDeque<Duration>,
}

impl Pacing {
    /// Polls every `interval`, until a poll says otherwise.
    pub fn new(interval: Duration) -> Pacing {
        Pacing {
            asked: interval,
            slowed: None,
            costs: VecDeque::with_capacity(COST_WINDOW),
        }
    }

    /// The interval the user asked for.
    pub fn asked(&self) -> Duration {
        self.asked
    }

    /// The longer interval the recent polls' mean cost needs and that cost, while the
    /// asked interval is too short for them.
    pub fn slowed(&self) -> Option<(Duration, Duration)> {
        self.slowed
    }

    /// The interval the collector should poll at: the asked one, or longer when polls are
    /// too costly for it.
    pub fn effective(&self) -> Duration {
        self.slowed
            .map_or(self.asked, |(slowed, _)| slowed.max(self.asked))
    }

    /// A poll cost `cost` (collecting plus ingesting the previous one): adapt to the mean of
    /// the last few. At scale a full read of ESTABLISHED sockets every few polls costs more
    /// than the polls between (see `collect::tiers`), so one poll alone does not decide.
    pub fn polled(&mut self, cost: Duration) {
        if self.costs.len() == COST_WINDOW {
            self.costs.pop_front();
        }
        self.costs.push_back(cost);
        let cost = self.costs.iter().sum::<Duration>() / self.costs.len() as u32;
        let floor = cost.as_secs_f64() / BUSY_SHARE;
        self.slowed = (floor > self.asked.as_secs_f64()).then(|| {
            let step = INTERVAL_STEPS
                .iter()
                .copied()
                .find(|s| s.as_secs_f64() >= floor)
                .unwrap_or(INTERVAL_STEPS[INTERVAL_STEPS.len() - 1]);
            (step, cost)
        });
    }

    /// Ask for the next longer (`direction` 1) or shorter (-1) step, within bounds; returns
    /// the notice that says what happens now.
    pub fn step(&mut self, direction: isize) -> String {
        // The next step past the asked interval in that direction (an interval between two
        // steps moves to the nearer one that way), never out of the range.
        let next = if direction > 0 {
            INTERVAL_STEPS.iter().find(|s| **s > self.asked)
        } else {
            INTERVAL_STEPS.iter().rev().find(|s| **s < self.asked)
        };
        self.asked = next.copied().unwrap_or(if direction > 0 {
            MAX_INTERVAL
        } else {
            MIN_INTERVAL
        });
        let mut notice = format!("poll every {}", format::interval(self.asked));
        if let Some((slowed, cost)) = self.slowed
            && slowed > self.asked
        {
            let _ = write!(
                notice,
                " asked; polling every {} because a poll takes {}",
                format::interval(slowed),
                format::interval(cost)
            );
        }
        notice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn steps_stay_within_the_bounds() {
        let mut pacing = Pacing::new(ms(1_000));
        assert_eq!(pacing.step(1), "poll every 2s");
        assert_eq!(pacing.asked(), ms(2_000));
        for _ in 0..20 {
            pacing.step(1);
        }
        assert_eq!(pacing.asked(), ms(60_000));
        for _ in 0..20 {
            pacing.step(-1);
        }
        assert_eq!(pacing.step(-1), "poll every 250ms");
        assert_eq!(pacing.effective(), ms(250));
    }

    #[test]
    fn an_asked_interval_between_steps_moves_to_the_next_step() {
        let mut pacing = Pacing::new(ms(700));
        pacing.step(1);
        assert_eq!(pacing.asked(), ms(1_000));
        let mut pacing = Pacing::new(ms(700));
        pacing.step(-1);
        assert_eq!(pacing.asked(), ms(500));
    }

    #[test]
    fn the_steps_span_exactly_the_range_every_input_accepts() {
        assert_eq!(INTERVAL_STEPS[0], MIN_INTERVAL);
        assert_eq!(INTERVAL_STEPS[INTERVAL_STEPS.len() - 1], MAX_INTERVAL);
        assert!(INTERVAL_STEPS.windows(2).all(|w| w[0] < w[1]));
        // At either end a step the wrong way is refused, not taken the other way.
        let mut pacing = Pacing::new(MIN_INTERVAL);
        assert_eq!(pacing.step(-1), "poll every 250ms");
        let mut pacing = Pacing::new(MAX_INTERVAL);
        assert_eq!(pacing.step(1), "poll every 1m");
        assert_eq!(pacing.step(-1), "poll every 30s");
    }

    #[test]
    fn costly_polls_slow_to_the_first_step_they_fit_in() {
        let mut pacing = Pacing::new(ms(1_000));
        pacing.polled(ms(300));
        assert_eq!(pacing.slowed(), None, "0.3 s is 30 % of 1 s");
        assert_eq!(pacing.effective(), ms(1_000));
        // (0.3 + 1.5) / 2 = 0.9 s needs 2.25 s: the 3 s step.
        pacing.polled(ms(1_500));
        assert_eq!(pacing.slowed(), Some((ms(3_000), ms(900))));
        assert_eq!(pacing.effective(), ms(3_000));
    }

    #[test]
    fn the_mean_covers_the_last_five_polls_only() {
        let mut pacing = Pacing::new(ms(1_000));
        pacing.polled(ms(2_000));
        for _ in 0..COST_WINDOW - 1 {
            pacing.polled(ms(100));
        }
        // (2 + 4 × 0.1) / 5 = 0.48 s: still over 40 % of 1 s.
        assert_eq!(pacing.slowed(), Some((ms(2_000), ms(480))));
        pacing.polled(ms(100));
        assert_eq!(pacing.slowed(), None);
    }

    #[test]
    fn a_step_below_the_slowed_interval_says_why_it_is_not_used() {
        let mut pacing = Pacing::new(ms(2_000));
        pacing.polled(ms(1_300));
        assert_eq!(pacing.slowed(), Some((ms(5_000), ms(1_300))));
        assert_eq!(
            pacing.step(-1),
            "poll every 1s asked; polling every 5s because a poll takes 1.3s"
        );
        assert_eq!(pacing.effective(), ms(5_000));
        // Asked above it, the asked interval wins.
        pacing.step(1);
        pacing.step(1);
        pacing.step(1);
        pacing.step(1);
        assert_eq!(pacing.asked(), ms(10_000));
        assert_eq!(pacing.effective(), ms(10_000));
    }
}
