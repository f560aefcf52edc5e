//! The dashboard's state: the aggregator, what is on screen, and the view state. Only the
//! UI thread owns it; [`App::apply`] and [`App::ingest`] are the only ways it changes, and
//! drawing only reads it.

use std::time::{Duration, SystemTime};

use ratatui::layout::Rect;

use crate::aggregate::Aggregator;
use crate::collect::NetnsDrift;
use crate::config::Config;
use crate::filter::Filter;
use crate::model::Addr;

use super::action::InputMode;
use super::detail::{Detail, DetailedRow, Pane};
use super::on_screen::OnScreen;
use super::pacing::Pacing;
use super::rows::{self, Target};
use super::theme::Theme;
use super::timeline::Timeline;
use super::view::{ChurnGrouping, Sort, View};

mod churn;
mod follow;
mod ingest;
mod keys;
mod replayed;

/// How many rounds the header's `closes N/s` is averaged over: a second's count jitters
/// by a few percent under load (the subscription threads are not scheduled evenly), five
/// seconds' does not.
pub(crate) const CLOSES_OVER: usize = 5;

/// What the dashboard needs to know that does not come from a poll.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Kernel release for the header (`uname -r`).
    pub kernel: String,
    /// Thresholds and history size.
    pub config: Config,
    /// Starting filter (the command line's).
    pub filter: Filter,
    /// The filter as typed, for the header.
    pub filter_text: String,
    /// Styles.
    pub theme: Theme,
    /// Terminal size at start.
    pub size: (u16, u16),
}

/// A failing collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The last error, one line.
    pub message: String,
    /// When polls started failing.
    pub since: SystemTime,
    /// The latest failed poll.
    pub last: SystemTime,
    /// Failed polls in a row.
    pub count: u64,
}

/// Table cursor of one view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Selected row.
    pub selected: usize,
    /// First row on screen.
    pub offset: usize,
}

impl Cursor {
    /// The first row on screen for a viewport of `height` rows, keeping `selected` in view
    /// and moving as little as possible.
    pub fn scrolled(self, height: usize) -> usize {
        let height = height.max(1);
        if self.selected < self.offset {
            self.selected
        } else if self.selected >= self.offset + height {
            self.selected + 1 - height
        } else {
            self.offset
        }
    }
}

/// The row a cursor is on, by what it shows rather than by its number.
#[derive(Clone, Debug, PartialEq)]
enum Selection {
    /// A socket: its cookie and ends (the state may change; the cookie alone is 0 when
    /// read from /proc/net/tcp).
    Socket {
        cookie: u64,
        local: Addr,
        remote: Addr,
    },
    /// A group row.
    Group(Target),
}

/// How many namespaces the dashboard watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Watching {
    /// One (sockscope's own, or the one `--netns` names).
    OneNamespace,
    /// Every one of the host.
    EveryNamespace,
}

