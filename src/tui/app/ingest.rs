//! How a poll reaches the screen: a round of the watcher (its failure, whether the target
//! still leads to the namespace, the census, the churn counts), one namespace's snapshot or
//! every namespace's, and the row the cursor was on found again in the new table.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{App, Failure, Selection, Watching};
use crate::model::Snapshot;
use crate::tui::namespaces::{NamespacesOnScreen, SharedNamespaces};
use crate::tui::on_screen::OnScreen;
use crate::tui::view::View;
use crate::watch::Round;

impl App {
    /// Take in a poll that cost `cost` (collecting plus ingesting the previous one).
    pub fn ingest(&mut self, snapshot: impl Into<Arc<Snapshot>>, cost: Duration) {
        self.ingest_with(snapshot.into(), cost, None);
    }

    /// What a round says besides its sockets, taken in for every round even when the UI
    /// fell behind and only the newest is ingested: whether the one namespace's target
    /// still leads there, and the census of the other namespaces.
    pub fn round_seen(&mut self, round: &Round) {
        if !round.every {
            self.netns_checked(round.drift.clone());
        }
        if let Some(others) = round.others {
            self.others_counted(others);
        }
        if let Some((closed, lost)) = round.closed() {
            // The counts were read at the end of the span listened.
            let read_at = round.listened().map_or(round.taken_at, |(_, to)| to);
            let readings = &mut self.closed_readings;
            if readings
                .back()
                .is_some_and(|&(before, _, _)| closed < before)
            {
                // The subscriptions started again (`A`): no rate until the next round.
                readings.clear();
            }
            readings.push_back((closed, lost, read_at));
            while readings.len() > super::CLOSES_OVER + 1 {
                readings.pop_front();
            }
            self.closes_per_second = match (readings.front(), readings.len()) {
                (Some(&(first, _, at)), 2..) => read_at
                    .duration_since(at)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .map(|d| (closed - first) as f64 / d.as_secs_f64()),
                _ => None,
            };
            self.events_lost = lost;
        }
        self.events_subscribed(round.events_error.as_deref());
        // The Churn view is of every connection: the filter does not narrow it.
        for closes in round.closes() {
            self.aggregator.take_closes(&closes.whole);
        }
    }

    /// TCP connections opened per second over the last poll (the kernel's `ActiveOpens` +
    /// `PassiveOpens`), when the poll on screen says.
    pub fn opens_per_second(&self) -> Option<f64> {
        let summary = &self.shown.as_ref()?.summary;
        let opens = |name| summary.rate(name).and_then(|r| r.per_second);
        Some(opens("ActiveOpens")? + opens("PassiveOpens")?)
    }

    /// Take in a round of the watcher that cost `cost` (collecting plus ingesting the
    /// previous one): a failed one is recorded (what was shown stays), one of every
    /// namespace goes to [`App::ingest_all`], one of one namespace to [`App::ingest`].
    pub fn ingest_round(&mut self, round: &Round, cost: Duration) {
        if let Some(why) = round.failure() {
            self.poll_failed(why.to_owned(), SystemTime::now());
        } else if round.every {
            self.ingest_all(round, cost);
        } else if let Some(snapshot) = &round.merged {
            self.ingest(Arc::clone(snapshot), cost);
        }
    }

    /// Take in a round of every namespace (`-A`) that cost `cost`: each namespace's verdict
    /// (its own rules, run on the collector thread) makes the Namespaces view's rows and
    /// the anomalies; the merged snapshot goes to the dashboard's aggregator (the counts,
    /// groupings and ages of every socket).
    pub fn ingest_all(&mut self, round: &Round, cost: Duration) {
        self.watching = Watching::EveryNamespace;
        let namespaces = NamespacesOnScreen::of(round);
        // Dumping namespaces seen for the first time (all of them at the first poll) is a
        // one-off: the interval is not slowed for their share of the poll. (Only their
        // share: on a host whose namespaces come and go at every poll, the rest counts.)
        let cost = if round.dumped > 0 {
            cost.mul_f64(round.dumped.saturating_sub(round.new) as f64 / round.dumped as f64)
        } else {
            cost
        };
        let namespaces = Arc::new(namespaces);
        match &round.merged {
            Some(merged) => self.ingest_with(merged.clone(), cost, Some(namespaces)),
            None => {
                // Nothing changed: the sockets on screen stand; the rows and ages move on.
                self.failure = None;
                self.pacing.polled(cost);
                let target = if self.pause_requested {
                    &mut self.latest
                } else {
                    &mut self.shown
                };
                if let Some(shown) = target {
                    shown.namespaces = Some(namespaces);
                }
                if !self.pause_requested && self.view == View::Namespaces {
                    let selection = self.selection();
                    self.refresh();
                    self.reselect(selection);
                }
            }
        }
    }

