//! The dashboard on a recording (`sockscope replay FILE`): the same [`App`], views,
//! filters, sorts and detail panes, fed the recording's polls through the same ingest path
//! as live rounds, with no collector thread and no kernel. The UI thread reads the polls
//! itself ([`RecordedPolls::round`]); `←`/`→`, `[`/`]`, `a`, `t` and Space move through
//! them ([`Replay::apply`]), and the timeline shows where the anomalies were raised
//! ([`scan`]).

mod moment;
mod run;
mod scan;

pub use moment::moment;
pub use run::run;

use std::time::{Duration, Instant, SystemTime};

use crate::format::date_time;
use crate::record::RecordedPolls;
use crate::watch::Judges;

use super::action::{Action, InputMode};
use super::app::{App, Settings};
use super::timeline::Timeline;
use scan::AnomalyScan;

/// How many polls before the one jumped to are taken in first, so that the changes,
/// trends, sparklines and ages on screen have polls to be measured against.
pub const WARM_UP: usize = 10;

/// A recording replayed: its polls, the dashboard showing one of them, and the marking of
/// where anomalies were raised.
pub struct Replay {
    polls: Box<dyn RecordedPolls>,
    app: App,
    /// Each namespace's rules, for a recording of every namespace (with one, the app's own
    /// aggregator judges, as live).
    judges: Judges,
    /// The poll the app took in last, when the one after it can simply follow.
    taken_in: Option<usize>,
    scan: AnomalyScan,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("polls", &self.polls.len())
            .field("taken_in", &self.taken_in)
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// The dashboard with `settings` on `polls`, at the first poll; an error when the
    /// recording holds none.
    pub fn new(polls: Box<dyn RecordedPolls>, settings: Settings) -> Result<Replay, String> {
        let len = polls.len();
        if len == 0 {
            return Err("the recording holds no poll: there is nothing to replay".to_owned());
        }
        let timeline = Timeline::new(len, polls.taken_at(0), polls.taken_at(len - 1));
        let judges = Judges::every_only(super::namespace_spec(&settings.config));
        let scan = AnomalyScan::new(&settings.config);
        let mut app = App::new(settings);
        app.start_replay(timeline);
        let mut replay = Replay {
            polls,
            app,
            judges,
            taken_in: None,
            scan,
        };
        replay.go_to(0);
        Ok(replay)
    }

    /// The dashboard.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The terminal changed size.
    pub fn resize(&mut self, columns: u16, rows: u16) {
        self.app.resize(columns, rows);
    }

    /// Do what a key asked: the app takes every key (the view, the filter, the time line),
    /// then the replay moves where `←`/`→`, `[`/`]`, `a` and the time typed after `t` say.
    pub fn apply(&mut self, action: Action) {
        let typed_time = self.app.mode() == InputMode::Time;
        self.app.apply(action);
        match action {
            Action::StepPolls(polls) => {
                let to = self.position().saturating_add_signed(polls as isize);
                self.step_to(to.min(self.polls.len() - 1));
            }
            Action::StepMinutes(minutes) => self.step_minutes(minutes),
            Action::NextRaised => self.next_raised(),
            Action::TimeApply if typed_time => self.go_to_typed(),
            _ => {}
        }
    }

    /// The poll on screen.
    pub fn position(&self) -> usize {
        self.app.timeline().map_or(0, Timeline::position)
    }

    /// Whether some polls are still to be marked.
    pub fn marking(&self) -> bool {
        !self.scan.done(self.polls.as_ref())
    }

    /// Mark polls for up to `budget` (at least one).
    pub fn mark_for(&mut self, budget: Duration) {
        let start = Instant::now();
        while self.marking() {
            self.mark_one();
            if start.elapsed() >= budget {
                break;
            }
        }
    }

    /// While playing: show the next poll, and stop at the last.
    pub fn play_on(&mut self) {
        if !self.app.timeline().is_some_and(Timeline::playing) {
            return;
        }
        let next = self.position() + 1;
        if next < self.polls.len() {
            self.go_to(next);
        } else {
            self.stop("the end of the recording: stopped".to_owned());
        }
    }

    fn mark_one(&mut self) {
        if let Some(timeline) = self.app.timeline_mut() {
            self.scan.step(self.polls.as_mut(), timeline);
        }
    }

    fn stop(&mut self, why: String) {
        if let Some(timeline) = self.app.timeline_mut() {
            timeline.set_playing(false);
        }
        self.app.notify(why);
    }

    /// Go to poll `to` by a key, saying so when it is where the recording ends.
    fn step_to(&mut self, to: usize) {
        if to == self.position() {
            let end = if to == 0 { "first" } else { "last" };
            self.app
                .notify(format!("this is the recording's {end} poll"));
            return;
        }
        self.go_to(to);
    }

