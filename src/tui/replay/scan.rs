//! Where a recording's anomalies were raised, for the timeline and `a`: the polls are
//! taken in one after another, in order, by aggregators of their own (the same rules and
//! configuration as the screen's: anomalies are recomputed, never read from the file, so a
//! replay with other thresholds shows what they would have raised), and each poll is
//! marked. The replay does it a few polls at a time while it waits for keys, and further
//! on demand when `a` looks past what was marked.

use crate::aggregate::{Aggregator, AnomalyKind, Subject};
use crate::config::Config;
use crate::record::RecordedPolls;
use crate::tui::namespaces::NamespacesOnScreen;
use crate::tui::timeline::{Mark, Timeline};
use crate::watch::Judges;

/// What makes an anomaly the same one from poll to poll.
type Raised = (AnomalyKind, Subject, Option<String>);

/// The marking of a recording's polls, from the first.
#[derive(Debug)]
pub(super) struct AnomalyScan {
    /// The one namespace's rules (the screen's own aggregator, live).
    aggregator: Aggregator,
    /// Each namespace's rules in a recording of every namespace.
    judges: Judges,
    /// The next poll to mark.
    next: usize,
    /// The anomalies standing after the last poll read.
    standing: Vec<Raised>,
}

impl AnomalyScan {
    /// A scan with the rules of `config`, at the first poll.
    pub(super) fn new(config: &Config) -> AnomalyScan {
        AnomalyScan {
            aggregator: config.aggregator(),
            judges: Judges::every_only(crate::tui::namespace_spec(config)),
            next: 0,
            standing: Vec::new(),
        }
    }

    /// Whether every poll of `polls` is marked.
    pub(super) fn done(&self, polls: &dyn RecordedPolls) -> bool {
        self.next >= polls.len()
    }

    /// Read and mark the next poll (nothing when every one is marked).
    pub(super) fn step(&mut self, polls: &mut dyn RecordedPolls, timeline: &mut Timeline) {
        if self.done(polls) {
            return;
        }
        let i = self.next;
        self.next += 1;
        let Ok(mut round) = polls.round(i) else {
            timeline.set_mark(i, Mark::Unreadable);
            return;
        };
        let now: Vec<Raised> = if round.every {
            self.judges.take(&mut round);
            NamespacesOnScreen::of(&round)
                .anomalies
                .into_iter()
                .map(|a| (a.kind, a.subject, a.netns))
                .collect()
        } else {
            for closes in round.closes() {
                self.aggregator.take_closes(&closes.whole);
            }
            match &round.merged {
                Some(snapshot) => self
                    .aggregator
                    .ingest(snapshot)
                    .anomalies
                    .iter()
                    .map(|a| (a.kind, a.subject.clone(), a.netns.clone()))
                    .collect(),
                None => self.standing.clone(),
            }
        };
        let mark = if now.iter().any(|a| !self.standing.contains(a)) {
            Mark::Raised
        } else if now.is_empty() {
            Mark::Quiet
        } else {
            Mark::Standing
        };
        timeline.set_mark(i, mark);
        self.standing = now;
    }
}
