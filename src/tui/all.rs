//! The collector thread of the dashboard with `-A`: every interval, one [`AllWatch::poll`]
//! within the CPU budget the interval allows ([`DUMP_SHARE`] of it), sent to the UI thread.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{Control, Event, panic_text, terminal};
use crate::collect::all_netns::schedule::DUMP_SHARE;
use crate::collect::all_netns::watch::AllWatch;

/// Start the thread: poll, send, wait for the interval (or a new one); stops when the UI
/// thread hangs up. A panic in a poll is shown as a failed poll. `tcp_info` and following
/// a namespace do not apply to every namespace at once: those controls are ignored.
pub(super) fn spawn_collector(
    watch: AllWatch,
    events: SyncSender<Event>,
    controls: Receiver<Control>,
    interval: Duration,
) -> anyhow::Result<()> {
    thread::Builder::new()
        .name("sockscope-collector".to_owned())
        .spawn(move || {
            terminal::quiet_panics_on_this_thread();
            run(watch, &events, &controls, interval);
        })
        .context("starting the collector thread")?;
    Ok(())
}

/// The loop of the collector thread with every namespace, until the UI thread hangs up.
pub(super) fn run(
    mut watch: AllWatch,
    events: &SyncSender<Event>,
    controls: &Receiver<Control>,
    mut interval: Duration,
) {
    loop {
        let start = Instant::now();
        let budget = interval.mul_f64(DUMP_SHARE);
        let poll = || watch.poll(budget);
        let result = match std::panic::catch_unwind(AssertUnwindSafe(poll)) {
            Ok(poll) => Ok(Box::new(poll)),
            Err(panic) => Err(format!("the collector crashed: {}", panic_text(&*panic))),
        };
        if events
            .send(Event::PolledAll(result, start.elapsed()))
            .is_err()
        {
            return;
        }
        loop {
            let wait = (start + interval).saturating_duration_since(Instant::now());
            match controls.recv_timeout(wait) {
                Ok(Control::Interval(new)) => interval = new,
                Ok(Control::TcpInfo(_) | Control::Follow | Control::AllNetns) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}
