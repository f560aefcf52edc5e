//! The signals the dashboard answers, turned into [`Event`]s by one thread.
//!
//! - Every signal whose default action ends the process and that another process can send
//!   (SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, … and the real-time ones)
//!   becomes [`Event::Signal`]: the UI thread restores the terminal, then exits with 128 +
//!   the signal. The signals a fault raises (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP,
//!   SIGSYS, SIGABRT) are left to their default action: catching them would loop on the
//!   faulting instruction, and whoever sends them wants the core dump.
//! - SIGTSTP becomes [`Event::Suspend`]: the terminal is restored, then the process stops
//!   itself with SIGSTOP, as the default action would. Ctrl-Z in the dashboard sends
//!   SIGTSTP to the whole process group, as a terminal does in cooked mode (raw mode turns
//!   the key into a plain key press), so a parent such as `cargo run` stops too and the
//!   shell gets the terminal back.
//! - SIGCONT becomes [`Event::Continued`]: the dashboard takes the terminal back (raw mode,
//!   alternate screen) and redraws everything, whoever stopped it (SIGSTOP cannot be caught).

use std::sync::mpsc::SyncSender;
use std::thread;

use anyhow::Context as _;
use libc::{SIGPWR, SIGSTKFLT};
use signal_hook::consts::{
    SIGALRM, SIGCONT, SIGHUP, SIGINT, SIGIO, SIGPROF, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2,
    SIGVTALRM, SIGXCPU, SIGXFSZ,
};
use signal_hook::iterator::Handle;

use super::Event;

/// The signals that end the dashboard, with the terminal restored first.
pub fn ending() -> Vec<i32> {
    let mut signals = vec![
        SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU,
        SIGXFSZ, SIGPWR, SIGIO, SIGSTKFLT,
    ];
    signals.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    signals
}

/// What a signal means to the dashboard.
fn event_for(signal: i32) -> Event {
    match signal {
        SIGTSTP => Event::Suspend,
        SIGCONT => Event::Continued,
        other => Event::Signal(other),
    }
}

/// Start the signal thread; the handle stops it (call `close` when the dashboard ends).
pub fn spawn(events: SyncSender<Event>) -> anyhow::Result<Handle> {
    let mut wanted = ending();
    wanted.extend([SIGTSTP, SIGCONT]);
    let mut signals =
        signal_hook::iterator::Signals::new(wanted).context("installing signal handlers")?;
    let handle = signals.handle();
    thread::Builder::new()
        .name("sockscope-signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                let event = event_for(signal);
                let ends = matches!(event, Event::Signal(_));
                if events.send(event).is_err() || ends {
                    return;
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(handle)
}

/// Stop this process as SIGTSTP's default action would; returns once it is continued.
pub fn stop_self() {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
}

/// Ctrl-Z: send SIGTSTP to the whole process group, as the terminal would in cooked mode.
/// This process receives it too, as [`Event::Suspend`].
pub fn suspend_group() {
    let _ = nix::sys::signal::killpg(nix::unistd::getpgrp(), nix::sys::signal::Signal::SIGTSTP);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_continue_are_not_endings_and_every_ending_signal_is_catchable() {
        let ending = ending();
        assert!(!ending.contains(&SIGTSTP));
        assert!(!ending.contains(&SIGCONT));
        for signal in &ending {
            assert!(
                !signal_hook::consts::FORBIDDEN.contains(signal),
                "{signal} cannot be caught"
            );
        }
        assert!(ending.contains(&SIGUSR1));
        assert!(ending.contains(&libc::SIGRTMAX()));
        assert!(matches!(event_for(SIGTSTP), Event::Suspend));
        assert!(matches!(event_for(SIGCONT), Event::Continued));
        assert!(matches!(event_for(SIGUSR1), Event::Signal(s) if s == SIGUSR1));
    }
}