/// The whole dashboard state.
#[derive(Debug)]
pub struct App {
    pub(super) aggregator: Aggregator,
    narrowed: Option<Aggregator>,
    /// One namespace, or every one (`-A`, or `A`: a round of every namespace came in;
    /// their rules run on the collector thread, each namespace with its own).
    watching: Watching,
    config: Config,
    /// What is on screen (`None` before the first poll).
    pub(crate) shown: Option<OnScreen>,
    /// The newest poll while the display is paused.
    pub(super) latest: Option<OnScreen>,
    pause_requested: bool,
    /// Polls taken since the display was paused.
    pub(crate) polls_while_paused: u64,
    /// Indices into the shown snapshot's sockets: filtered and sorted.
    pub(crate) order: Vec<u32>,
    /// The active group view's rows, sorted (empty in the sockets view).
    pub(crate) rows: Vec<rows::GroupRow>,
    order_stale: bool,
    /// The active view.
    pub(crate) view: View,
    sorts: [Sort; View::COUNT],
    cursors: [Cursor; View::COUNT],
    /// What the Churn view's table groups by (`b` steps through them).
    churn_grouping: ChurnGrouping,
    /// Where keys go.
    pub(crate) mode: InputMode,
    /// The detail pane's first row on screen (wrapped rows from its top), kept within its
    /// content by [`App::settle_detail`].
    detail_scroll: usize,
    /// The row the detail pane was opened on: when a poll or a key puts another row under
    /// it, the pane starts again at its top.
    detail_row: Option<Selection>,
    /// The filter line being typed.
    pub(crate) input: String,
    /// The active filter.
    pub(crate) filter: Filter,
    /// The active filter as typed.
    pub(crate) filter_text: String,
    /// How often to poll.
    pacing: Pacing,
    /// The collector's failure, while it lasts.
    pub(crate) failure: Option<Failure>,
    /// The collector's target no longer leads to the namespace polled (as of its latest
    /// poll).
    pub(crate) netns: Option<NetnsDrift>,
    /// Why the last `F` could not follow the target, while that still applies.
    pub(crate) follow_failed: Option<String>,
    /// Times `F` asked the collector to follow the target.
    follow_requests: u64,
    /// Without `-A`: the other namespaces that hold sockets, when sockscope may watch them
    /// (root, in the host's namespace); the header offers `A`.
    pub(crate) others: Option<crate::collect::all_netns::census::Others>,
    /// Times `A` asked the collector to watch every namespace (it is told once).
    all_requests: u64,
    /// Sockets destroyed and events lost in all, and when, as of the last rounds that said
    /// (the watcher's destroy-event subscriptions), oldest first, at most
    /// [`CLOSES_OVER`] + 1.
    closed_readings: std::collections::VecDeque<(u64, u64, SystemTime)>,
    /// TCP sockets destroyed per second over the last [`CLOSES_OVER`] rounds.
    pub(crate) closes_per_second: Option<f64>,
    /// Destroy events the kernel dropped since the subscriptions opened.
    pub(crate) events_lost: u64,
    /// Why the latest round could not subscribe to destroy events (`None`: it did not fail).
    events_error: Option<String>,
    /// Kernel release.
    pub(crate) kernel: String,
    /// Terminal size (columns, rows).
    pub(crate) size: (u16, u16),
    /// The selected anomaly.
    pub(crate) anomaly: usize,
    /// Styles.
    pub(crate) theme: Theme,
    /// A one-line notice for the footer, until the next key.
    pub(crate) notice: Option<String>,
    /// Set once the user asked to leave.
    pub(crate) quit: bool,
    /// In a replay (`sockscope replay FILE`): where it stands in the recording.
    timeline: Option<Timeline>,
    /// Times `w` asked for the flight recorder's polls to be written.
    write_requests: u64,
}

impl App {
    /// A dashboard with no poll yet.
    pub fn new(settings: Settings) -> App {
        let Settings {
            kernel,
            config,
            filter,
            filter_text,
            theme,
            size,
        } = settings;
        let interval = config.general.interval;
        App {
            aggregator: config.aggregator(),
            narrowed: (!filter.is_empty()).then(|| config.aggregator()),
            watching: Watching::OneNamespace,
            config,
            shown: None,
            latest: None,
            pause_requested: false,
            polls_while_paused: 0,
            order: Vec::new(),
            rows: Vec::new(),
            order_stale: true,
            view: View::Sockets,
            sorts: std::array::from_fn(|i| View::ALL[i].default_sort()),
            cursors: [Cursor::default(); View::COUNT],
            churn_grouping: ChurnGrouping::default(),
            mode: InputMode::Normal,
            detail_scroll: 0,
            detail_row: None,
            input: String::new(),
            filter,
            filter_text,
            pacing: Pacing::new(interval),
            failure: None,
            netns: None,
            follow_failed: None,
            follow_requests: 0,
            others: None,
            all_requests: 0,
            closed_readings: std::collections::VecDeque::new(),
            closes_per_second: None,
            events_lost: 0,
            events_error: None,
            kernel,
            size,
            anomaly: 0,
            theme,
            notice: None,
            quit: false,
            timeline: None,
            write_requests: 0,
        }
    }

    /// The aggregator over every socket (ages, first-seen times).
    pub fn aggregator(&self) -> &Aggregator {
        &self.aggregator
    }

    /// Whether the poll on screen has containers: the tables show their CONTAINER column
    /// and the detail pane cgroups ([`OnScreen::has_containers`]).
    pub fn has_containers(&self) -> bool {
        self.shown.as_ref().is_some_and(OnScreen::has_containers)
    }

    /// Whether the display is frozen.
    pub fn paused(&self) -> bool {
        self.pause_requested
    }

