//! The columns of each view, one enum per view. A column says its heading, how it lines up,
//! how wide it is drawn, whether `s` stops on it and how soon it goes when the terminal is
//! narrow. Its cells (and the sockets' sort keys) are made in `tui/rows.rs`, by matching
//! on the enum.
//!
//! Adding a column: a variant (its place among the variants is its place in the table) and
//! its line in [`ViewColumn::column`] here, then its cell in `rows.rs` (and, in the sockets
//! view, its sort key there); the compiler points at each match that lacks it. The list of
//! columns is derived (`strum::VariantArray`) and a column's index is its discriminant, so
//! no list is written by hand.

mod churn;

pub use churn::ChurnColumn;

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text, A–Z first.
    Left,
    /// Numbers, largest first.
    Right,
}

/// How wide a column is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// As wide as its heading and its widest cell on screen; the last column shown, when
    /// it is text, takes what is left.
    Fit,
    /// A sparkline of the row's history, this many cells wide.
    Sparkline(usize),
    /// As [`Width::Fit`] for labels that have a short form (`docker:3f2a1c9e0b7d (web-1)`
    /// is `docker:3f2a1c9e0b7d` without its parenthesis): when the widest label does not
    /// fit, the column is drawn as wide as the widest short form and its labels lose their
    /// parenthesis; only then is the column left out.
    Label,
}

/// The short form of a label (see [`Width::Label`]): what comes before ` (`.
pub fn short_label(label: &str) -> &str {
    label.split_once(" (").map_or(label, |(short, _)| short)
}

/// When a column is part of its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Always.
    Always,
    /// Only while the poll on screen tells sockets apart by cgroup
    /// ([`OnScreen::has_containers`](super::on_screen::OnScreen::has_containers)): a host where every
    /// socket is in one plain cgroup shows the table as it was before containers.
    WithContainers,
}

/// What a column of any view says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Heading.
    pub name: &'static str,
    /// Right-aligned numbers that sort largest first, or left-aligned text sorted A–Z.
    pub align: Align,
    /// How wide it is drawn.
    pub width: Width,
    /// Whether `s` stops on it.
    pub sortable: bool,
    /// When the terminal is too narrow, columns are kept lowest first (ties in table
    /// order).
    pub priority: u8,
    /// When it is part of the table at all.
    pub presence: Presence,
}

impl Column {
    /// Whether it is part of the table, given whether the poll on screen has containers
    /// (see [`Presence`]).
    pub fn is_present(self, containers: bool) -> bool {
        match self.presence {
            Presence::Always => true,
            Presence::WithContainers => containers,
        }
    }

    /// Whether it holds numbers (right-aligned, largest first).
    pub fn numeric(self) -> bool {
        self.align == Align::Right
    }
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        align: Align::Left,
        width: Width::Fit,
        sortable: true,
        priority: 0,
        presence: Presence::Always,
    }
}

/// The container column of a view: labels, present only with containers.
const fn container() -> Column {
    Column {
        presence: Presence::WithContainers,
        width: Width::Label,
        ..text("CONTAINER")
    }
}

const fn number(name: &'static str) -> Column {
    Column {
        align: Align::Right,
        ..text(name)
    }
}

/// The columns of one view: a fieldless enum whose variants, in declaration order, are the
/// table's columns ([`ViewColumn::ALL`] is derived from them).
pub trait ViewColumn: Copy + Eq + std::fmt::Debug + strum::VariantArray + 'static {
    /// Every column, in table order (the variants, as declared).
    const ALL: &'static [Self] = Self::VARIANTS;

    /// What the column says about itself.
    fn column(self) -> Column;

    /// Position in [`ViewColumn::ALL`]: where its cell is in a row. It is the variant's
    /// discriminant (`self as usize` in each enum's impl): variants are declared in table
    /// order, with no explicit discriminants.
    fn index(self) -> usize;

    /// The column at `index` of [`ViewColumn::ALL`] (the first one when out of range).
    fn at(index: usize) -> Self {
        Self::ALL.get(index).copied().unwrap_or(Self::ALL[0])
    }

    /// [`ViewColumn::column`] of every column, in table order.
    fn specs() -> Vec<Column> {
        Self::ALL.iter().map(|c| c.column()).collect()
    }
}

/// The columns of the sockets view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::VariantArray)]
pub enum SocketColumn {
    /// TCP state; sorts as the text report lists sockets.
    State,
    /// Local address and port.
    Local,
    /// Remote address and port.
    Remote,
    /// Receive queue (accept queue of a listener).
    RecvQ,
    /// Send queue (backlog of a listener).
    SendQ,
    /// The socket's timer.
    Timer,
    /// Time in its current state.
    Age,
    /// The container of its cgroup (`docker:3f2a1c9e0b7d (web-1)`, `-` for none); present
    /// only with containers (see [`Presence::WithContainers`]).
    Container,
    /// Owning processes.
    Process,
}

