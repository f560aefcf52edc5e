//! A watcher's destroy events: its [`Subscriptions`], their events attributed by what the
//! polls saw ([`Makers`]) as they come, and grouped per namespace ([`Closes`]: bounded
//! however many there are) until the next round hands them to its namespaces
//! ([`NamespaceRound::closes`](super::NamespaceRound::closes)), so that the judges take
//! them in between polls.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, SystemTime};

use crate::aggregate::Churn;
use crate::filter::Filter;
use crate::hash::FastMap;

use super::collectors::error_line;
use super::events::{FromSubscription, Subscriptions};
use super::makers::Makers;
use super::round::{Closes, Round};

/// How often the collector thread attributes and groups the events received while it
/// waits for the next poll: what waits in the channel meanwhile is at most this much of
/// them (at 40,000 a second, 10,000 events, about 4 MB).
pub const DRAIN_EVERY: Duration = Duration::from_millis(250);

/// The destroy events a watcher listens to.
#[derive(Debug)]
pub struct Listening {
    subscriptions: Subscriptions,
    stream: Receiver<FromSubscription>,
    makers: Makers,
    /// Below this a connection is short-lived (`[connection_churn] short_lived`).
    short_lived: Duration,
    /// The judges' filter: the closes it keeps are grouped apart too.
    filter: Filter,
    /// The closes of each namespace since the previous round.
    pending: FastMap<u64, Closes>,
    /// Why a subscription failed since the previous round.
    failed: Option<String>,
    /// When the span each namespace's events were listened to last ended (or its
    /// subscription began).
    since: FastMap<u64, SystemTime>,
}

impl Listening {
    /// Attribute the events `stream` brings (from [`Subscriptions::streaming`]) and group
    /// them for each round, with `subscriptions`' counts; a close is short-lived below
    /// `short_lived`; those `filter` keeps are grouped apart too.
    pub fn new(
        subscriptions: Subscriptions,
        stream: Receiver<FromSubscription>,
        short_lived: Duration,
        filter: Filter,
    ) -> Listening {
        Listening {
            subscriptions,
            stream,
            makers: Makers::default(),
            short_lived,
            filter,
            pending: FastMap::default(),
            failed: None,
            since: FastMap::default(),
        }
    }

    /// Attribute and group the events received so far.
    pub fn drain(&mut self) {
        loop {
            match self.stream.try_recv() {
                Ok(FromSubscription::Events(key, events)) => {
                    let (short_lived, narrows) = (self.short_lived, !self.filter.is_empty());
                    let closes = self.pending.entry(key).or_insert_with(|| Closes {
                        whole: Churn::new(short_lived),
                        kept: narrows.then(|| Churn::new(short_lived)),
                    });
                    for event in &events {
                        let closed = self.makers.attribute(key, event);
                        closes.whole.add(&closed);
                        if let Some(kept) = &mut closes.kept
                            && self.filter.keeps_closed(&closed)
                        {
                            kept.add(&closed);
                        }
                    }
                }
                Ok(FromSubscription::Failed(key, why)) => {
                    let name = self.subscriptions.drop_one(key).unwrap_or_default();
                    self.failed = Some(format!("{name}: {why}"));
                }
                Ok(FromSubscription::Lost(..) | FromSubscription::Stopped) => {}
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// Follow `round`'s namespaces (subscribe to new ones), learn who holds what from its
    /// dumps, and hand each namespace its counts and the connections it closed since the
    /// previous round, grouped, with the span they were listened to.
    pub fn take(&mut self, round: &mut Round) {
        if let Err(e) = self.subscriptions.follow(round) {
            round.events_error = Some(error_line(e));
        }
        // What came before this round's dumps is attributed with the polls before them.
        self.drain();
        self.makers.learn(round);
        // The counts are read at `now`, the end of the span listened: a rate of them is
        // over the time between two readings, however long attributing takes.
        let now = SystemTime::now();
        self.since
            .retain(|key, _| self.subscriptions.counts(*key).is_some());
        self.pending
            .retain(|key, _| self.subscriptions.counts(*key).is_some());
        if let Some(why) = self.failed.take() {
            round.events_error = Some(why);
        }
        for namespace in &mut round.namespaces {
            namespace.closed = self
                .subscriptions
                .counts(namespace.key)
                .map(|(received, lost)| (received + lost, lost));
            if namespace.closed.is_none() {
                continue;
            }
            let from = self.since.insert(namespace.key, now).unwrap_or(now);
            let mut closes = self
                .pending
                .remove(&namespace.key)
                .unwrap_or_else(|| Closes {
                    whole: Churn::new(self.short_lived),
                    kept: (!self.filter.is_empty()).then(|| Churn::new(self.short_lived)),
                });
            closes.whole.listened(from, now);
            if let Some(kept) = &mut closes.kept {
                kept.listened(from, now);
            }
            namespace.listened = Some((from, now));
            namespace.closes = Some(Arc::new(closes));
        }
    }
}