    /// The namespace whose polls should carry `tcp_info`, by the watcher's key: only
    /// while a socket's detail pane shows it — the one namespace (key 0), or with `-A` the
    /// selected socket's.
    pub fn wants_tcp_info(&self) -> Option<u64> {
        if self.mode != InputMode::Detail || self.view != View::Sockets {
            return None;
        }
        if self.watching == Watching::OneNamespace {
            return Some(0);
        }
        let shown = self.shown.as_ref()?;
        let socket = shown
            .snapshot
            .sockets
            .get(*self.order.get(self.cursor(View::Sockets).selected)? as usize)?;
        shown
            .snapshot
            .namespaces
            .of(socket.cookie)
            .map(|label| label.inode)
    }

    /// The detail pane's first row on screen, counted in wrapped rows from its top.
    pub fn detail_scroll(&self) -> usize {
        self.detail_scroll
    }

    /// What the detail pane shows for the selected row (`None` when there is no row).
    pub fn detail(&self) -> Option<Detail> {
        let shown = self.shown.as_ref()?;
        let selected = self.cursor(self.view).selected;
        let subject = if self.view == View::Sockets {
            DetailedRow::Socket(
                shown
                    .snapshot
                    .sockets
                    .get(*self.order.get(selected)? as usize)?,
            )
        } else {
            let row = self.rows.get(selected)?;
            DetailedRow::Group {
                title: row.cells.first().map_or("", String::as_str),
                target: &row.target,
            }
        };
        Some(Detail::of(self.theme, &self.aggregator, shown, subject))
    }

    /// The detail pane of the selected row on the current terminal.
    fn detail_pane(&self) -> Option<Pane> {
        let screen = Rect::new(0, 0, self.size.0, self.size.1);
        self.detail().map(|detail| Pane::of(screen, &detail))
    }

    /// Keep the detail pane's offset valid after anything that can change what it shows
    /// or how much fits: a poll, a resize, a key. The pane of another row starts at its top.
    fn settle_detail(&mut self) {
        if self.mode != InputMode::Detail {
            return;
        }
        let row = self.selection();
        if row != self.detail_row {
            self.detail_row = row;
            self.detail_scroll = 0;
            return;
        }
        self.detail_scroll = self
            .detail_pane()
            .map_or(0, |pane| pane.clamp(self.detail_scroll));
    }

    /// The sort of `view`.
    pub fn sort(&self, view: View) -> Sort {
        self.sorts[view.index()]
    }

    /// The cursor of `view`.
    pub fn cursor(&self, view: View) -> Cursor {
        self.cursors[view.index()]
    }

    /// The interval the user asked for.
    pub fn interval(&self) -> Duration {
        self.pacing.asked()
    }

    /// The longer interval the recent polls' cost needs, and that cost, while the asked
    /// one is too short for them.
    pub fn auto_interval(&self) -> Option<(Duration, Duration)> {
        self.pacing.slowed()
    }

    /// The interval the collector should poll at: the user's, or longer when polls are
    /// too costly for it.
    pub fn effective_interval(&self) -> Duration {
        self.pacing.effective()
    }

    /// Whether the dashboard watches every namespace (its first `-A` poll came in).
    pub fn all_netns(&self) -> bool {
        self.watching == Watching::EveryNamespace
    }

    /// Whether `A` asked for every namespace (the collector thread is told once).
    pub fn wants_all_netns(&self) -> bool {
        self.all_requests > 0
    }

    /// `A`: watch every namespace, when the header offers it.
    fn ask_all_netns(&mut self) {
        self.notice = Some(if self.all_netns() || self.all_requests > 0 {
            "every namespace is watched already".to_owned()
        } else if self.others.is_none() {
            "A watches every namespace: only as root, from the host's namespace (sudo sockscope -A)"
                .to_owned()
        } else {
            self.all_requests += 1;
            "watching every namespace from the next poll…".to_owned()
        });
    }

    /// What is on screen (`None` before the first poll).
    pub fn shown(&self) -> Option<&OnScreen> {
        self.shown.as_ref()
    }

    /// Polls taken since the display was paused.
    pub fn polls_while_paused(&self) -> u64 {
        self.polls_while_paused
    }

    /// Indices into the shown snapshot's sockets: filtered and sorted.
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// The active group view's rows, sorted (empty in the sockets view).
    pub fn rows(&self) -> &[rows::GroupRow] {
        &self.rows
    }

    /// The active view.
    pub fn view(&self) -> View {
        self.view
    }

    /// Where keys go.
    pub fn mode(&self) -> InputMode {
        self.mode
    }

    /// The filter line being typed.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The active filter.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The active filter as typed.
    pub fn filter_text(&self) -> &str {
        &self.filter_text
    }

