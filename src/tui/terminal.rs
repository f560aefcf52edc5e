//! Raw mode and the alternate screen, and getting out of them whatever happens: on drop,
//! on a panic of the UI thread (the hook restores, then prints the panic), on a signal
//! that ends the process (the signal thread turns it into an event; the loop returns and
//! drops the guard), and for the time the process is stopped (SIGTSTP: restore, stop;
//! SIGCONT: [`TerminalGuard::resume`]).

use std::io::{self, Stdout, Write as _};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::ExecutableCommand as _;
use crossterm::cursor::{Hide, Show};
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Whether the terminal is in the dashboard's modes now.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

thread_local! {
    /// Set on threads whose panics are caught and shown in the dashboard (the collector):
    /// they must neither restore the terminal nor print over the screen.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark the current thread as one whose panics are caught and reported as events.
pub fn quiet_panics_on_this_thread() {
    QUIET.with(|q| q.set(true));
}

/// Leave raw mode and the alternate screen, show the cursor. Idempotent; errors are
/// ignored (the terminal may be gone after SIGHUP).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = disable_raw_mode();
        let _ = out.execute(LeaveAlternateScreen);
        let _ = out.execute(Show);
        let _ = out.flush();
    }
}

/// The dashboard's terminal; restores on drop.
pub struct TerminalGuard {
    /// The ratatui terminal.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Enter raw mode and the alternate screen, with a panic hook that restores first.
    pub fn enter() -> io::Result<TerminalGuard> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if QUIET.with(std::cell::Cell::get) {
                    return;
                }
                restore();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        if let Err(e) = out
            .execute(EnterAlternateScreen)
            .and_then(|o| o.execute(Hide))
        {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl TerminalGuard {
    /// Take the terminal again after the process was stopped and continued: raw mode and
    /// the alternate screen (set again even if they were never left: whoever stopped the
    /// process with SIGSTOP may have reset the terminal meanwhile), then a full redraw on
    /// the next frame.
    pub fn resume(&mut self) -> io::Result<()> {
        let _ = disable_raw_mode();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        io::stdout().execute(EnterAlternateScreen)?.execute(Hide)?;
        // Not `Terminal::clear`: it asks the terminal for the cursor position, and the
        // input thread is the one reading the terminal's replies. An empty frame makes
        // ratatui's idea of the screen blank, then the screen is blanked to match, so the
        // next frame is drawn whole over whatever was written meanwhile.
        self.terminal.draw(|_| {})?;
        io::stdout().execute(Clear(ClearType::All))?;
        Ok(())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