impl ViewColumn for SocketColumn {
    fn index(self) -> usize {
        self as usize
    }

    fn column(self) -> Column {
        let (column, priority) = match self {
            SocketColumn::State => (text("STATE"), 0),
            SocketColumn::Local => (text("LOCAL"), 1),
            SocketColumn::Remote => (text("REMOTE"), 2),
            SocketColumn::RecvQ => (number("RECV-Q"), 6),
            SocketColumn::SendQ => (number("SEND-Q"), 7),
            SocketColumn::Timer => (text("TIMER"), 8),
            SocketColumn::Age => (number("AGE"), 5),
            SocketColumn::Container => (container(), 4),
            SocketColumn::Process => (text("PROCESS"), 3),
        };
        Column { priority, ..column }
    }
}

/// The columns of the processes view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::VariantArray)]
pub enum ProcessColumn {
    /// Process id (`-` for sockets of no process).
    Pid,
    /// Short name.
    Process,
    /// Every socket it holds.
    Total,
    /// Its open descriptors and its soft open-file limit (`170/200`), sorted by how full.
    Descriptors,
    /// LISTEN sockets.
    Listen,
    /// ESTABLISHED sockets.
    Established,
    /// SYN_SENT sockets.
    SynSent,
    /// CLOSE_WAIT sockets.
    CloseWait,
    /// FIN_WAIT1 and FIN_WAIT2 sockets.
    FinWait,
    /// Sockets in any other state.
    Other,
    /// The container most of its sockets are in (`-` for none); present only with
    /// containers (see [`Presence::WithContainers`]).
    Container,
}

impl ViewColumn for ProcessColumn {
    fn index(self) -> usize {
        self as usize
    }

    fn column(self) -> Column {
        match self {
            ProcessColumn::Pid => number("PID"),
            ProcessColumn::Process => text("PROCESS"),
            ProcessColumn::Total => number("TOTAL"),
            ProcessColumn::Descriptors => number("FDS/LIMIT"),
            ProcessColumn::Listen => number("LISTEN"),
            ProcessColumn::Established => number("ESTAB"),
            ProcessColumn::SynSent => number("SYN_SENT"),
            ProcessColumn::CloseWait => number("CLOSE_WAIT"),
            ProcessColumn::FinWait => number("FIN_WAIT"),
            ProcessColumn::Other => number("OTHER"),
            ProcessColumn::Container => container(),
        }
    }
}

/// The columns of the peers view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::VariantArray)]
pub enum PeerColumn {
    /// Remote address.
    Host,
    /// Sockets toward it.
    Sockets,
    /// Its share of the grouped sockets.
    Share,
}

impl ViewColumn for PeerColumn {
    fn index(self) -> usize {
        self as usize
    }

    fn column(self) -> Column {
        match self {
            PeerColumn::Host => text("REMOTE HOST"),
            PeerColumn::Sockets => number("SOCKETS"),
            PeerColumn::Share => number("SHARE"),
        }
    }
}

/// The columns of the listeners view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::VariantArray)]
pub enum ListenerColumn {
    /// Listening address.
    Listener,
    /// Connections waiting for accept().
    AcceptQueue,
    /// The listen backlog.
    Backlog,
    /// Accept queue as a share of the backlog.
    Fill,
    /// Half-open connections.
    SynRecv,
    /// Accepted connections still open.
    Connections,
    /// Processes holding it.
    Owner,
}

impl ViewColumn for ListenerColumn {
    fn index(self) -> usize {
        self as usize
    }

    fn column(self) -> Column {
        match self {
            ListenerColumn::Listener => text("LISTENER"),
            ListenerColumn::AcceptQueue => number("ACCEPT-Q"),
            ListenerColumn::Backlog => number("BACKLOG"),
            ListenerColumn::Fill => number("FILL"),
            ListenerColumn::SynRecv => number("SYN_RECV"),
            ListenerColumn::Connections => number("CONNS"),
            ListenerColumn::Owner => text("OWNER"),
        }
    }
}

/// The columns of the counters view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::VariantArray)]
pub enum CounterColumn {
    /// The kernel's name.
    Counter,
    /// Rise since the previous poll.
    SinceLastPoll,
    /// Rise per second.
    PerSecond,
    /// Rate over the history.
    History,
}

impl ViewColumn for CounterColumn {
    fn index(self) -> usize {
        self as usize
    }

    fn column(self) -> Column {
        match self {
            CounterColumn::Counter => text("COUNTER"),
            CounterColumn::SinceLastPoll => number("SINCE LAST POLL"),
            CounterColumn::PerSecond => number("PER SECOND"),
            CounterColumn::History => Column {
                width: Width::Sparkline(12),
                sortable: false,
                ..text("HISTORY")
            },
        }
    }
}

