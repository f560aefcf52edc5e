//! The live dashboard.
//!
//! Three helper threads feed one channel of [`Event`]s: the collector polls on its own
//! thread and sends snapshots, the input thread sends keys and resizes, the signal thread
//! sends the signals that end, stop and continue the process ([`signals`]). The UI thread alone owns the [`App`] (aggregator and view
//! state): it applies events, then draws with [`draw::draw`], a pure function of the app.

pub mod action;
pub mod app;
pub mod columns;
pub mod detail;
pub mod draw;
pub mod drift;
pub mod flight;
pub mod layout;
pub mod namespaces;
pub mod on_screen;
pub mod pacing;
pub mod replay;
pub mod rows;
pub mod signals;
pub mod terminal;
pub mod theme;
pub mod timeline;
pub mod view;

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::mpsc::{self, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{Event as TermEvent, KeyEvent};

use crate::collect::{CollectOptions, NetnsId};
use crate::config::Config;
use crate::filter::Filter;
use crate::watch::thread::{Consumer, Control};
use crate::watch::{Collectors, JudgeSpec, Judges, Policy, Round, Watcher};

pub use action::{Action, InputMode, Motion, action_for};
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

/// Something the UI thread reacts to.
#[derive(Debug)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// The terminal's new size.
    Resize(u16, u16),
    /// A round of the watcher finished (or failed: [`Round::failure`]), and what it cost.
    Round(Box<Round>, Duration),
    /// The collector was opened anew after [`Control::Follow`]: the namespace it polls
    /// now, or why it could not (it goes on polling the old one).
    Followed(Result<Option<NetnsId>, String>),
    /// [`Control::WatchEvery`] could not be done: why (the collector goes on as it was).
    EveryFailed(String),
    /// The terminal's input failed (it went away).
    InputFailed(String),
    /// A signal that ends the dashboard (the terminal is restored first).
    Signal(i32),
    /// SIGTSTP: give the terminal back and stop.
    Suspend,
    /// SIGCONT: take the terminal again and redraw.
    Continued,
    /// The flight recorder's polls were written (`w`): where, or why not.
    FlightWritten(Result<String, String>),
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
    let (watcher, fallback) = open_watcher(&dashboard)?;
    let flight_span = dashboard.config.general.flight_recorder;
    let mut app = live_app(dashboard, fallback)?;

    let (events, inbox) = mpsc::sync_channel::<Event>(64);
    let (control, controls) = mpsc::channel::<Control>();
    let mut instructions = Instructions::of(&app);
    crate::watch::thread::spawn(
        "sockscope-collector",
        watcher,
        instructions.interval,
        controls,
        ToUiThread(events.clone()),
    )
    .context("starting the collector thread")?;
    let signal_handle = signals::spawn(events.clone())?;

    let mut guard = terminal::TerminalGuard::enter().context("setting up the terminal")?;
    let flight_events = events.clone();
    spawn_input(events)?;
    let mut last_ingest = Duration::ZERO;
    let mut recorder = flight::FlightRecorder::new(flight_span);
    let mut writes = app.write_requests();
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
        let newest_poll = batch.iter().rposition(|e| matches!(e, Event::Round(..)));
        for (i, event) in batch.into_iter().enumerate() {
            match event {
                Event::Key(key) => match action_for(app.mode, key) {
                    Some(Action::Suspend) => signals::suspend_group(),
                    Some(action) => app.apply(action),
                    None => {}
                },
                Event::Resize(c, r) => app.resize(c, r),
                Event::Round(round, took) => {
                    let round = keep_in_flight(&mut recorder, &mut app, round);
                    app.round_seen(&round);
                    if Some(i) != newest_poll {
                        continue;
                    }
                    let start = Instant::now();
                    app.ingest_round(&round, took + last_ingest);
                    // What taking it in cost is counted in the next poll's cost.
                    last_ingest = start.elapsed();
                }
                Event::Followed(result) => app.followed(result),
                Event::EveryFailed(message) => {
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
                Event::FlightWritten(result) => app.notify(result.unwrap_or_else(|why| why)),
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
        if app.write_requests() != writes {
            writes = app.write_requests();
            write_flight(&recorder, &mut app, &flight_events)?;
        }
        instructions.update(&app, &control);
    };
    drop(guard);
    signal_handle.close();
    Ok(code)
}

/// The dashboard's state at start, saying when it reads /proc/net/tcp (`fallback`: why).
fn live_app(dashboard: Dashboard, fallback: Option<String>) -> anyhow::Result<App> {
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
    Ok(app)
}

/// `w`: write the flight recorder's polls on a thread of their own (the screen goes on);
/// the status line says where, or why not, when it is done (at once when nothing is
/// kept).
fn write_flight(
    recorder: &flight::FlightRecorder,
    app: &mut App,
    events: &SyncSender<Event>,
) -> anyhow::Result<()> {
    let rounds = recorder.rounds();
    if rounds.is_empty() {
        app.notify(recorder.why_empty());
        return Ok(());
    }
    let events = events.clone();
    thread::Builder::new()
        .name("sockscope-flight".to_owned())
        .spawn(move || {
            let _ = events.send(Event::FlightWritten(flight::write_now(&rounds)));
        })
        .context("starting the thread that writes the flight recorder")?;
    Ok(())
}

/// The flight recorder keeps `round` itself (an `Arc`, not a copy); the first poll too
/// large for it is said in the footer.
fn keep_in_flight(
    recorder: &mut flight::FlightRecorder,
    app: &mut App,
    round: Box<Round>,
) -> Arc<Round> {
    let round: Arc<Round> = Arc::from(round);
    if let Some(notice) = recorder.keep(Arc::clone(&round)) {
        app.notify(notice);
    }
    round
}

/// Open the watcher of what the dashboard polls, and why it reads /proc/net/tcp instead
/// of sock_diag, if it does. With every namespace, each namespace's rules run on the
/// collector thread (its judges); the screen's own aggregator takes the merged snapshot.
fn open_watcher(dashboard: &Dashboard) -> anyhow::Result<(Watcher, Option<String>)> {
    if dashboard.all_netns && !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "-A needs root: entering the other network namespaces takes CAP_SYS_ADMIN, and reading their sockets' owners takes reading every process's descriptors; run it with sudo"
        );
    }
    // tcp_info is asked for only while a socket's detail pane shows it.
    let options = CollectOptions {
        tcp_info: false,
        ..dashboard.collect.clone()
    };
    let collectors = Collectors::open(&options, dashboard.all_netns, Policy::dashboard())?;
    let fallback = collectors.fallback_reason().map(str::to_owned);
    // Sockets destroyed between the polls: the kernel's destroy events, counted and
    // judged.
    Ok((
        Watcher::new(
            collectors,
            Judges::every_only(namespace_spec(&dashboard.config)),
        )
        .with_destroyed(&options, dashboard.all_netns),
        fallback,
    ))
}

