//! `sockscope events`: every TCP socket the kernel destroys, as it happens. One subscription
//! to the kernel's destroy events per namespace watched, each read on a thread of its own;
//! the watcher polls at the interval so that each event can say who held the socket, the
//! state it was last seen in and since when ([`Makers`]).

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::{Cli, EventsArgs};
use crate::collect::events::{DestroyEvent, DestroyEvents};
use crate::collect::netns::discover::discover;
use crate::collect::{CollectOptions, NetnsTarget};
use crate::report;
use crate::watch::makers::Makers;
use crate::watch::{Collectors, Judges, Policy, Watcher};

use super::{all_netns, collect_options, finish_output, stdout_is_open};

/// How long a subscription's thread waits for a datagram before it looks whether it
/// should stop.
const RECEIVE_WAIT: Duration = Duration::from_millis(200);

/// How long a subscription's thread lets events gather after a batch before it receives
/// again: at most this late is an event's `at` under churn, and the thread wakes at most
/// 500 times a second instead of once per event (a buffer of the default 8 MiB holds
/// thousands of events, so none is lost waiting).
const GATHER: Duration = Duration::from_millis(2);

/// How often a subscription's thread reads the count of lost events.
const LOST_EVERY: Duration = Duration::from_secs(1);

/// What a subscription's thread sends: events, the lost count so far, or why it stopped.
enum FromSubscription {
    Events(u64, Vec<DestroyEvent>),
    Lost(u64, u64),
    Failed(u64, String),
    /// The thread stopped when asked, after sending the last events and lost count.
    Stopped,
}

/// One subscription's thread, and how to stop it.
struct Subscribed {
    stop: Arc<AtomicBool>,
    /// The namespace's name for the lost lines.
    name: String,
    lost: u64,
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Run `sockscope events` until interrupted, `--duration` passes, or stdout closes.
pub(super) fn events(cli: &Cli, args: &EventsArgs) -> anyhow::Result<u8> {
    stdout_is_open()?;
    let every = cli.target.all_netns;
    if every {
        all_netns::require_root()?;
    }
    let filter = cli.filters.filter();
    let mut options = collect_options(cli);
    // Polls here only tell owners and ages; the events carry the final tcp_info.
    options.tcp_info = false;
    let collectors = Collectors::open(&options, every, Policy::events())?;
    if every {
        all_netns::warn_over_limit(&collectors);
        all_netns::require_netns_match(&filter, &collectors)?;
    }
    let mut watcher = Watcher::new(collectors, Judges::off());
    let buffer = usize::try_from(args.buffer).unwrap_or(usize::MAX);
    let (sender, batches) = mpsc::sync_channel::<FromSubscription>(4096);
    let mut subscribed: HashMap<u64, Subscribed> = HashMap::new();
    let mut makers = Makers::default();
    let round = watcher.poll(args.interval);
    subscribe(&options, every, &round, buffer, &sender, &mut subscribed)?;
    makers.learn(&round);
    crate::stderr_line!(
        "sockscope: listening for destroyed TCP sockets in {}; owners from a poll every {}",
        if every {
            format!("{} namespaces", subscribed.len())
        } else {
            round
                .namespaces
                .first()
                .map_or_else(|| options.netns.label(), |n| n.label.name.clone())
        },
        crate::format::interval(args.interval)
    );
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let ended = args.duration.map(|d| Instant::now() + d);
    let written = stream(
        &mut Streaming {
            watcher: &mut watcher,
            makers: &mut makers,
            subscribed: &mut subscribed,
            options: &options,
            every,
            buffer,
            sender: &sender,
            interval: args.interval,
            json: args.json,
            filter: &filter,
        },
        &batches,
        ended,
        &mut out,
    );
    finish_output(written.and_then(|()| out.flush()))?;
    Ok(0)
}

/// What the stream loop works with.
struct Streaming<'a> {
    watcher: &'a mut Watcher,
    makers: &'a mut Makers,
    subscribed: &'a mut HashMap<u64, Subscribed>,
    options: &'a CollectOptions,
    every: bool,
    buffer: usize,
    sender: &'a SyncSender<FromSubscription>,
    interval: Duration,
    json: bool,
    filter: &'a crate::filter::Filter,
}

