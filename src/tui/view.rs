//! The views of the tab bar, their columns and how each is sorted.

use super::columns::{
    ChurnColumn, Column, CounterColumn, ListenerColumn, NamespaceColumn, PeerColumn, ProcessColumn,
    SocketColumn, ViewColumn,
};

/// One tab of the table.
/// The variants are declared in tab-bar order: [`View::ALL`] is derived from them and a
/// view's index is its discriminant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::VariantArray)]
#[must_use]
pub enum View {
    /// Every socket.
    Sockets,
    /// Sockets per owning process.
    Processes,
    /// Sockets per remote host.
    Peers,
    /// Listening addresses: accept queue, backlog, SYN_RECV.
    Listeners,
    /// Kernel counter rates.
    Counters,
    /// One row per network namespace watched (every one with `-A`).
    Namespaces,
    /// The connections closed over the last minute, grouped as [`ChurnGrouping`] says.
    Churn,
}

impl View {
    /// Tab-bar order; the digit keys from `1` pick them.
    pub const ALL: &'static [View] = <View as strum::VariantArray>::VARIANTS;

    /// How many views there are.
    pub const COUNT: usize = View::ALL.len();

    /// Tab label.
    pub fn title(self) -> &'static str {
        match self {
            View::Sockets => "Sockets",
            View::Processes => "Processes",
            View::Peers => "Peers",
            View::Listeners => "Listeners",
            View::Counters => "Counters",
            View::Namespaces => "Namespaces",
            View::Churn => "Churn",
        }
    }

    /// Position in [`View::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The next view, wrapping.
    pub fn next(self) -> View {
        View::ALL[(self.index() + 1) % View::ALL.len()]
    }

    /// The previous view, wrapping.
    pub fn prev(self) -> View {
        View::ALL[(self.index() + View::ALL.len() - 1) % View::ALL.len()]
    }

    /// The table's columns, in table order.
    pub fn columns(self) -> Vec<Column> {
        match self {
            View::Sockets => SocketColumn::specs(),
            View::Processes => ProcessColumn::specs(),
            View::Peers => PeerColumn::specs(),
            View::Listeners => ListenerColumn::specs(),
            View::Counters => CounterColumn::specs(),
            View::Namespaces => NamespaceColumn::specs(),
            View::Churn => ChurnColumn::specs(),
        }
    }

    /// The order a view opens in: sockets by state (as `snapshot` lists them), listeners
    /// by fill, counters by rate, namespaces by anomalies, churn by closes, everything else
    /// largest first.
    pub fn default_sort(self) -> Sort {
        match self {
            View::Sockets => Sort::by(SocketColumn::State),
            View::Processes => Sort::by(ProcessColumn::Total),
            View::Peers => Sort::by(PeerColumn::Sockets),
            View::Listeners => Sort::by(ListenerColumn::Fill),
            View::Counters => Sort::by(CounterColumn::PerSecond),
            View::Namespaces => Sort::by(NamespaceColumn::Anomalies),
            View::Churn => Sort::by(ChurnColumn::Closes),
        }
    }
}

/// What the Churn view's table groups the closes by; `b` steps through them in
/// declaration order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, strum::VariantArray)]
#[must_use]
pub enum ChurnGrouping {
    /// The process that made the connection, as attributed.
    #[default]
    Process,
    /// The local port of the connections this side accepted.
    LocalPort,
    /// The remote host.
    RemoteHost,
    /// The container the closes are attributed to: their owner's, listener's or namespace's.
    Container,
}

impl ChurnGrouping {
    /// How the table's title says it: `process`, `local port`…
    pub fn name(self) -> &'static str {
        match self {
            ChurnGrouping::Process => "process",
            ChurnGrouping::LocalPort => "local port",
            ChurnGrouping::RemoteHost => "remote host",
            ChurnGrouping::Container => "container",
        }
    }

    /// The heading of the table's first column.
    pub fn heading(self) -> &'static str {
        match self {
            ChurnGrouping::Process => "PROCESS",
            ChurnGrouping::LocalPort => "LOCAL PORT",
            ChurnGrouping::RemoteHost => "REMOTE HOST",
            ChurnGrouping::Container => "CONTAINER",
        }
    }

    /// The next grouping, wrapping.
    pub fn next(self) -> ChurnGrouping {
        let all = <ChurnGrouping as strum::VariantArray>::VARIANTS;
        all[(self as usize + 1) % all.len()]
    }
}

/// A table's order: a column, in its natural direction unless reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Sort {
    /// The column's place in its view's enum ([`ViewColumn::index`]); read it back as the
    /// enum with [`Sort::by_column`].
    pub column: usize,
    /// Against the column's natural direction.
    pub reverse: bool,
}

impl Sort {
    /// By `column`, in its natural direction.
    pub fn by<C: ViewColumn>(column: C) -> Sort {
        Sort {
            column: column.index(),
            reverse: false,
        }
    }

    /// The column sorted by, as its view's enum.
    #[must_use]
    pub fn by_column<C: ViewColumn>(self) -> C {
        C::at(self.column)
    }

    /// The next sortable column of `view` present in the table (`containers`: whether the
    /// poll on screen has containers, see [`Column::is_present`]), wrapping; the direction
    /// resets.
    pub fn cycled(self, view: View, containers: bool) -> Sort {
        let columns = view.columns();
        let mut column = self.column;
        for _ in 0..columns.len() {
            column = (column + 1) % columns.len();
            if columns[column].sortable && columns[column].is_present(containers) {
                break;
            }
        }
        Sort {
            column,
            reverse: false,
        }
    }

    /// `a` against `b` for this sort, given their natural order (`Less` = `a` first when
    /// not reversed).
    pub fn apply(self, natural: std::cmp::Ordering) -> std::cmp::Ordering {
        if self.reverse {
            natural.reverse()
        } else {
            natural
        }
    }

    /// Arrow for the heading: ▼ for largest/A first as natural, ▲ when reversed.
    pub fn arrow(self) -> &'static str {
        if self.reverse { "▲" } else { "▼" }
    }
}
