//! The dashboard as a replay shows it (`sockscope replay FILE`): where it stands in the
//! recording, starting over from an earlier poll when it jumps, playing; and the live
//! dashboard's `w`, which asks for the flight recorder's polls to be written.

use super::{App, Watching};
use crate::tui::action::InputMode;
use crate::tui::layout::Areas;
use crate::tui::timeline::Timeline;

impl App {
    /// Show a recording from now on: the header says `REPLAY` and when the poll on screen
    /// was taken, the timeline is drawn above the footer, and the replay's keys apply.
    pub fn start_replay(&mut self, timeline: Timeline) {
        self.timeline = Some(timeline);
        self.refresh();
    }

    /// Where the replay stands (`None`: the live dashboard).
    pub fn timeline(&self) -> Option<&Timeline> {
        self.timeline.as_ref()
    }

    /// Where the replay stands, to move it.
    pub(crate) fn timeline_mut(&mut self) -> Option<&mut Timeline> {
        self.timeline.as_mut()
    }

    /// Forget every poll taken in: the aggregators start again with no history and no
    /// socket identities, nothing is on screen; the view, sorts, cursors and filter stay.
    /// A replay does this before it jumps, and then takes in the polls before the one it
    /// jumps to.
    pub fn forget_polls(&mut self) {
        self.shown = None;
        self.latest = None;
        self.aggregator = self.config.aggregator();
        self.narrowed = (!self.filter.is_empty()).then(|| self.config.aggregator());
        self.watching = Watching::OneNamespace;
        self.closed_readings.clear();
        self.closes_per_second = None;
        self.failure = None;
        self.order.clear();
        self.rows.clear();
        self.order_stale = true;
    }

    /// Close the time line of a replay (the time typed was gone to).
    pub(crate) fn close_time_line(&mut self) {
        if self.mode == InputMode::Time {
            self.mode = InputMode::Normal;
        }
        self.input.clear();
    }

    /// Where each part of the screen goes at the current size (a replay's timeline takes
    /// a row from the table); `None` when the terminal is too small.
    pub fn areas(&self) -> Option<Areas> {
        let areas = Areas::of(self.size.0, self.size.1)?;
        Some(if self.timeline.is_some() {
            areas.with_timeline()
        } else {
            areas
        })
    }

    /// Times `w` asked for the flight recorder's polls to be written (the event loop
    /// writes them when the count moves).
    pub fn write_requests(&self) -> u64 {
        self.write_requests
    }

    /// `w`: write the flight recorder, unless this is a replay already.
    pub(super) fn ask_write(&mut self) {
        self.notice = Some(if self.timeline.is_some() {
            "this is a recording already: w writes the live dashboard's last minutes".to_owned()
        } else {
            self.write_requests += 1;
            "writing the last minutes' polls…".to_owned()
        });
    }

    /// Space or `p` in a replay: play forward a poll per interval, or stop.
    pub(super) fn toggle_playing(&mut self) {
        let Some(timeline) = &mut self.timeline else {
            return;
        };
        let playing = !timeline.playing();
        timeline.set_playing(playing);
        self.notice = Some(if playing {
            format!(
                "playing, a poll every {} (+/- slower or faster; p or Space stops)",
                crate::format::interval(self.effective_interval())
            )
        } else {
            "stopped".to_owned()
        });
    }

    /// A replay's key pressed in the live dashboard.
    pub(super) fn not_a_replay(&mut self) {
        if self.timeline.is_some() {
            return;
        }
        self.notice = Some(
            "← → [ ] a t move through a recording: w writes the last minutes, sockscope replay FILE opens them"
                .to_owned(),
        );
    }
}
