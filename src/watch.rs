//! The watcher: the one layer between `collect` and the outputs that every mode polls
//! through. It owns which network namespaces are watched (one, named or by pid, or every
//! one with re-discovery), their collectors, the dump policy (the ESTABLISHED tiers of one
//! namespace, the budgeted schedule of many, re-discovery), following a target that comes
//! to lead to another namespace, each namespace's freshness, one aggregator per namespace
//! with its filtered twin ([`Judges`]), and the merged view of every namespace's sockets.
//!
//! One namespace is the case N = 1: a [`Round`] always lists the namespaces polled, each
//! with its key, label, last snapshot and verdict, and its `merged` snapshot is the view
//! of every socket (for one namespace, that namespace's snapshot itself, not a copy).
//!
//! Who consumes it:
//! - the dashboard runs a [`Watcher`] on the collector thread ([`thread`]): with `-A`
//!   its judges judge each namespace there; the screen's own aggregator takes the merged
//!   snapshot on the UI thread;
//! - `serve` runs one on the same collector thread, its consumer rendering the exposition;
//! - `snapshot` and `check` call [`Watcher::dump_once`] (one dump, a counter window) and
//!   judge each namespace while the report prepares.

pub mod collectors;
pub mod events;
pub mod judge;
pub mod listed;
pub mod listening;
pub mod makers;
pub mod merge;
pub mod round;
pub mod schedule;
pub mod thread;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use crate::collect::{CollectOptions, NetnsId};
use crate::model::Counters;

pub use collectors::{Collectors, Dumps, Follow, Policy};
pub use judge::{Judge, JudgeSpec, Judges};
pub use listed::Listed;
pub use round::{Closes, Freshness, NamespaceRound, Round, Verdict};

/// What a watcher polls: the real [`Collectors`], or snapshots given by a test or a
/// recording ([`Listed`]).
pub trait RoundSource: Send {
    /// One poll of the namespaces watched, for a poll every `interval` (a budgeted dump
    /// policy spends a share of it).
    fn poll(&mut self, interval: Duration) -> Round;

    /// Every namespace's kernel counters now, by key, as a poll reads them (no dump); empty
    /// when the source has no live counters.
    fn sample_counters(&mut self) -> Vec<(u64, Counters)> {
        Vec::new()
    }

    /// Ask the kernel for `tcp_info` for the namespace `focus` names by key (a socket's
    /// detail pane shows it), or for none. Costs about a third more per dump.
    fn set_tcp_info(&mut self, _focus: Option<u64>) {}

    /// Open the one namespace watched anew where its target leads now (the dashboard's
    /// `F`): the namespace it polls now.
    fn follow(&mut self) -> Result<Option<NetnsId>, String> {
        Err("this source does not follow a namespace".to_owned())
    }

    /// Watch every namespace from now on (the dashboard's `A`).
    fn watch_every(&mut self) -> Result<(), String> {
        Err("this source cannot watch every namespace".to_owned())
    }
}

/// The namespaces watched and their judges: a [`RoundSource`] and one aggregator per
/// namespace.
#[derive(Debug)]
pub struct Watcher<S = Collectors> {
    source: S,
    judges: Judges,
    /// The destroy events, when they are listened to.
    listening: Option<listening::Listening>,
}

impl<S: RoundSource> Watcher<S> {
    /// A watcher of `source` whose namespaces `judges` judges.
    pub fn new(source: S, judges: Judges) -> Watcher<S> {
        Watcher {
            source,
            judges,
            listening: None,
        }
    }

    /// Also subscribe to each namespace's destroy events (as `options` and `every` say
    /// which), count them ([`NamespaceRound::closed`]), and hand each round the
    /// connections closed since the previous one, attributed and grouped
    /// ([`NamespaceRound::closes`]; those the judges' filter keeps apart too): the judges
    /// take them in before they judge the round, and the consumer gets them with it.
    #[must_use]
    pub fn with_destroyed(mut self, options: &CollectOptions, every: bool) -> Watcher<S> {
        let (subscriptions, stream) =
            events::Subscriptions::streaming(options, every, events::BUFFER);
        let spec = self.judges.spec();
        self.listening = Some(listening::Listening::new(
            subscriptions,
            stream,
            spec.config().rules.connection_churn.short_lived,
            spec.filter().clone(),
        ));
        self
    }

    /// Attribute and group the destroy events received since the last look (the
    /// collector thread does it every [`listening::DRAIN_EVERY`] while it waits, so that
    /// what waits in their channel stays small).
    pub fn drain_destroyed(&mut self) {
        if let Some(listening) = &mut self.listening {
            listening.drain();
        }
    }

    /// One poll: every namespace dumped is judged by its own aggregator (the verdict goes
    /// into the round); the judges of namespaces no longer watched are let go. A panic in
    /// the collectors or the rules is caught and becomes the round's failure.
    pub fn poll(&mut self, interval: Duration) -> Round {
        let Watcher {
            source,
            judges,
            listening,
        } = self;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut round = source.poll(interval);
            if let Some(listening) = listening {
                listening.take(&mut round);
            }
            judges.take(&mut round);
            round
        }));
        polled.unwrap_or_else(|panic| {
            Round::failed(format!("the collector crashed: {}", panic_text(&*panic)))
        })
    }

    /// The one-shot poll of `snapshot` and `check`: every namespace's counters are read,
    /// every namespace is dumped once, and the counters are read again at the end of the
    /// dumps or `counter_window` after the first reading, whichever comes later — one
    /// window for all. The first readings become each judge's baseline, so that counter
    /// rules see a rise without a second dump. With destroy events listened to, the
    /// window's rest after the dumps is listened to (the round carries the sockets
    /// destroyed then). Nothing is judged yet: see [`Judges::judge`].
    pub fn dump_once(&mut self, counter_window: Duration) -> Round {
        for (key, baseline) in self.source.sample_counters() {
            self.judges.entry(key).counter_baseline(baseline);
        }
        let started = Instant::now();
        let mut round = self.source.poll(counter_window);
        if let Some(listening) = &mut self.listening {
            listening.take(&mut round);
        }
        let left = counter_window.saturating_sub(started.elapsed());
        if !left.is_zero() {
            let ends = Instant::now() + left;
            loop {
                let now = Instant::now();
                if now >= ends {
                    break;
                }
                std::thread::sleep((ends - now).min(listening::DRAIN_EVERY));
                self.drain_destroyed();
            }
            for (key, counters) in self.source.sample_counters() {
                round.set_counters(key, counters);
            }
        }
        if let Some(listening) = &mut self.listening {
            listening.take(&mut round);
            self.judges.take_closes(&round);
        }
        round
    }

    /// The judges.
    pub fn judges(&self) -> &Judges {
        &self.judges
    }

    /// The judges, to judge a round's namespaces (the one-shot modes).
    pub fn judges_mut(&mut self) -> &mut Judges {
        &mut self.judges
    }

    /// The judges alone, the source closed: a one-shot mode renders its report without the
    /// collectors' buffers and caches (at a million sockets, megabytes).
    pub fn into_judges(self) -> Judges {
        self.judges
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The source, to steer it (tcp_info, following, every namespace).
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }
}

/// A panic's message.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests;
