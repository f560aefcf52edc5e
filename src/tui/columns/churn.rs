//! The columns of the Churn view: what a group of closed connections has in common, then
//! how many closed and how.

use super::{Column, ViewColumn, Width, number, text};

/// The columns of the Churn view. The first column's heading is the grouping's
/// ([`ChurnGrouping::heading`](crate::tui::view::ChurnGrouping::heading)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::VariantArray)]
pub enum ChurnColumn {
    /// What the group's closes have in common: a process, a local port, a remote host or a
    /// container.
    Key,
    /// Closes per second over the span.
    PerSecond,
    /// Closes over the span.
    Closes,
    /// The share of short-lived closes.
    ShortLived,
    /// The share of closes no poll saw at all.
    Unseen,
    /// The median lifetime of the closes a poll saw born (`≤512ms`).
    MedianLifetime,
    /// Bytes sent and received per connection.
    BytesPerConnection,
}

impl ViewColumn for ChurnColumn {
    fn index(self) -> usize {
        self as usize
    }

    fn column(self) -> Column {
        let (column, priority) = match self {
            // Its long labels have a short form: `not attributed (closed between polls)`.
            ChurnColumn::Key => (
                Column {
                    width: Width::Label,
                    ..text("GROUP")
                },
                0,
            ),
            ChurnColumn::PerSecond => (number("CLOSES/S"), 1),
            ChurnColumn::Closes => (number("CLOSES"), 3),
            ChurnColumn::ShortLived => (number("SHORT-LIVED"), 2),
            ChurnColumn::Unseen => (number("NOT SEEN"), 5),
            ChurnColumn::MedianLifetime => (number("MEDIAN LIFE"), 4),
            ChurnColumn::BytesPerConnection => (number("BYTES/CONN"), 6),
        };
        Column { priority, ..column }
    }
}
