//! The watcher's subscriptions to the kernel's TCP destroy events: one per namespace
//! watched, each read on a thread of its own, following the namespaces of each round (a
//! namespace that appears with `-A` is subscribed to, one that goes is let go). Each
//! thread counts what it received and what the kernel dropped ([`Counts`]); a streaming
//! consumer (`sockscope events`) also gets the events themselves over a channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use crate::collect::events::{DestroyEvent, DestroyEvents};
use crate::collect::netns::discover::discover;
use crate::collect::{CollectError, CollectOptions, NetnsTarget};

use super::round::Round;

/// The kernel's queue of destroy events per namespace for the dashboard, the exporter and
/// the one-shot modes (8 MiB: about 6,500 events of 1,280 bytes each on Linux 6.18 between two reads of a thread that reads
/// them as they come).
pub const BUFFER: usize = 8 << 20;

/// How long a subscription's thread waits for a datagram before it looks whether it
/// should stop.
pub const RECEIVE_WAIT: Duration = Duration::from_millis(200);

/// How long a subscription's thread lets events gather after a batch before it receives
/// again: at most this late is an event's `at` under churn, and the thread wakes at most
/// 500 times a second instead of once per event (a buffer of the default 8 MiB holds
/// thousands of events, so none is lost waiting).
const GATHER: Duration = Duration::from_millis(2);

/// How often a subscription's thread reads the count of lost events.
const LOST_EVERY: Duration = Duration::from_secs(1);

/// What a streaming subscription's thread sends.
#[derive(Debug)]
pub enum FromSubscription {
    /// Sockets namespace `key` destroyed.
    Events(u64, Vec<DestroyEvent>),
    /// Events of namespace `key` the kernel dropped, in all since the subscription opened.
    Lost(u64, u64),
    /// Namespace `key`'s subscription failed: why (no more events from it).
    Failed(u64, String),
    /// A thread stopped when asked, after sending its last events and lost count.
    Stopped,
}

/// What one subscription received and lost since it opened.
#[derive(Debug, Default)]
pub struct Counts {
    /// Destroy events received.
    pub destroyed: AtomicU64,
    /// Destroy events the kernel dropped (its queue for the subscription was full).
    pub lost: AtomicU64,
}

/// One subscription's thread, and how to stop it.
#[derive(Debug)]
struct Subscribed {
    stop: Arc<AtomicBool>,
    name: String,
    counts: Arc<Counts>,
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The subscriptions of the namespaces watched.
#[derive(Debug)]
pub struct Subscriptions {
    options: CollectOptions,
    every: bool,
    buffer: usize,
    /// Where the events go (`None`: counted only).
    sender: Option<SyncSender<FromSubscription>>,
    subscribed: HashMap<u64, Subscribed>,
}

impl Subscriptions {
    /// Subscriptions that count only (the exporter).
    pub fn counting(options: &CollectOptions, every: bool, buffer: usize) -> Subscriptions {
        Subscriptions {
            options: options.clone(),
            every,
            buffer,
            sender: None,
            subscribed: HashMap::new(),
        }
    }

    /// Subscriptions whose events come out of the receiver returned.
    pub fn streaming(
        options: &CollectOptions,
        every: bool,
        buffer: usize,
    ) -> (Subscriptions, Receiver<FromSubscription>) {
        let (sender, receiver) = mpsc::sync_channel(4096);
        let mut subscriptions = Subscriptions::counting(options, every, buffer);
        subscriptions.sender = Some(sender);
        (subscriptions, receiver)
    }

