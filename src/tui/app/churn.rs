//! The Churn view's state: what its table groups by, and what the dashboard knows of the
//! destroy-event subscriptions, for the view to say why it is empty.

use super::{App, Cursor};
use crate::tui::columns::{ChurnColumn, Column, ViewColumn};
use crate::tui::view::{ChurnGrouping, View};

impl App {
    /// The columns of `view` as its table heads them: the Churn view's first column is
    /// named after its grouping.
    pub fn columns(&self, view: View) -> Vec<Column> {
        let mut columns = view.columns();
        if view == View::Churn
            && let Some(key) = columns.get_mut(ChurnColumn::Key.index())
        {
            key.name = self.churn_grouping.heading();
        }
        columns
    }

    /// What the Churn view's table groups by.
    pub fn churn_grouping(&self) -> ChurnGrouping {
        self.churn_grouping
    }

    /// What the latest round said of its destroy-event subscriptions: why subscribing
    /// failed (`None`: it did not), for the Churn view to say why it is empty.
    pub fn events_subscribed(&mut self, error: Option<&str>) {
        self.events_error = error.map(str::to_owned);
    }

    /// Why the latest round could not subscribe to destroy events, as it said.
    pub fn events_error(&self) -> Option<&str> {
        self.events_error.as_deref()
    }

    /// Whether a round has counted destroy events (the header's `closes N/s` follows from
    /// the second).
    pub fn events_counted(&self) -> bool {
        !self.closed_readings.is_empty()
    }

    /// `b`: the Churn view's next grouping, from its first row; elsewhere, a word on what
    /// `b` is for.
    pub(super) fn cycle_churn_grouping(&mut self) {
        if self.view != View::Churn {
            let digit = View::Churn.index() + 1;
            self.notice = Some(format!(
                "b groups the Churn view ({digit}): by process, local port, remote host, container"
            ));
            return;
        }
        self.churn_grouping = self.churn_grouping.next();
        self.cursors[View::Churn.index()] = Cursor::default();
        self.notice = Some(format!("churn by {}", self.churn_grouping.name()));
        self.refresh();
    }
}
