//! What each key does to the dashboard: [`App::apply`] and the moves it makes.

use super::{App, Cursor};
use crate::tui::action::{Action, InputMode, Motion};
use crate::tui::rows::Target;
use crate::tui::view::{Sort, View};

impl App {
    /// Do what a key asked.
    pub fn apply(&mut self, action: Action) {
        self.notice = None;
        match action {
            Action::Quit => self.quit = true,
            // The event loop owns the terminal: it suspends before the app sees the key.
            Action::Suspend => {}
            Action::ToggleHelp => {
                self.mode = if self.mode == InputMode::Help {
                    InputMode::Normal
                } else {
                    InputMode::Help
                };
            }
            Action::CloseOverlay => {
                match self.mode {
                    InputMode::Filter => self.drop_filter_edit(),
                    InputMode::Time => self.input.clear(),
                    InputMode::Normal | InputMode::Help | InputMode::Detail => {}
                }
                self.mode = InputMode::Normal;
            }
            Action::OpenFilter => {
                self.input.clone_from(&self.filter_text);
                self.mode = InputMode::Filter;
            }
            Action::FilterType(c) | Action::TimeType(c) => self.input.push(c),
            Action::FilterBackspace | Action::TimeBackspace => {
                self.input.pop();
            }
            Action::FilterErase => self.input.clear(),
            Action::FilterApply => self.apply_filter(),
            Action::Move(motion) => self.move_cursor(motion),
            Action::NextView => self.show_view(self.view.next()),
            Action::PrevView => self.show_view(self.view.prev()),
            Action::ShowView(view) => self.show_view(view),
            Action::CycleSort => {
                let sort = self
                    .sort(self.view)
                    .cycled(self.view, self.has_containers());
                self.resort(sort);
            }
            Action::ReverseSort => {
                let mut sort = self.sort(self.view);
                sort.reverse = !sort.reverse;
                self.resort(sort);
            }
            Action::CycleChurnGrouping => self.cycle_churn_grouping(),
            Action::OpenDetail if self.view == View::Namespaces => self.narrow_to_netns(),
            Action::OpenDetail => {
                if self.row_count() > 0 {
                    self.mode = InputMode::Detail;
                    self.detail_row = self.selection();
                    self.detail_scroll = 0;
                }
            }
            Action::ScrollDetail(motion) => self.scroll_detail(motion),
            Action::TogglePause if self.timeline.is_some() => self.toggle_playing(),
            Action::TogglePause => self.toggle_pause(),
            Action::SlowerPolls => self.notice = Some(self.pacing.step(1)),
            Action::FasterPolls => self.notice = Some(self.pacing.step(-1)),
            Action::NextAnomaly => self.step_anomaly(1),
            Action::PrevAnomaly => self.step_anomaly(-1),
            Action::FollowNetns => self.follow(),
            Action::AllNetns => self.ask_all_netns(),
            Action::WriteRecording => self.ask_write(),
            Action::AskTime if self.timeline.is_some() => {
                self.input.clear();
                self.mode = InputMode::Time;
            }
            // The replay moves through the recording itself (it reads the polls), before
            // the app sees these keys; the live dashboard has no recording to move in.
            Action::StepPolls(_)
            | Action::StepMinutes(_)
            | Action::NextRaised
            | Action::AskTime
            | Action::TimeApply => self.not_a_replay(),
        }
        self.settle_detail();
    }

    /// Enter on a row of the Namespaces view: show only that namespace's sockets (the
    /// `netns` filter key, `--netns-match` on the command line), in the Sockets view.
    /// Leave the `/` line without applying it, saying so when the text typed was not the
    /// filter in force (a refused filter would otherwise vanish without a word).
    fn drop_filter_edit(&mut self) {
        let typed = std::mem::take(&mut self.input);
        if typed.trim() != self.filter_text {
            self.notice = Some(if self.filter_text.is_empty() {
                "filter not applied: the edit was dropped, no filter in force".to_owned()
            } else {
                format!(
                    "filter not applied: the edit was dropped, still filtering on {}",
                    self.filter_text
                )
            });
        }
    }

    fn narrow_to_netns(&mut self) {
        let selected = self.cursor(View::Namespaces).selected;
        let Some(Target::Netns(name, inode)) = self.rows.get(selected).map(|r| r.target.clone())
        else {
            return;
        };
        if !self.all_netns() {
            self.notice =
                Some("only one namespace is watched: start with -A to see every one".to_owned());
            return;
        }
        // The inode when the name would need quoting on the `/` line.
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:[]".contains(c));
        let spec = if plain {
            name.clone()
        } else {
            inode.to_string()
        };
        let mut filter = self.filter.clone();
        filter.netns = vec![crate::filter::NetnsSpec(spec)];
        self.input = filter.to_string();
        self.apply_filter();
        self.notice = Some(format!("netns {name} only: / to change the filter"));
        self.show_view(View::Sockets);
    }

    fn scroll_detail(&mut self, motion: Motion) {
        if self.mode != InputMode::Detail {
            return;
        }
        if let Some(pane) = self.detail_pane() {
            self.detail_scroll = pane.scrolled(self.detail_scroll, motion);
        }
    }

    fn show_view(&mut self, view: View) {
        self.view = view;
        if self.mode == InputMode::Detail {
            self.mode = InputMode::Normal;
        }
        self.refresh();
    }

    fn resort(&mut self, sort: Sort) {
        self.sorts[self.view.index()] = sort;
        self.cursors[self.view.index()] = Cursor::default();
        if self.view == View::Sockets {
            self.order_stale = true;
        }
        let column = self
            .columns(self.view)
            .get(sort.column)
            .map_or("?", |c| c.name);
        let direction = if sort.reverse { ", reversed" } else { "" };
        self.notice = Some(format!("sorted by {column}{direction}"));
        self.refresh();
    }

    fn toggle_pause(&mut self) {
        if self.pause_requested {
            self.pause_requested = false;
            let selection = self.selection();
            if let Some(latest) = self.latest.take() {
                self.shown = Some(latest);
                self.order_stale = true;
            }
            self.polls_while_paused = 0;
            self.notice = Some("display live again".to_owned());
            self.refresh();
            self.reselect(selection);
        } else {
            self.pause_requested = true;
            self.notice = Some("display paused; polling goes on (p or Space resumes)".to_owned());
        }
    }

    fn step_anomaly(&mut self, direction: isize) {
        let count = self.shown.as_ref().map_or(0, |s| s.anomalies().len());
        if count == 0 {
            self.notice = Some("no anomaly raised".to_owned());
            return;
        }
        self.anomaly =
            (self.anomaly.min(count - 1) as isize + direction).rem_euclid(count as isize) as usize;
    }

    fn move_cursor(&mut self, motion: Motion) {
        let rows = self.row_count();
        let page = self.table_height().max(1);
        let cursor = &mut self.cursors[self.view.index()];
        let last = rows.saturating_sub(1);
        cursor.selected = match motion {
            Motion::Up => cursor.selected.saturating_sub(1),
            Motion::Down => (cursor.selected + 1).min(last),
            Motion::PageUp => cursor.selected.saturating_sub(page),
            Motion::PageDown => (cursor.selected + page).min(last),
            Motion::Home => 0,
            Motion::End => last,
        };
        cursor.offset = cursor.scrolled(page);
    }
}