/// Write each event as it comes, poll at the interval, until `ended` (or for ever).
fn stream(
    s: &mut Streaming<'_>,
    batches: &Receiver<FromSubscription>,
    ended: Option<Instant>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut next_poll = Instant::now() + s.interval;
    // Once `ended`: every thread is asked to stop, and what they still send is written.
    let mut draining: Option<(Instant, usize)> = None;
    loop {
        let now = Instant::now();
        if draining.is_none() && ended.is_some_and(|e| now >= e) {
            for sub in s.subscribed.values() {
                sub.stop.store(true, Ordering::Relaxed);
            }
            draining = Some((now + RECEIVE_WAIT * 5, 0));
        }
        if let Some((until, stopped)) = draining
            && (now >= until || stopped >= s.subscribed.len())
        {
            return Ok(());
        }
        let until = match draining {
            Some((until, _)) => until,
            None => ended.map_or(next_poll, |e| e.min(next_poll)),
        };
        // Written lines go out whenever nothing is waiting, not after every batch: under
        // churn, several batches to one write.
        let received = match batches.try_recv() {
            Ok(message) => Ok(message),
            Err(TryRecvError::Empty) => {
                out.flush()?;
                batches.recv_timeout(until.saturating_duration_since(now))
            }
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(FromSubscription::Stopped) => {
                if let Some((_, stopped)) = &mut draining {
                    *stopped += 1;
                }
            }
            Ok(FromSubscription::Events(key, events)) => {
                for event in &events {
                    let closed = s.makers.attribute(key, event);
                    if report::events::passes(s.filter, &closed) {
                        if s.json {
                            report::events::write_json(&closed, out)?;
                        } else {
                            report::events::write_text(&closed, out)?;
                        }
                    }
                }
            }
            Ok(FromSubscription::Lost(key, total)) => {
                if let Some(sub) = s.subscribed.get_mut(&key)
                    && total > sub.lost
                {
                    report::events::write_lost(&sub.name, total - sub.lost, total, s.json, out)?;
                    sub.lost = total;
                }
            }
            Ok(FromSubscription::Failed(key, why)) => {
                let name = s
                    .subscribed
                    .remove(&key)
                    .map_or_else(|| key.to_string(), |sub| sub.name.clone());
                crate::stderr_line!("sockscope: netns {name}: no more events: {why}");
                if s.subscribed.is_empty() {
                    return Err(io::Error::other(format!(
                        "every subscription to destroy events failed (the last: {why})"
                    )));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        if draining.is_none() && Instant::now() >= next_poll {
            next_poll += s.interval;
            let round = s.watcher.poll(s.interval);
            if let Some(why) = &round.failure {
                crate::stderr_line!("sockscope: a poll failed (owners may show as unknown): {why}");
            }
            if s.every {
                let _ = subscribe(s.options, true, &round, s.buffer, s.sender, s.subscribed);
            }
            s.makers.learn(&round);
        }
    }
}

/// Subscribe to the destroy events of every namespace `round` watches that has no
/// subscription yet (with every namespace: through the handle discovery found), and let go
/// of the subscriptions of namespaces no longer watched.
fn subscribe(
    options: &CollectOptions,
    every: bool,
    round: &crate::watch::Round,
    buffer: usize,
    sender: &SyncSender<FromSubscription>,
    subscribed: &mut HashMap<u64, Subscribed>,
) -> anyhow::Result<()> {
    if !every {
        if subscribed.is_empty() {
            let events = DestroyEvents::open(&options.netns, buffer).with_context(|| {
                format!(
                    "subscribing to the destroy events of {}",
                    describe(&options.netns)
                )
            })?;
            let name = round
                .namespaces
                .first()
                .map_or_else(|| options.netns.label(), |n| n.label.name.clone());
            subscribed.insert(0, spawn(0, name, events, sender.clone())?);
        }
        return Ok(());
    }
    if round.namespaces.is_empty() {
        return Ok(());
    }
    subscribed.retain(|key, _| round.namespaces.iter().any(|n| n.key == *key));
    let missing: Vec<u64> = round
        .namespaces
        .iter()
        .map(|n| n.key)
        .filter(|key| !subscribed.contains_key(key))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    for namespace in discover(&options.container_roots) {
        let key = namespace.id.inode;
        if !missing.contains(&key) {
            continue;
        }
        let opened = if namespace.is_own() {
            DestroyEvents::open(&NetnsTarget::Own, buffer).ok()
        } else {
            namespace.handles.iter().find_map(|path| {
                let handle = std::fs::File::open(path).ok()?;
                DestroyEvents::open_in(&handle, path, buffer).ok()
            })
        };
        if let Some(events) = opened {
            subscribed.insert(
                key,
                spawn(key, namespace.name.clone(), events, sender.clone())?,
            );
        }
    }
    Ok(())
}

/// `netns web`, `the netns of process 42`, `this netns`.
fn describe(target: &NetnsTarget) -> String {
    match target {
        NetnsTarget::Own => "sockscope's own netns".to_owned(),
        NetnsTarget::Named(name) => format!("netns {name}"),
        NetnsTarget::Pid(pid) => format!("the netns of process {pid}"),
    }
}

/// Start the thread that reads `events` (namespace `key`) into `sender`.
fn spawn(
    key: u64,
    name: String,
    mut events: DestroyEvents,
    sender: SyncSender<FromSubscription>,
) -> anyhow::Result<Subscribed> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    thread::Builder::new()
        .name("sockscope-events".to_owned())
        .spawn(move || {
            let mut lost_read = Instant::now();
            let mut lost = 0;
            loop {
                if stopped.load(Ordering::Relaxed) {
                    // One last look: what arrived, and the exact count of what was lost.
                    let mut batch = Vec::new();
                    let _ = events.receive(Duration::ZERO, &mut batch);
                    if !batch.is_empty() {
                        let _ = sender.send(FromSubscription::Events(key, batch));
                    }
                    let now = events.lost();
                    if now > lost {
                        let _ = sender.send(FromSubscription::Lost(key, now));
                    }
                    let _ = sender.send(FromSubscription::Stopped);
                    return;
                }
                let mut batch = Vec::new();
                if let Err(e) = events.receive(RECEIVE_WAIT, &mut batch) {
                    let _ = sender.send(FromSubscription::Failed(
                        key,
                        format!("{:#}", anyhow::Error::from(e)),
                    ));
                    return;
                }
                if !batch.is_empty() {
                    if sender.send(FromSubscription::Events(key, batch)).is_err() {
                        return;
                    }
                    // Let the next events gather: one wakeup per datagram was most of the
                    // CPU under churn. A lone event still goes out at once.
                    thread::sleep(GATHER);
                }
                if lost_read.elapsed() >= LOST_EVERY {
                    lost_read = Instant::now();
                    let now = events.lost();
                    if now > lost {
                        lost = now;
                        if sender.send(FromSubscription::Lost(key, lost)).is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .context("starting an events thread")?;
    Ok(Subscribed {
        stop,
        name,
        lost: 0,
    })
}
