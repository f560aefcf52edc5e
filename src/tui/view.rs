//! The views of the tab bar, their columns and how each is sorted.

/// One tab of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
}

/// A table column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Heading.
    pub name: &'static str,
    /// Numbers sort largest first and align right; text sorts A–Z.
    pub numeric: bool,
    /// Whether `s` stops on it.
    pub sortable: bool,
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        numeric: false,
        sortable: true,
    }
}

const fn number(name: &'static str) -> Column {
    Column {
        name,
        numeric: true,
        sortable: true,
    }
}

const SOCKET_COLUMNS: &[Column] = &[
    text("STATE"),
    text("LOCAL"),
    text("REMOTE"),
    number("RECV-Q"),
    number("SEND-Q"),
    text("TIMER"),
    number("AGE"),
    text("PROCESS"),
];
const PROCESS_COLUMNS: &[Column] = &[
    number("PID"),
    text("PROCESS"),
    number("TOTAL"),
    number("LISTEN"),
    number("ESTAB"),
    number("SYN_SENT"),
    number("CLOSE_WAIT"),
    number("FIN_WAIT"),
    number("OTHER"),
];
const PEER_COLUMNS: &[Column] = &[text("REMOTE HOST"), number("SOCKETS"), number("SHARE")];
const LISTENER_COLUMNS: &[Column] = &[
    text("LISTENER"),
    number("ACCEPT-Q"),
    number("BACKLOG"),
    number("FILL"),
    number("SYN_RECV"),
    number("CONNS"),
    text("OWNER"),
];
const COUNTER_COLUMNS: &[Column] = &[
    text("COUNTER"),
    number("SINCE LAST POLL"),
    number("PER SECOND"),
    Column {
        name: "HISTORY",
        numeric: false,
        sortable: false,
    },
];

impl View {
    /// Tab-bar order; `1`…`5` pick them.
    pub const ALL: [View; 5] = [
        View::Sockets,
        View::Processes,
        View::Peers,
        View::Listeners,
        View::Counters,
    ];

    /// Tab label.
    pub fn title(self) -> &'static str {
        match self {
            View::Sockets => "Sockets",
            View::Processes => "Processes",
            View::Peers => "Peers",
            View::Listeners => "Listeners",
            View::Counters => "Counters",
        }
    }

    /// Position in [`View::ALL`].
    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    /// The next view, wrapping.
    pub fn next(self) -> View {
        View::ALL[(self.index() + 1) % View::ALL.len()]
    }

    /// The previous view, wrapping.
    pub fn prev(self) -> View {
        View::ALL[(self.index() + View::ALL.len() - 1) % View::ALL.len()]
    }

    /// The table's columns.
    pub fn columns(self) -> &'static [Column] {
        match self {
            View::Sockets => SOCKET_COLUMNS,
            View::Processes => PROCESS_COLUMNS,
            View::Peers => PEER_COLUMNS,
            View::Listeners => LISTENER_COLUMNS,
            View::Counters => COUNTER_COLUMNS,
        }
    }

    /// The order a view opens in: sockets by state (as `snapshot` lists them), listeners
    /// by fill, counters by rate, everything else largest first.
    pub fn default_sort(self) -> Sort {
        let column = match self {
            View::Sockets => 0,
            View::Processes | View::Counters => 2,
            View::Peers => 1,
            View::Listeners => 3,
        };
        Sort {
            column,
            reverse: false,
        }
    }
}

/// A table's order: a column, in its natural direction unless reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Sort {
    /// Index into [`View::columns`].
    pub column: usize,
    /// Against the column's natural direction.
    pub reverse: bool,
}

impl Sort {
    /// The next sortable column of `view`, wrapping; the direction resets.
    pub fn cycled(self, view: View) -> Sort {
        let columns = view.columns();
        let mut column = self.column;
        for _ in 0..columns.len() {
            column = (column + 1) % columns.len();
            if columns[column].sortable {
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
