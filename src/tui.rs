//! The live dashboard.
//!
//! Three helper threads feed one channel of [`Event`]s: the collector polls on its own
//! thread and sends snapshots, the input thread sends keys and resizes, the signal thread
//! sends the signals that end, stop and continue the process ([`signals`]). The UI thread alone owns the [`App`] (aggregator and view
//! state): it applies events, then draws with [`draw::draw`], a pure function of the app.

pub mod action;
mod all;
pub mod app;
pub mod columns;
pub mod detail;
pub mod draw;
pub mod layout;
pub mod namespaces;
pub mod netns;
pub mod pacing;
pub mod rows;
pub mod shown;
pub mod signals;
pub mod terminal;
pub mod theme;
pub mod view;

use std::io::IsTerminal as _;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use crossterm::event::{Event as TermEvent, KeyEvent};

use crate::collect::all_netns::census::{Census, Others};
use crate::collect::all_netns::watch::{AllPoll, AllWatch};
use crate::collect::tiers::{ESTABLISHED_EVERY, TIER_FROM, Tiers};
use crate::collect::{CollectOptions, Collector, NetnsDrift, NetnsId};
use crate::config::Config;
use crate::filter::Filter;
use crate::model::Snapshot;

pub use action::{Action, Mode, Motion, action_for};
pub use app::{App, Settings};
pub use theme::Theme;
pub use view::View;

/// What the dashboard is asked to watch and how.
#[derive(Clone, Debug)]
pub struct Dashboard {
    /// Namespace and attribution.
    pub collect: CollectOptions,
    /// Thresholds, interval, history.
    pub config: Config,
    /// Starting filter (from the command line).
    pub filter: Filter,
    /// The same filter as text for the header.
    pub filter_text: String,
    /// Watch every namespace of the host (`-A`).
    pub all_netns: bool,
}

/// What the UI thread tells the collector thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Poll at this interval from now on.
    Interval(Duration),
    /// Ask the kernel for `tcp_info` (a socket's detail pane is open: poll right away), or
    /// stop asking (it costs the kernel about a third more per dump).
    TcpInfo(bool),
    /// Open the collector anew in the namespace its target leads to now (the old one was
    /// deleted and made again, or the process moved), then poll right away.
    Follow,
    /// Watch every namespace from now on (`A`): the collector thread opens them all and
    /// polls as with `-A`.
    AllNetns,
}

/// Something the UI thread reacts to.
#[derive(Debug)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// The terminal's new size.
    Resize(u16, u16),
    /// A poll finished: the snapshot or the error, what the poll cost, and whether the
    /// target still leads to the namespace polled.
    Polled(Result<Arc<Snapshot>, String>, Duration, Option<NetnsDrift>),
    /// A poll of every namespace (`-A`) finished: what it saw, or why it failed, and what
    /// it cost.
    PolledAll(Result<Box<AllPoll>, String>, Duration),
    /// The collector was opened anew after [`Control::Follow`]: the namespace it polls
    /// now, or why it could not (it goes on polling the old one).
    Followed(Result<Option<NetnsId>, String>),
    /// Without `-A`: the other namespaces that hold sockets (see [`Census`]).
    Others(Others),
    /// [`Control::AllNetns`] could not be done: why (the collector goes on as it was).
    AllNetnsFailed(String),
    /// The terminal's input failed (it went away).
    InputFailed(String),
    /// A signal that ends the dashboard (the terminal is restored first).
    Signal(i32),
    /// SIGTSTP: give the terminal back and stop.
    Suspend,
    /// SIGCONT: take the terminal again and redraw.
    Continued,
}

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    crate::collect::kernel::release().unwrap_or_else(|| "?".to_owned())
}

