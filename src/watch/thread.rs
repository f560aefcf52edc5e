//! The collector thread: the one loop that polls a [`Watcher`] at an interval on its own
//! thread and hands each [`Round`] to a [`Consumer`] — the dashboard's UI thread, or the
//! exporter's rendering — until the consumer stops or the controls hang up. What the
//! consumer asks in between (a new interval, `tcp_info`, following, every namespace) comes
//! in as [`Control`]s.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::collect::NetnsId;

use super::listening::DRAIN_EVERY;
use super::round::Round;
use super::{RoundSource, Watcher};

/// What the consumer tells the collector thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Poll at this interval from now on.
    Interval(Duration),
    /// Ask the kernel for `tcp_info` for the namespace with this key (a socket's detail
    /// pane is open: poll right away), or for none (it costs the kernel about a third
    /// more per dump).
    TcpInfo(Option<u64>),
    /// Open the one namespace anew where its target leads now (the old one was deleted
    /// and made again, or the process moved), then poll right away.
    Follow,
    /// Watch every namespace from now on (the dashboard's `A`), from the next poll.
    WatchEvery,
}

/// Who takes the collector thread's rounds. Each method returns `false` to stop the
/// thread.
pub trait Consumer: Send + 'static {
    /// Called first, on the collector thread.
    fn started(&mut self) {}

    /// A round, and what it cost to collect and judge.
    fn round(&mut self, round: Round, took: Duration) -> bool;

    /// The namespace was opened anew after [`Control::Follow`] (the one it polls now), or
    /// why it could not be (it goes on polling the old one).
    fn followed(&mut self, _result: Result<Option<NetnsId>, String>) -> bool {
        true
    }

    /// [`Control::WatchEvery`] could not be done: why (the watcher goes on as it was).
    fn every_failed(&mut self, _why: String) -> bool {
        true
    }
}

/// Start the collector thread named `name`: poll `watcher`, hand the round to
/// `consumer`, wait for the interval (or a control); it stops when the consumer says so
/// or the controls' sender is dropped, after the poll under way.
pub fn spawn<S: RoundSource + 'static, C: Consumer>(
    name: &str,
    watcher: Watcher<S>,
    interval: Duration,
    controls: Receiver<Control>,
    consumer: C,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || run_here(watcher, interval, &controls, consumer))
}

/// The loop of the collector thread, on this thread (the exporter writing a textfile has
/// nothing else to do).
pub fn run_here<S: RoundSource, C: Consumer>(
    mut watcher: Watcher<S>,
    mut interval: Duration,
    controls: &Receiver<Control>,
    mut consumer: C,
) {
    consumer.started();
    loop {
        let start = Instant::now();
        let round = watcher.poll(interval);
        if !consumer.round(round, start.elapsed()) {
            return;
        }
        loop {
            let wait = (start + interval).saturating_duration_since(Instant::now());
            // Destroy events are attributed and grouped as they come, not all at the poll.
            let go_on = match controls.recv_timeout(wait.min(DRAIN_EVERY)) {
                Ok(Control::Interval(new)) => {
                    interval = new;
                    continue;
                }
                Ok(Control::TcpInfo(focus)) => {
                    watcher.source_mut().set_tcp_info(focus);
                    if focus.is_none() {
                        continue;
                    }
                    true
                }
                Ok(Control::Follow) => {
                    let followed = watcher.source_mut().follow();
                    consumer.followed(followed)
                }
                Ok(Control::WatchEvery) => match watcher.source_mut().watch_every() {
                    Ok(()) => true,
                    Err(why) => {
                        if consumer.every_failed(why) {
                            continue;
                        }
                        false
                    }
                },
                Err(RecvTimeoutError::Timeout) if Instant::now() < start + interval => {
                    watcher.drain_destroyed();
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => true,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if !go_on {
                return;
            }
            break;
        }
    }
}