    pub(super) fn ingest_with(
        &mut self,
        snapshot: Arc<Snapshot>,
        cost: Duration,
        namespaces: Option<SharedNamespaces>,
    ) {
        self.failure = None;
        self.pacing.polled(cost);
        // Let go of the poll this one replaces before the aggregators update their
        // summaries, so that they update them in place instead of copying them.
        let selection = if self.pause_requested {
            self.latest = None;
            None
        } else {
            let selection = self.selection();
            self.shown = None;
            selection
        };
        self.aggregator.ingest(&snapshot);
        let narrowed = self.narrowed.as_mut().map(|aggregator| {
            aggregator.ingest(&self.filter.narrow(&snapshot));
            aggregator.shared_summary()
        });
        let shown = OnScreen {
            snapshot,
            summary: self.aggregator.shared_summary(),
            narrowed,
            namespaces,
        };
        if self.pause_requested {
            self.latest = Some(shown);
            self.polls_while_paused += 1;
        } else {
            self.shown = Some(shown);
            self.order_stale = true;
            self.refresh();
            self.reselect(selection);
        }
        self.settle_detail();
    }

    /// What the selected row is about, to find it again in the next poll's table.
    pub(super) fn selection(&self) -> Option<Selection> {
        let shown = self.shown.as_ref()?;
        let selected = self.cursor(self.view).selected;
        if self.view == View::Sockets {
            let socket = shown
                .snapshot
                .sockets
                .get(*self.order.get(selected)? as usize)?;
            Some(Selection::Socket {
                cookie: socket.cookie,
                local: socket.local,
                remote: socket.remote,
            })
        } else {
            Some(Selection::Group(self.rows.get(selected)?.target.clone()))
        }
    }

    /// Move the cursor to `selection`'s row in the current table, at the same place on
    /// screen; where it is gone, the cursor stays at its row number.
    pub(super) fn reselect(&mut self, selection: Option<Selection>) {
        let (Some(selection), Some(shown)) = (selection, &self.shown) else {
            return;
        };
        let is_it = |row: usize| match &selection {
            Selection::Socket {
                cookie,
                local,
                remote,
            } => self.order.get(row).is_some_and(|&i| {
                let s = &shown.snapshot.sockets[i as usize];
                s.cookie == *cookie && s.local == *local && s.remote == *remote
            }),
            Selection::Group(target) => self.rows.get(row).is_some_and(|r| r.target == *target),
        };
        let selected = self.cursor(self.view).selected;
        // Most polls move nothing: look where it was first.
        let found = if is_it(selected) {
            Some(selected)
        } else {
            (0..self.row_count()).find(|&row| is_it(row))
        };
        let Some(row) = found else {
            return;
        };
        let page = self.table_height();
        let rows = self.row_count();
        let cursor = &mut self.cursors[self.view.index()];
        let on_screen = cursor.selected.saturating_sub(cursor.offset);
        cursor.selected = row;
        cursor.offset = row
            .saturating_sub(on_screen)
            .min(rows.saturating_sub(page.max(1)));
        cursor.offset = cursor.scrolled(page);
    }

    /// Record a failed poll at `at`; what was shown stays.
    pub fn poll_failed(&mut self, message: String, at: SystemTime) {
        match &mut self.failure {
            Some(f) => {
                f.message = message;
                f.last = at;
                f.count += 1;
            }
            None => {
                self.failure = Some(Failure {
                    message,
                    since: at,
                    last: at,
                    count: 1,
                });
            }
        }
    }
}