/// Run the dashboard until `q`, Ctrl-C or a signal; returns the exit code (0, or 128 +
/// the signal).
pub fn run(dashboard: Dashboard) -> anyhow::Result<u8> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the dashboard needs a terminal and stdout is not one: use `sockscope snapshot` for a report or `sockscope check` for monitoring"
        );
    }
    let (source, fallback) = open_source(&dashboard)?;
    let (columns, rows) = crossterm::terminal::size().context("reading the terminal size")?;
    let mut app = App::new(Settings {
        kernel: kernel_release(),
        config: dashboard.config,
        filter: dashboard.filter,
        filter_text: dashboard.filter_text,
        theme: Theme::from_env(),
        size: (columns, rows),
    });
    if let Some(reason) = fallback {
        app.notify(format!(
            "reading /proc/net/tcp instead of sock_diag ({reason}): no tcp_info, no bound-only sockets"
        ));
    }

    let (events, inbox) = mpsc::sync_channel::<Event>(64);
    let (control, controls) = mpsc::channel::<Control>();
    let mut told = Told::of(&app);
    spawn_source(source, events.clone(), controls, told.interval)?;
    let signal_handle = signals::spawn(events.clone())?;

    let mut guard = terminal::TerminalGuard::enter().context("setting up the terminal")?;
    spawn_input(events)?;
    let mut last_ingest = Duration::ZERO;
    let code = loop {
        guard
            .terminal
            .draw(|frame| draw::draw(frame, &app))
            .context("drawing")?;
        let Ok(first) = inbox.recv() else {
            break 0;
        };
        let mut signal = None;
        let (mut suspend, mut continued) = (false, false);
        let mut batch = vec![first];
        batch.extend(inbox.try_iter());
        // Only the newest poll of a batch matters when the UI fell behind.
        let newest_poll = batch
            .iter()
            .rposition(|e| matches!(e, Event::Polled(..) | Event::PolledAll(..)));
        for (i, event) in batch.into_iter().enumerate() {
            match event {
                Event::Key(key) => match action_for(app.mode, key) {
                    Some(Action::Suspend) => signals::suspend_group(),
                    Some(action) => app.apply(action),
                    None => {}
                },
                Event::Resize(c, r) => app.resize(c, r),
                Event::Polled(result, took, drift) => {
                    app.netns_checked(drift);
                    if Some(i) != newest_poll {
                        continue;
                    }
                    take_in(&mut app, result.map(Polled::One), took, &mut last_ingest);
                }
                Event::PolledAll(result, took) => {
                    if Some(i) != newest_poll {
                        continue;
                    }
                    take_in(&mut app, result.map(Polled::All), took, &mut last_ingest);
                }
                Event::Followed(result) => app.followed(result),
                Event::Others(others) => app.others_counted(others),
                Event::AllNetnsFailed(message) => {
                    app.notify(format!("cannot watch every namespace: {message}"));
                }
                Event::InputFailed(message) => {
                    drop(guard);
                    signal_handle.close();
                    anyhow::bail!("reading the terminal: {message}");
                }
                Event::Signal(s) => signal = Some(s),
                Event::Suspend => suspend = true,
                Event::Continued => continued = true,
            }
        }
        if let Some(s) = signal {
            break 128 + u8::try_from(s).unwrap_or(0);
        }
        if suspend || continued {
            stop_or_continue(&mut guard, &mut app, suspend)?;
        }
        if app.quit {
            break 0;
        }
        told.update(&app, &control);
    };
    drop(guard);
    signal_handle.close();
    Ok(code)
}

/// Open what the dashboard polls, and why it reads /proc/net/tcp instead of sock_diag, if
/// it does.
fn open_source(dashboard: &Dashboard) -> anyhow::Result<(Source, Option<String>)> {
    if dashboard.all_netns {
        if !nix::unistd::geteuid().is_root() {
            anyhow::bail!(
                "-A needs root: entering the other network namespaces takes CAP_SYS_ADMIN, and reading their sockets' owners takes reading every process's descriptors; run it with sudo"
            );
        }
        return Ok((
            Source::All(Box::new(AllWatch::open(&dashboard.collect)?)),
            None,
        ));
    }
    // tcp_info is asked for only while a socket's detail pane shows it.
    let mut collector = Collector::open(CollectOptions {
        tcp_info: false,
        ..dashboard.collect.clone()
    })?;
    collector.tier_established(Some(Tiers::new(ESTABLISHED_EVERY, TIER_FROM)));
    let fallback = collector.fallback_reason().map(str::to_owned);
    Ok((Source::One(Box::new(collector)), fallback))
}

