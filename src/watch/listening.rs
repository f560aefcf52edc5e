//! A watcher's destroy events: its [`Subscriptions`], and — when it streams them — their
//! events attributed by what the polls saw ([`Makers`]) and handed to each round's
//! namespaces ([`NamespaceRound::destroyed`](super::NamespaceRound::destroyed)), so that
//! the judges take them in between polls.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::SystemTime;

use crate::hash::FastMap;

use super::collectors::error_line;
use super::events::{FromSubscription, Subscriptions};
use super::makers::Makers;
use super::round::Round;

/// The destroy events a watcher listens to.
#[derive(Debug)]
pub struct Listening {
    subscriptions: Subscriptions,
    /// Where the events come out (`None`: counted only).
    stream: Option<Receiver<FromSubscription>>,
    makers: Makers,
    /// When the span each namespace's events were listened to last ended (or its
    /// subscription began).
    since: FastMap<u64, SystemTime>,
}

impl Listening {
    /// Attribute the events `stream` brings (from [`Subscriptions::streaming`]) and hand
    /// them to each round, with `subscriptions`' counts.
    pub fn streaming(
        subscriptions: Subscriptions,
        stream: Receiver<FromSubscription>,
    ) -> Listening {
        Listening {
            subscriptions,
            stream: Some(stream),
            makers: Makers::default(),
            since: FastMap::default(),
        }
    }

    /// Follow `round`'s namespaces (subscribe to new ones), learn who holds what from its
    /// dumps, and hand it the events received since the previous round, each attributed,
    /// with the span they were listened to; and every namespace's counts.
    pub fn take(&mut self, round: &mut Round) {
        if let Err(e) = self.subscriptions.follow(round) {
            round.events_error = Some(error_line(e));
        }
        // The counts are read first, at `now`, the end of the span listened: a rate of
        // them is over the time between two readings, however long attributing takes.
        let now = SystemTime::now();
        self.since
            .retain(|key, _| self.subscriptions.counts(*key).is_some());
        for namespace in &mut round.namespaces {
            namespace.closed = self
                .subscriptions
                .counts(namespace.key)
                .map(|(received, lost)| (received + lost, lost));
            if namespace.closed.is_some() && self.stream.is_some() {
                let from = *self.since.entry(namespace.key).or_insert(now);
                namespace.listened = Some((from, now));
                self.since.insert(namespace.key, now);
            }
        }
        let Some(stream) = &self.stream else {
            return;
        };
        self.makers.learn(round);
        loop {
            match stream.try_recv() {
                Ok(FromSubscription::Events(key, events)) => {
                    let Some(namespace) = round.namespaces.iter_mut().find(|n| n.key == key)
                    else {
                        continue;
                    };
                    namespace
                        .destroyed
                        .extend(events.iter().map(|e| self.makers.attribute(key, e)));
                }
                Ok(FromSubscription::Failed(key, why)) => {
                    let name = self.subscriptions.drop_one(key).unwrap_or_default();
                    round.events_error = Some(format!("{name}: {why}"));
                }
                Ok(FromSubscription::Lost(..) | FromSubscription::Stopped) => {}
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
    }
}
