//! Following the namespace a target leads to now: the collector reports at every poll
//! whether `--netns NAME` (or `--netns-pid PID`) still leads to the namespace it polls;
//! `F` asks it to open the new one, and the history starts again there.

use super::App;
use crate::collect::{NetnsDrift, NetnsId};
use crate::tui::drift::{gone, subject};

impl App {
    /// Take in what the collector found of its target at its latest poll: `None` when it
    /// still leads to the namespace polled.
    pub fn netns_checked(&mut self, drift: Option<NetnsDrift>) {
        if drift != self.netns {
            // Another situation: an earlier failure to follow no longer applies.
            self.follow_failed = None;
        }
        self.netns = drift;
    }

    /// How many times the user asked to follow; the event loop sends the collector a
    /// [`crate::watch::thread::Control::Follow`] whenever it grows.
    pub fn follow_requests(&self) -> u64 {
        self.follow_requests
    }

    /// The collector was opened anew (in the namespace `Ok` names), or could not be.
    /// Sockets of another namespace are not the same sockets: the history, ages and
    /// anomalies start again.
    pub fn followed(&mut self, result: Result<Option<NetnsId>, String>) {
        match result {
            Ok(now) => {
                let what = self
                    .netns
                    .as_ref()
                    .map_or_else(|| "the namespace".to_owned(), |d| subject(&d.target));
                let inode = now.map_or_else(String::new, |id| format!(" ({})", id.inode));
                self.aggregator = self.config.aggregator();
                self.narrowed = (!self.filter.is_empty()).then(|| self.config.aggregator());
                self.netns = None;
                self.follow_failed = None;
                self.notice = Some(format!(
                    "now watching the new {what}{inode}: history, ages and anomalies restarted"
                ));
            }
            // The footer says why, the header that it failed.
            Err(why) => self.follow_failed = Some(why),
        }
    }

    /// `F`: ask the collector to follow the target to the namespace it leads to now.
    pub(super) fn follow(&mut self) {
        self.notice = Some(match &self.netns {
            Some(drift) => match drift.followable() {
                Some(now) => {
                    self.follow_requests += 1;
                    format!("following {} to {}…", subject(&drift.target), now.inode)
                }
                None => format!("nothing to follow: {}", gone(&drift.target)),
            },
            None => "nothing to follow: the namespace shown is the one asked for".to_owned(),
        });
    }
}