    /// `[`/`]`: the first poll at least a minute later, or the last at least a minute
    /// earlier (the recording's ends at most).
    fn step_minutes(&mut self, minutes: i32) {
        let span = Duration::from_secs(60 * u64::from(minutes.unsigned_abs()));
        let now = self.polls.taken_at(self.position());
        let to = if minutes >= 0 {
            now.checked_add(span)
                .map_or(self.polls.len() - 1, |at| self.first_at_or_after(at))
        } else {
            now.checked_sub(span)
                .map_or(0, |at| self.last_at_or_before(at))
        };
        self.step_to(to);
    }

    /// `a`: the next poll where an anomaly was raised, marking further polls as needed.
    fn next_raised(&mut self) {
        let from = self.position();
        loop {
            if let Some(to) = self.app.timeline().and_then(|t| t.raised_after(from)) {
                self.go_to(to);
                self.app.notify(format!(
                    "an anomaly was raised at poll {}: a finds the next",
                    to + 1
                ));
                return;
            }
            if !self.marking() {
                self.app
                    .notify("no anomaly was raised after this poll".to_owned());
                return;
            }
            self.mark_one();
        }
    }

    /// Enter on the time line: the poll at or before the time typed (the first poll
    /// when it is earlier); a time not understood keeps the line open and says why.
    fn go_to_typed(&mut self) {
        let len = self.polls.len();
        let (first, last) = (self.polls.taken_at(0), self.polls.taken_at(len - 1));
        match moment(self.app.input(), first, last) {
            Ok(at) => {
                self.app.close_time_line();
                self.go_to(self.last_at_or_before(at));
                if at < first || at > last {
                    self.app.notify(format!(
                        "{} is outside the recording ({} to {}): at its {} poll",
                        date_time(at),
                        date_time(first),
                        date_time(last),
                        if at < first { "first" } else { "last" }
                    ));
                }
            }
            Err(why) => self.app.notify(why),
        }
    }

    /// The first poll taken at or after `at` (the last poll when none is).
    fn first_at_or_after(&self, at: SystemTime) -> usize {
        self.partition(|taken| taken < at).min(self.polls.len() - 1)
    }

    /// The last poll taken at or before `at` (the first poll when none is).
    fn last_at_or_before(&self, at: SystemTime) -> usize {
        self.partition(|taken| taken <= at).saturating_sub(1)
    }

    /// How many polls, from the first, `before` holds for (the polls are in time order).
    fn partition(&self, before: impl Fn(SystemTime) -> bool) -> usize {
        let (mut low, mut high) = (0, self.polls.len());
        while low < high {
            let middle = low + (high - low) / 2;
            if before(self.polls.taken_at(middle)) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    /// Show poll `to`.
    ///
    /// The aggregators carry what a poll is compared with from one poll to the next: the
    /// history (changes, sparklines, trends), each socket's first-seen and in-state-since
    /// (ages), the anomalies' hysteresis and first-raised times. The next poll simply
    /// follows. Any other move (back, or forward by more than one) starts them again and
    /// takes in up to [`WARM_UP`] polls before `to` first: taken in out of order, a poll
    /// would be compared with one that is not the one before it, and a change column would
    /// show the difference between 03:12 and 03:40 as one poll's. Ages and histories then
    /// reach back at most those polls.
    fn go_to(&mut self, to: usize) {
        let from = match self.taken_in {
            Some(shown) if shown == to => return,
            Some(shown) if shown + 1 == to => to,
            _ => {
                self.app.forget_polls();
                self.judges = Judges::every_only(self.judges.spec().clone());
                to.saturating_sub(WARM_UP)
            }
        };
        let mut unreadable = None;
        let mut shown = self.taken_in.filter(|_| from == to);
        for i in from..=to {
            match self.polls.round(i) {
                Ok(mut round) => {
                    self.judges.take(&mut round);
                    self.app.round_seen(&round);
                    self.app.ingest_round(&round, Duration::ZERO);
                    shown = Some(i);
                }
                Err(why) if i == to => unreadable = Some(why),
                Err(_) => {}
            }
        }
        self.taken_in = shown.filter(|&i| i == to);
        let at = self.polls.taken_at(to);
        if let Some(timeline) = self.app.timeline_mut() {
            timeline.moved_to(to, at);
        }
        if let Some(why) = unreadable {
            let showing = match shown {
                Some(i) => format!("the screen shows poll {}", i + 1),
                None => "nothing to show".to_owned(),
            };
            self.app
                .notify(format!("poll {} cannot be read: {why}; {showing}", to + 1));
        }
    }
}