/// Start the collector thread of `source`.
fn spawn_source(
    source: Source,
    events: SyncSender<Event>,
    controls: Receiver<Control>,
    interval: Duration,
) -> anyhow::Result<()> {
    match source {
        Source::One(collector) => {
            // Other namespaces are offered only to root in the host's namespace.
            let census = (nix::unistd::geteuid().is_root()
                && collector.options().netns == crate::collect::NetnsTarget::Own)
                .then(Census::default);
            spawn_collector(*collector, census, events, controls, interval)
        }
        Source::All(watch) => all::spawn_collector(*watch, events, controls, interval),
    }
}

/// What a poll brought: one namespace's snapshot, or every namespace's.
enum Polled {
    One(Arc<Snapshot>),
    All(Box<AllPoll>),
}

/// Take in a poll that took `took` to collect; the time the ingest takes is counted in the
/// next poll's cost (`last_ingest`).
fn take_in(
    app: &mut App,
    result: Result<Polled, String>,
    took: Duration,
    last_ingest: &mut Duration,
) {
    let start = Instant::now();
    match result {
        Ok(Polled::One(snapshot)) => app.ingest(snapshot, took + *last_ingest),
        Ok(Polled::All(poll)) => app.ingest_all(&poll, took + *last_ingest),
        Err(message) => {
            app.poll_failed(message, SystemTime::now());
            return;
        }
    }
    *last_ingest = start.elapsed();
}

/// What the collector thread polls: one namespace, or every one (`-A`).
enum Source {
    One(Box<Collector>),
    All(Box<AllWatch>),
}

/// SIGTSTP (`suspend`): give the terminal back, stop, and once continued take it again;
/// SIGCONT alone: take it again. Either way the next frame is drawn whole, at the size the
/// terminal has now.
fn stop_or_continue(
    guard: &mut terminal::TerminalGuard,
    app: &mut App,
    suspend: bool,
) -> anyhow::Result<()> {
    if suspend {
        terminal::restore();
        signals::stop_self();
    }
    guard
        .resume()
        .context("taking the terminal back after SIGCONT")?;
    if let Ok((c, r)) = crossterm::terminal::size() {
        app.resize(c, r);
    }
    Ok(())
}

/// What the collector thread was last told, so that it is told only what changed.
struct Told {
    interval: Duration,
    tcp_info: bool,
    follows: u64,
    all_netns: bool,
}

impl Told {
    /// What a collector thread started for `app` knows (it starts without tcp_info).
    fn of(app: &App) -> Told {
        Told {
            interval: app.effective_interval(),
            tcp_info: false,
            follows: app.follow_requests(),
            all_netns: false,
        }
    }

    /// Tell the collector thread what `app` wants now and it was not told yet.
    fn update(&mut self, app: &App, control: &mpsc::Sender<Control>) {
        if app.effective_interval() != self.interval {
            self.interval = app.effective_interval();
            let _ = control.send(Control::Interval(self.interval));
        }
        if app.wants_tcp_info() != self.tcp_info {
            self.tcp_info = app.wants_tcp_info();
            let _ = control.send(Control::TcpInfo(self.tcp_info));
        }
        if app.follow_requests() != self.follows {
            self.follows = app.follow_requests();
            let _ = control.send(Control::Follow);
        }
        if app.wants_all_netns() && !self.all_netns {
            self.all_netns = true;
            let _ = control.send(Control::AllNetns);
        }
    }
}

/// How often the header's count of the other namespaces is taken again (without `-A`).
const CENSUS_EVERY: Duration = Duration::from_secs(5);