    /// Subscribe to the namespaces `round` watches that have none yet (with every
    /// namespace: through the handle discovery found), and let go of those of namespaces
    /// no longer watched. With one namespace, a failure to subscribe is the error.
    pub fn follow(&mut self, round: &Round) -> Result<(), CollectError> {
        // The dashboard's `A` turns a watcher of one namespace into one of every namespace:
        // the round says which it is now.
        if self.every != round.every {
            self.every = round.every;
            self.subscribed.clear();
        }
        if !self.every {
            if self.subscribed.is_empty() {
                let events = DestroyEvents::open(&self.options.netns, self.buffer)?;
                let name = round
                    .namespaces
                    .first()
                    .map_or_else(|| self.options.netns.label(), |n| n.label.name.clone());
                self.spawn(0, name, events);
            }
            return Ok(());
        }
        if round.namespaces.is_empty() {
            return Ok(());
        }
        self.subscribed
            .retain(|key, _| round.namespaces.iter().any(|n| n.key == *key));
        let missing: Vec<u64> = round
            .namespaces
            .iter()
            .map(|n| n.key)
            .filter(|key| !self.subscribed.contains_key(key))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        for namespace in discover(&self.options.container_roots) {
            let key = namespace.id.inode;
            if !missing.contains(&key) {
                continue;
            }
            let opened = if namespace.is_own() {
                DestroyEvents::open(&NetnsTarget::Own, self.buffer).ok()
            } else {
                namespace.handles.iter().find_map(|path| {
                    let handle = crate::untrusted::open_handle(path).ok()?;
                    DestroyEvents::open_in(&handle, path, self.buffer).ok()
                })
            };
            if let Some(events) = opened {
                self.spawn(key, namespace.name.clone(), events);
            }
        }
        Ok(())
    }

    /// How many namespaces are subscribed to.
    pub fn len(&self) -> usize {
        self.subscribed.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.subscribed.is_empty()
    }

    /// Namespace `key`'s name, as the subscription knows it.
    pub fn name(&self, key: u64) -> Option<&str> {
        self.subscribed.get(&key).map(|s| s.name.as_str())
    }

    /// What namespace `key`'s subscription received and lost so far (`None`: none).
    pub fn counts(&self, key: u64) -> Option<(u64, u64)> {
        let counts = &self.subscribed.get(&key)?.counts;
        Some((
            counts.destroyed.load(Ordering::Relaxed),
            counts.lost.load(Ordering::Relaxed),
        ))
    }

    /// Let go of namespace `key`'s subscription (it failed).
    pub fn drop_one(&mut self, key: u64) -> Option<String> {
        self.subscribed.remove(&key).map(|s| s.name.clone())
    }

    /// Ask every thread to stop: each sends its last events, its lost count and
    /// [`FromSubscription::Stopped`].
    pub fn stop_all(&self) {
        for subscribed in self.subscribed.values() {
            subscribed.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Start the thread that reads `events` (namespace `key`).
    fn spawn(&mut self, key: u64, name: String, mut events: DestroyEvents) {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let (stopped, counted, sender) =
            (Arc::clone(&stop), Arc::clone(&counts), self.sender.clone());
        let send = move |message: FromSubscription| -> bool {
            sender.as_ref().is_none_or(|s| s.send(message).is_ok())
        };
        let started = thread::Builder::new()
            .name("sockscope-events".to_owned())
            .spawn(move || {
                let mut lost_read = Instant::now();
                loop {
                    let stopping = stopped.load(Ordering::Relaxed);
                    let mut batch = Vec::new();
                    let wait = if stopping {
                        Duration::ZERO
                    } else {
                        RECEIVE_WAIT
                    };
                    if let Err(e) = events.receive(wait, &mut batch) {
                        send(FromSubscription::Failed(
                            key,
                            super::collectors::error_line(e),
                        ));
                        return;
                    }
                    if !batch.is_empty() {
                        counted
                            .destroyed
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        if !send(FromSubscription::Events(key, batch)) {
                            return;
                        }
                        // Let the next events gather: one wakeup per datagram was most of
                        // the CPU under churn. A lone event still goes out at once.
                        if !stopping {
                            thread::sleep(GATHER);
                        }
                    }
                    if stopping || lost_read.elapsed() >= LOST_EVERY {
                        lost_read = Instant::now();
                        let lost = events.lost();
                        if lost > counted.lost.swap(lost, Ordering::Relaxed)
                            && !send(FromSubscription::Lost(key, lost))
                        {
                            return;
                        }
                    }
                    if stopping {
                        send(FromSubscription::Stopped);
                        return;
                    }
                }
            });
        if started.is_ok() {
            self.subscribed
                .insert(key, Subscribed { stop, name, counts });
        }
    }
}
