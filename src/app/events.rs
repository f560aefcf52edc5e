//! `sockscope events`: every TCP socket the kernel destroys, as it happens. One subscription
//! to the kernel's destroy events per namespace watched, each read on a thread of its own;
//! the watcher polls at the interval so that each event can say who held the socket, the
//! state it was last seen in and since when ([`Makers`]).

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::{Cli, EventsArgs};
use crate::report;
use crate::watch::events::{FromSubscription, RECEIVE_WAIT, Subscriptions};
use crate::watch::makers::Makers;
use crate::watch::{Judges, Policy, Watcher};

use super::{all_netns, finish_output, stdout_is_open};

/// Run `sockscope events` until interrupted, `--duration` passes, or stdout closes.
pub(super) fn events(cli: &Cli, args: &EventsArgs) -> anyhow::Result<u8> {
    stdout_is_open()?;
    let every = cli.target.all_netns;
    let filter = cli.filters.filter();
    // Polls here only tell owners and ages; the events carry the final tcp_info.
    let (collectors, options) = all_netns::open_watched(cli, &filter, Policy::events())?;
    let mut watcher = Watcher::new(collectors, Judges::off());
    let buffer = usize::try_from(args.buffer).unwrap_or(usize::MAX);
    let (mut subscriptions, batches) = Subscriptions::streaming(&options, every, buffer);
    let mut makers = Makers::default();
    let round = watcher.poll(args.interval);
    subscriptions
        .follow(&round)
        .context("subscribing to the kernel's destroy events")?;
    makers.learn(&round);
    crate::stderr_line!(
        "sockscope: listening for destroyed TCP sockets in {}; owners from a poll every {}",
        if every {
            format!("{} namespaces", subscriptions.len())
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
            subscriptions: &mut subscriptions,
            lost: HashMap::new(),
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
    subscriptions: &'a mut Subscriptions,
    /// Each namespace's lost events as last said.
    lost: HashMap<u64, u64>,
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
            s.subscriptions.stop_all();
            draining = Some((now + RECEIVE_WAIT * 5, 0));
        }
        if let Some((until, stopped)) = draining
            && (now >= until || stopped >= s.subscriptions.len())
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
                    report::events::write_if_kept(s.filter, &closed, s.json, out)?;
                }
            }
            Ok(FromSubscription::Lost(key, total)) => {
                let said = s.lost.entry(key).or_default();
                if total > *said {
                    let name = s.subscriptions.name(key).unwrap_or("?");
                    report::events::write_lost(name, total - *said, total, s.json, out)?;
                    *said = total;
                }
            }
            Ok(FromSubscription::Failed(key, why)) => {
                let name = s
                    .subscriptions
                    .drop_one(key)
                    .unwrap_or_else(|| key.to_string());
                crate::stderr_line!("sockscope: netns {name}: no more events: {why}");
                if s.subscriptions.is_empty() {
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
            if let Err(e) = s.subscriptions.follow(&round) {
                crate::stderr_line!("sockscope: subscribing to destroy events: {e}");
            }
            s.makers.learn(&round);
        }
    }
}