    /// The collector's failure, while it lasts.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// The collector's target no longer leads to the namespace polled (as of its latest
    /// poll).
    pub fn netns(&self) -> Option<&NetnsDrift> {
        self.netns.as_ref()
    }

    /// Why the last `F` could not follow the target, while that still applies.
    pub fn follow_failed(&self) -> Option<&str> {
        self.follow_failed.as_deref()
    }

    /// Terminal size (columns, rows).
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    /// The selected anomaly.
    pub fn anomaly(&self) -> usize {
        self.anomaly
    }

    /// The footer's one-line notice, until the next key.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Whether the user asked to leave.
    pub fn quitting(&self) -> bool {
        self.quit
    }

    /// Draw with `theme` from now on.
    pub fn set_theme(&mut self, theme: Theme) {
        self.theme = theme;
    }

    /// Show `text` in the footer until the next key (a fallback, a failure of `-A`).
    pub fn notify(&mut self, text: String) {
        self.notice = Some(text);
    }

    /// The census of the other namespaces arrived (the header's `press A`).
    pub fn others_counted(&mut self, others: crate::collect::all_netns::census::Others) {
        self.others = Some(others);
    }

    /// The terminal changed size.
    pub fn resize(&mut self, columns: u16, rows: u16) {
        self.size = (columns, rows);
        self.refresh();
        self.settle_detail();
    }

    /// Rows in the active view's table.
    pub fn row_count(&self) -> usize {
        match (&self.shown, self.view) {
            (None, _) => 0,
            (Some(_), View::Sockets) => self.order.len(),
            (Some(_), _) => self.rows.len(),
        }
    }

    fn apply_filter(&mut self) {
        let text = self.input.trim().to_owned();
        match text.parse::<Filter>() {
            Ok(filter) => {
                self.mode = InputMode::Normal;
                self.input.clear();
                self.filter = filter;
                self.filter_text = text;
                self.cursors = [Cursor::default(); View::COUNT];
                self.order_stale = true;
                self.renarrow();
                self.refresh();
                if self.filter.is_empty() {
                    self.notice = Some("filter cleared".to_owned());
                }
            }
            Err(message) => self.notice = Some(format!("filter not applied: {message}")),
        }
    }

    /// Rebuild the filtered summaries for the new filter from what is on screen.
    fn renarrow(&mut self) {
        if self.filter.is_empty() {
            self.narrowed = None;
            for shown in [&mut self.shown, &mut self.latest].into_iter().flatten() {
                shown.narrowed = None;
            }
            return;
        }
        let mut aggregator = self.config.aggregator();
        for shown in [&mut self.shown, &mut self.latest].into_iter().flatten() {
            aggregator.ingest(&self.filter.narrow(&shown.snapshot));
            shown.narrowed = Some(aggregator.shared_summary());
        }
        self.narrowed = Some(aggregator);
    }

    /// Rows of table body the current terminal size leaves in the active view (the Churn
    /// view's title and sparkline take theirs).
    pub fn table_height(&self) -> usize {
        self.areas().map_or(0, |a| a.table_body_height(self.view))
    }

    /// Bring derived state up to date: the socket order, cursors within their tables, a
    /// sort by a column the table no longer has back to the view's own.
    fn refresh(&mut self) {
        let containers = self.has_containers();
        for view in View::ALL {
            let column = self.sort(*view).column;
            if view
                .columns()
                .get(column)
                .is_some_and(|c| !c.is_present(containers))
            {
                self.sorts[view.index()] = view.default_sort();
                self.order_stale |= *view == View::Sockets;
            }
        }
        if self.view == View::Sockets && self.order_stale {
            self.order = match &self.shown {
                Some(shown) => rows::socket_order(
                    shown,
                    &self.filter,
                    self.sort(View::Sockets),
                    &self.aggregator,
                ),
                None => Vec::new(),
            };
            self.order_stale = false;
        }
        self.rows = match &self.shown {
            Some(shown) if self.view != View::Sockets => {
                rows::group_rows(shown, self.view, self.sort(self.view), self.churn_grouping)
            }
            _ => Vec::new(),
        };
        let rows = self.row_count();
        let page = self.table_height();
        let cursor = &mut self.cursors[self.view.index()];
        cursor.selected = cursor.selected.min(rows.saturating_sub(1));
        cursor.offset = cursor.scrolled(page).min(rows.saturating_sub(page.max(1)));
        if let Some(shown) = &self.shown {
            self.anomaly = self.anomaly.min(shown.anomalies().len().saturating_sub(1));
        }
    }
}