/// The collector thread: poll, check the namespace, send, wait for the interval (or a new
/// one, or a follow); stops when the UI thread hangs up. A panic in a poll is caught and
/// shown as a failed poll. With a `census` (root, in the host's namespace), it also counts
/// the other namespaces' sockets every [`CENSUS_EVERY`], and on [`Control::AllNetns`] it
/// goes on as the collector thread of `-A`.
fn spawn_collector(
    collector: Collector,
    census: Option<Census>,
    events: SyncSender<Event>,
    controls: Receiver<Control>,
    interval: Duration,
) -> anyhow::Result<()> {
    thread::Builder::new()
        .name("sockscope-collector".to_owned())
        .spawn(move || {
            terminal::quiet_panics_on_this_thread();
            if let Some((watch, interval)) =
                poll_one(collector, census, &events, &controls, interval)
            {
                all::run(watch, &events, &controls, interval);
            }
        })
        .context("starting the collector thread")?;
    Ok(())
}

/// The loop of [`spawn_collector`] over one namespace. Returns every namespace opened, and
/// the interval, when [`Control::AllNetns`] asked for them; `None` when the UI hung up.
fn poll_one(
    mut collector: Collector,
    mut census: Option<Census>,
    events: &SyncSender<Event>,
    controls: &Receiver<Control>,
    mut interval: Duration,
) -> Option<(AllWatch, Duration)> {
    let mut counted: Option<Instant> = None;
    loop {
        let start = Instant::now();
        let poll = || collector.poll_shared();
        let result = match std::panic::catch_unwind(AssertUnwindSafe(poll)) {
            Ok(Ok(snapshot)) => Ok(snapshot),
            Ok(Err(e)) => Err(format!("{:#}", anyhow::Error::from(e))),
            Err(panic) => Err(format!("the collector crashed: {}", panic_text(&*panic))),
        };
        let took = start.elapsed();
        let drift = collector.netns_drift();
        events.send(Event::Polled(result, took, drift)).ok()?;
        if let Some(census) = census.as_mut()
            && counted.is_none_or(|at| at.elapsed() >= CENSUS_EVERY)
        {
            counted = Some(Instant::now());
            let others = census.count(&collector.options().container_roots);
            events.send(Event::Others(others)).ok()?;
        }
        loop {
            let wait = (start + interval).saturating_duration_since(Instant::now());
            match controls.recv_timeout(wait) {
                Ok(Control::Interval(new)) => interval = new,
                Ok(Control::TcpInfo(on)) => {
                    collector.set_tcp_info(on);
                    if on {
                        break;
                    }
                }
                Ok(Control::Follow) => {
                    // The old collector (and with it the old namespace, when nothing else
                    // holds it) goes once the new one is open.
                    let followed = collector.reopen().map(|fresh| {
                        collector = fresh;
                        collector.netns_id()
                    });
                    let followed = followed.map_err(|e| format!("{:#}", anyhow::Error::from(e)));
                    events.send(Event::Followed(followed)).ok()?;
                    break;
                }
                Ok(Control::AllNetns) => match AllWatch::open(collector.options()) {
                    Ok(watch) => return Some((watch, interval)),
                    Err(e) => {
                        let message = format!("{:#}", anyhow::Error::from(e));
                        events.send(Event::AllNetnsFailed(message)).ok()?;
                    }
                },
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

/// A panic's message, for the screen.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// The input thread: terminal events to [`Event`]s.
fn spawn_input(events: SyncSender<Event>) -> anyhow::Result<()> {
    thread::Builder::new()
        .name("sockscope-input".to_owned())
        .spawn(move || {
            loop {
                let event = match crossterm::event::read() {
                    Ok(TermEvent::Key(key)) => Event::Key(key),
                    Ok(TermEvent::Resize(c, r)) => Event::Resize(c, r),
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = events.send(Event::InputFailed(e.to_string()));
                        return;
                    }
                };
                if events.send(event).is_err() {
                    return;
                }
            }
        })
        .context("starting the input thread")?;
    Ok(())
}
