//! The replay's event loop: the input and signal threads feed one channel, the UI thread
//! owns the [`Replay`] and draws it; while no key comes it marks the recording's polls a
//! few at a time, and while it plays it shows the next poll every interval.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::config::Config;
use crate::filter::Filter;
use crate::record::RecordedPolls;
use crate::tui::app::Settings;
use crate::tui::terminal::TerminalGuard;
use crate::tui::theme::Theme;
use crate::tui::timeline::Timeline;
use crate::tui::{Event, action_for, draw, signals, spawn_input};

use super::Replay;

/// How long marking polls may hold the UI thread before it looks for keys again.
const MARKING_SLICE: Duration = Duration::from_millis(40);

/// Replay `polls` in the dashboard, with the rules of `config` and the starting `filter`
/// (typed as `filter_text`), until `q`, Ctrl-C or a signal; returns the exit code (0, or
/// 128 + the signal).
pub fn run(
    polls: Box<dyn RecordedPolls>,
    config: Config,
    filter: Filter,
    filter_text: String,
) -> anyhow::Result<u8> {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the replay is a dashboard and stdout is not a terminal: run it in one (a terminal of at least 64×20)"
        );
    }
    let (columns, rows) = crossterm::terminal::size().context("reading the terminal size")?;
    let mut replay = Replay::new(
        polls,
        Settings {
            // The header names the recording's time instead of a kernel.
            kernel: String::new(),
            config,
            filter,
            filter_text,
            theme: Theme::from_env(),
            size: (columns, rows),
        },
    )
    .map_err(anyhow::Error::msg)?;
    let (events, inbox) = mpsc::sync_channel::<Event>(64);
    let signal_handle = signals::spawn(events.clone())?;
    let mut guard = TerminalGuard::enter().context("setting up the terminal")?;
    spawn_input(events)?;
    let mut next_play: Option<Instant> = None;
    let code = loop {
        guard
            .terminal
            .draw(|frame| draw::draw(frame, replay.app()))
            .context("drawing")?;
        let playing = replay.app().timeline().is_some_and(Timeline::playing);
        next_play = match (playing, next_play) {
            (false, _) => None,
            (true, None) => Some(Instant::now() + replay.app().effective_interval()),
            (true, due) => due,
        };
        let wait = match next_play {
            _ if replay.marking() => Duration::ZERO,
            Some(due) => due.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        let first = match inbox.recv_timeout(wait) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if next_play.is_some_and(|due| Instant::now() >= due) {
                    replay.play_on();
                    next_play = None;
                }
                replay.mark_for(MARKING_SLICE);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break 0,
        };
        let mut signal = None;
        let (mut suspend, mut continued) = (false, false);
        for event in std::iter::once(first).chain(inbox.try_iter()) {
            match event {
                Event::Key(key) => match action_for(replay.app().mode(), key) {
                    Some(crate::tui::Action::Suspend) => signals::suspend_group(),
                    Some(action) => replay.apply(action),
                    None => {}
                },
                Event::Resize(c, r) => replay.resize(c, r),
                Event::InputFailed(message) => {
                    drop(guard);
                    signal_handle.close();
                    anyhow::bail!("reading the terminal: {message}");
                }
                Event::Signal(s) => signal = Some(s),
                Event::Suspend => suspend = true,
                Event::Continued => continued = true,
                // No collector thread: nothing else comes.
                Event::Round(..)
                | Event::Followed(_)
                | Event::EveryFailed(_)
                | Event::FlightWritten(_) => {}
            }
        }
        if let Some(s) = signal {
            break 128 + u8::try_from(s).unwrap_or(0);
        }
        if suspend || continued {
            if suspend {
                crate::tui::terminal::restore();
                signals::stop_self();
            }
            guard
                .resume()
                .context("taking the terminal back after SIGCONT")?;
            if let Ok((c, r)) = crossterm::terminal::size() {
                replay.resize(c, r);
            }
        }
        if replay.app().quitting() {
            break 0;
        }
    };
    drop(guard);
    signal_handle.close();
    Ok(code)
}