/// The columns of the namespaces view (`-A`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::VariantArray)]
pub enum NamespaceColumn {
    /// Its name: the `ip netns` name, else its container, else `comm[pid]`.
    Netns,
    /// The container its first process is in; present only with containers.
    Container,
    /// Every socket.
    Total,
    /// ESTABLISHED sockets.
    Established,
    /// LISTEN sockets.
    Listen,
    /// CLOSE_WAIT sockets.
    CloseWait,
    /// TIME_WAIT sockets.
    TimeWait,
    /// Sockets in any other state.
    Other,
    /// Anomalies raised in it.
    Anomalies,
    /// How old its data is: the time since its last dump.
    Age,
}

impl ViewColumn for NamespaceColumn {
    fn index(self) -> usize {
        self as usize
    }

    fn column(self) -> Column {
        let (column, priority) = match self {
            NamespaceColumn::Netns => (text("NETNS"), 0),
            NamespaceColumn::Container => (container(), 5),
            NamespaceColumn::Total => (number("TOTAL"), 1),
            NamespaceColumn::Established => (number("ESTAB"), 4),
            NamespaceColumn::Listen => (number("LISTEN"), 4),
            NamespaceColumn::CloseWait => (number("CLOSE_WAIT"), 3),
            NamespaceColumn::TimeWait => (number("TIME_WAIT"), 4),
            NamespaceColumn::Other => (number("OTHER"), 4),
            NamespaceColumn::Anomalies => (number("ANOMALIES"), 2),
            NamespaceColumn::Age => (number("DATA AGE"), 3),
        };
        Column { priority, ..column }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<C: ViewColumn>() {
        for (i, c) in C::ALL.iter().enumerate() {
            assert_eq!(c.index(), i, "{c:?}");
            assert_eq!(C::at(i), *c);
            assert!(!c.column().name.is_empty(), "{c:?}");
        }
        assert_eq!(C::at(C::ALL.len()), C::ALL[0]);
        assert!(C::ALL.iter().any(|c| c.column().sortable));
        assert!(
            C::ALL.first().is_some_and(|c| c.column().is_present(false)),
            "the first column is the fallback of `at` and of a vanished sort"
        );
    }

    #[test]
    fn every_column_knows_its_place_and_heading() {
        check::<SocketColumn>();
        check::<ProcessColumn>();
        check::<PeerColumn>();
        check::<ListenerColumn>();
        check::<CounterColumn>();
        check::<NamespaceColumn>();
        check::<ChurnColumn>();
    }

    #[test]
    fn no_list_of_views_or_columns_is_written_by_hand() {
        // The patterns are built so that this test's own text does not hold them.
        let hand_list = concat!("] = ", "&[");
        let searched = concat!(".position", "(|");
        for (file, text) in [
            ("columns.rs", include_str!("columns.rs")),
            ("columns/churn.rs", include_str!("columns/churn.rs")),
            ("view.rs", include_str!("view.rs")),
        ] {
            assert_eq!(
                text.matches(hand_list).count(),
                0,
                "{file}: a hand-written list"
            );
            assert_eq!(
                text.matches(searched).count(),
                0,
                "{file}: an index searched for"
            );
        }
        assert_eq!(SocketColumn::ALL.len(), 9);
        assert_eq!(SocketColumn::Process.index(), 8);
        assert_eq!(NamespaceColumn::Age.index(), 9);
        assert_eq!(super::super::view::View::Namespaces.index(), 5);
        assert_eq!(super::super::view::View::Churn.index(), 6);
        assert_eq!(super::super::view::View::COUNT, 7);
    }

    #[test]
    fn a_label_loses_its_parenthesis_in_short() {
        assert_eq!(
            short_label("docker:3f2a1c9e0b7d (web-1)"),
            "docker:3f2a1c9e0b7d"
        );
        assert_eq!(
            short_label("systemd:nginx.service"),
            "systemd:nginx.service"
        );
        assert_eq!(short_label("-"), "-");
    }

    #[test]
    fn narrow_terminals_keep_state_and_addresses_then_the_owner() {
        let mut by_priority = SocketColumn::ALL.to_vec();
        by_priority.sort_by_key(|c| c.column().priority);
        assert_eq!(
            by_priority,
            [
                SocketColumn::State,
                SocketColumn::Local,
                SocketColumn::Remote,
                SocketColumn::Process,
                SocketColumn::Container,
                SocketColumn::Age,
                SocketColumn::RecvQ,
                SocketColumn::SendQ,
                SocketColumn::Timer,
            ]
        );
    }
}