/// How each namespace is judged with every namespace watched: the rules of `config` and
/// the shortest history (no view draws a namespace's sparklines; 200 histories of ten
/// minutes would hold 29 MB). It keeps its sockets' ages, as the one-namespace dashboard
/// does, so that a CLOSE_WAIT or FIN_WAIT2 anomaly says how old its oldest socket is: 16
/// bytes a socket beside the dashboard's own map of every socket.
pub fn namespace_spec(config: &Config) -> JudgeSpec {
    let interval = config.general.interval;
    JudgeSpec::new(config.clone()).with_history(interval, interval)
}

/// The collector thread's consumer: each round and answer goes to the UI thread as an
/// [`Event`]; a panic on the collector thread is caught and shown as a failed poll.
struct ToUiThread(SyncSender<Event>);

impl Consumer for ToUiThread {
    fn started(&mut self) {
        terminal::quiet_panics_on_this_thread();
    }

    fn round(&mut self, round: Round, took: Duration) -> bool {
        self.0.send(Event::Round(Box::new(round), took)).is_ok()
    }

    fn followed(&mut self, result: Result<Option<NetnsId>, String>) -> bool {
        self.0.send(Event::Followed(result)).is_ok()
    }

    fn every_failed(&mut self, why: String) -> bool {
        self.0.send(Event::EveryFailed(why)).is_ok()
    }
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

/// What the collector thread was last asked, so that it is asked only what changed.
struct Instructions {
    interval: Duration,
    tcp_info: Option<u64>,
    follows: u64,
    every: bool,
}

impl Instructions {
    /// What a collector thread started for `app` knows (it starts without tcp_info).
    fn of(app: &App) -> Instructions {
        Instructions {
            interval: app.effective_interval(),
            tcp_info: None,
            follows: app.follow_requests(),
            every: false,
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
        if app.wants_all_netns() && !self.every {
            self.every = true;
            let _ = control.send(Control::WatchEvery);
        }
    }
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
