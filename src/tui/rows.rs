//! The table's rows: the socket order (indices, so a million sockets are never copied or
//! turned into widgets) and the rows of the group views, built from the summary (the
//! Churn view's in `rows/churn.rs`).

mod churn;

pub use churn::{ChurnKey, lifetime_text, rate_text};

use std::cmp::{Ordering, Reverse};
use std::net::{IpAddr, SocketAddr};

use crate::aggregate::{Aggregator, KEY_COUNTERS, ListenerGroup, ProcessGroup, Summary};
use crate::filter::Filter;
use crate::format::{age, grouped, owner_list, owners_text, timer_text};
use crate::model::{Container, Snapshot, Socket, StateCounts, TcpState, endpoint};

use super::columns::{
    CounterColumn, ListenerColumn, NamespaceColumn, PeerColumn, ProcessColumn, SocketColumn,
    ViewColumn,
};
use super::namespaces::NamespaceRow;
use super::on_screen::OnScreen;
use super::view::{ChurnGrouping, Sort, View};

/// What a group row stands for, for the detail pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A process (`None`: sockets that belong to no process).
    Process(Option<u32>),
    /// A remote host.
    Host(IpAddr),
    /// A listening address.
    Listener(SocketAddr),
    /// A kernel counter.
    Counter(String),
    /// A network namespace: its name and inode.
    Netns(String, u64),
    /// A group of the Churn view.
    Churn(ChurnKey),
}

/// A sort key of one cell.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum SortKey {
    Number(f64),
    Text(String),
    Addr(IpAddr, u16),
}

/// One row of a group view.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRow {
    /// The cells, one per column of the view.
    pub cells: Vec<String>,
    keys: Vec<SortKey>,
    /// What the row is about.
    pub target: Target,
}

impl SocketColumn {
    /// The cell of `socket` (only the rows on screen are made, at each frame).
    pub fn cell(self, aggregator: &Aggregator, snapshot: &Snapshot, socket: &Socket) -> String {
        match self {
            SocketColumn::State => socket.state.name().to_owned(),
            SocketColumn::Local => endpoint(&socket.local.get()),
            SocketColumn::Remote => endpoint(&socket.remote.get()),
            SocketColumn::RecvQ => grouped(u64::from(socket.recv_q)),
            SocketColumn::SendQ => snapshot
                .send_q(socket)
                .map_or_else(|| "-".to_owned(), |q| grouped(u64::from(q))),
            SocketColumn::Timer => {
                let mut timer = String::new();
                timer_text(&socket.timer, &mut timer);
                timer
            }
            SocketColumn::Age => age(aggregator.in_state_since(socket), snapshot.taken_at),
            // With `-A`, a socket in no container is told by its namespace.
            SocketColumn::Container => snapshot.container(socket).map_or_else(
                || {
                    snapshot
                        .namespaces
                        .of(socket.cookie)
                        .map_or_else(|| "-".to_owned(), |l| format!("netns {}", l.name))
                },
                Container::label,
            ),
            SocketColumn::Process => {
                let mut owners = String::new();
                owners_text(snapshot, socket, &mut owners);
                owners
            }
        }
    }
}

/// Indices of the sockets of `shown` that `filter` keeps, in `sort` order.
pub fn socket_order(
    shown: &OnScreen,
    filter: &Filter,
    sort: Sort,
    aggregator: &Aggregator,
) -> Vec<u32> {
    let snapshot = &shown.snapshot;
    let sockets = &snapshot.sockets;
    let column: SocketColumn = sort.by_column();
    if column == SocketColumn::State {
        // The report's order, from integer keys: a tenth of the cost of comparing addresses.
        let mut order = crate::filter::listing_order(snapshot, filter);
        if sort.reverse {
            order.reverse();
        }
        return order;
    }
    let mut order: Vec<u32> = (0..sockets.len() as u32)
        .filter(|&i| filter.is_empty() || filter.matches(snapshot, &sockets[i as usize]))
        .collect();
    let at = |i: &u32| &sockets[*i as usize];
    let by_state = |s: &Socket| (s.state.lifecycle_index(), s.local, s.remote);
    match column {
        // Handled above, from the report's integer keys.
        SocketColumn::State => {}
        SocketColumn::Local => order.sort_unstable_by_key(|i| (at(i).local, at(i).remote)),
        SocketColumn::Remote => order.sort_unstable_by_key(|i| (at(i).remote, at(i).local)),
        SocketColumn::RecvQ => {
            order.sort_unstable_by_key(|i| (Reverse(at(i).recv_q), by_state(at(i))));
        }
        SocketColumn::SendQ => {
            order.sort_unstable_by_key(|i| (Reverse(at(i).send_q), by_state(at(i))));
        }
        SocketColumn::Timer => order.sort_unstable_by_key(|i| {
            let t = at(i).timer;
            (t.kind.name(), t.expires_ms, by_state(at(i)))
        }),
        SocketColumn::Age => order.sort_by_cached_key(|i| {
            let since = aggregator.in_state_since(at(i));
            (since.is_none(), since, by_state(at(i)))
        }),
        SocketColumn::Container => {
            // One cookie lookup per socket, not one per comparison.
            let rank: Vec<u32> = sockets.iter().map(container_rank(snapshot)).collect();
            order.sort_unstable_by_key(|i| (rank[*i as usize], by_state(at(i))));
        }
        SocketColumn::Process => {
            let rank = process_rank(snapshot);
            order.sort_unstable_by_key(|i| {
                let s = at(i);
                let first = snapshot
                    .owner_indices(s)
                    .first()
                    .map_or(u32::MAX, |&p| rank[p as usize]);
                (first, by_state(s))
            });
        }
    }
    if sort.reverse {
        order.reverse();
    }
    order
}

/// Each process's position when processes are sorted by name, then pid.
fn process_rank(snapshot: &Snapshot) -> Vec<u32> {
    let mut by_name: Vec<usize> = (0..snapshot.processes.len()).collect();
    by_name.sort_by(|&a, &b| {
        let (a, b) = (&snapshot.processes[a], &snapshot.processes[b]);
        a.comm.cmp(&b.comm).then(a.pid.cmp(&b.pid))
    });
    let mut rank = vec![0; snapshot.processes.len()];
    for (position, index) in by_name.into_iter().enumerate() {
        rank[index] = position as u32;
    }
    rank
}

/// Each socket's position when sockets are sorted by their container's label (then id),
/// those in no container last.
fn container_rank(snapshot: &Snapshot) -> impl Fn(&Socket) -> u32 + '_ {
    let known = snapshot.cgroups.known();
    let mut by_label: Vec<(String, &str, usize)> = known
        .iter()
        .enumerate()
        .filter_map(|(at, c)| {
            let container = c.container.as_deref()?;
            Some((container.label(), container.id.as_str(), at))
        })
        .collect();
    by_label.sort_unstable();
    let mut rank = vec![u32::MAX; known.len()];
    for (position, (_, _, at)) in by_label.into_iter().enumerate() {
        rank[at] = position as u32;
    }
    move |socket| {
        snapshot
            .cgroups
            .id_of(socket)
            .and_then(|id| known.binary_search_by_key(&id, |c| c.id).ok())
            .map_or(u32::MAX, |at| rank[at])
    }
}

/// The rows of a group view (not [`View::Sockets`]), sorted; the Churn view's grouped by
/// `churn`.
pub fn group_rows(shown: &OnScreen, view: View, sort: Sort, churn: ChurnGrouping) -> Vec<GroupRow> {
    let summary = shown.table_summary();
    let mut rows = match view {
        View::Sockets => Vec::new(),
        View::Processes => process_rows(summary),
        View::Peers => peer_rows(summary),
        View::Listeners => listener_rows(summary),
        View::Counters => counter_rows(&shown.summary),
        View::Namespaces => namespace_rows(shown),
        // Every close: the filter's aggregator is given none.
        View::Churn => churn::churn_rows(&shown.summary.churn, churn),
    };
    let numeric = view.columns().get(sort.column).is_some_and(|c| c.numeric());
    rows.sort_by(|a, b| {
        let natural = compare(&a.keys[sort.column], &b.keys[sort.column], numeric)
            .then_with(|| compare(&a.keys[0], &b.keys[0], false));
        sort.apply(natural)
    });
    rows
}

fn compare(a: &SortKey, b: &SortKey, numeric: bool) -> Ordering {
    let order = a.partial_cmp(b).unwrap_or(Ordering::Equal);
    if numeric { order.reverse() } else { order }
}

fn count(n: u64) -> (String, SortKey) {
    (grouped(n), SortKey::Number(n as f64))
}

/// A row of `C`'s cells, in table order.
fn row<C: ViewColumn>(cell: impl Fn(C) -> (String, SortKey), target: Target) -> GroupRow {
    let (cells, keys) = C::ALL.iter().map(|&c| cell(c)).unzip();
    GroupRow {
        cells,
        keys,
        target,
    }
}

impl ProcessColumn {
    /// The cell of a process (`None`: the sockets of no process) holding `counts`.
    fn cell(self, owner: Option<&ProcessGroup>, counts: &StateCounts) -> (String, SortKey) {
        use TcpState::{CloseWait, Established, FinWait1, FinWait2, Listen, SynSent};
        let fin_wait = counts.get(FinWait1) + counts.get(FinWait2);
        match self {
            ProcessColumn::Pid => owner.map_or(("-".to_owned(), SortKey::Number(-1.0)), |p| {
                (p.pid.to_string(), SortKey::Number(f64::from(p.pid)))
            }),
            ProcessColumn::Process => owner.map_or(
                ("(no process)".to_owned(), SortKey::Text("~".to_owned())),
                |p| (p.comm.clone(), SortKey::Text(p.comm.clone())),
            ),
            ProcessColumn::Total => count(counts.total()),
            ProcessColumn::Descriptors => descriptors(owner),
            ProcessColumn::Listen => count(counts.get(Listen)),
            ProcessColumn::Established => count(counts.get(Established)),
            ProcessColumn::SynSent => count(counts.get(SynSent)),
            ProcessColumn::CloseWait => count(counts.get(CloseWait)),
            ProcessColumn::FinWait => count(fin_wait),
            ProcessColumn::Container => match owner.and_then(|p| p.container.as_deref()) {
                Some(c) => {
                    let label = c.label();
                    (label.clone(), SortKey::Text(label))
                }
                // After every container, A–Z.
                None => ("-".to_owned(), SortKey::Text("~".to_owned())),
            },
            ProcessColumn::Other => {
                let named = [Listen, Established, SynSent, CloseWait]
                    .iter()
                    .map(|s| counts.get(*s))
                    .sum::<u64>()
                    + fin_wait;
                count(counts.total() - named)
            }
        }
    }
}

/// `170/200` (`170/-` without a known limit, `-` when nothing is known), sorted by how full
/// the table is: a process near its limit first, those with an unknown limit last.
fn descriptors(owner: Option<&ProcessGroup>) -> (String, SortKey) {
    let (open, limit) = owner.map_or((None, None), |p| (p.descriptors, p.fd_limit));
    let limit_text = limit.map_or_else(|| "-".to_owned(), grouped);
    match (open, limit) {
        (Some(open), Some(limit)) if limit > 0 => (
            format!("{}/{limit_text}", grouped(open)),
            SortKey::Number(open as f64 / limit as f64),
        ),
        (Some(open), _) => (
            format!("{}/{limit_text}", grouped(open)),
            SortKey::Number(-1.0),
        ),
        (None, _) => ("-".to_owned(), SortKey::Number(-2.0)),
    }
}

fn process_rows(summary: &Summary) -> Vec<GroupRow> {
    let mut rows: Vec<GroupRow> = summary
        .by_process
        .iter()
        .map(|p| {
            row(
                |c: ProcessColumn| c.cell(Some(p), &p.counts),
                Target::Process(Some(p.pid)),
            )
        })
        .collect();
    if summary.unowned.total() > 0 {
        rows.push(row(
            |c: ProcessColumn| c.cell(None, &summary.unowned),
            Target::Process(None),
        ));
    }
    rows
}

impl PeerColumn {
    /// The cell of a host with `count` of the `total` grouped sockets.
    fn cell(self, host: IpAddr, count: u64, total: u64) -> (String, SortKey) {
        match self {
            PeerColumn::Host => (host.to_string(), SortKey::Addr(host, 0)),
            PeerColumn::Sockets => self::count(count),
            PeerColumn::Share => {
                let share = if total == 0 {
                    0.0
                } else {
                    count as f64 * 100.0 / total as f64
                };
                (format!("{share:.1}%"), SortKey::Number(share))
            }
        }
    }
}

fn peer_rows(summary: &Summary) -> Vec<GroupRow> {
    let hosts = &summary.by_remote_host;
    hosts
        .entries
        .iter()
        .map(|g| {
            row(
                |c: PeerColumn| c.cell(g.key, g.count, hosts.total),
                Target::Host(g.key),
            )
        })
        .collect()
}

impl ListenerColumn {
    /// The cell of one listener.
    fn cell(self, l: &ListenerGroup) -> (String, SortKey) {
        match self {
            ListenerColumn::Listener => (
                endpoint(&l.local),
                SortKey::Addr(l.local.ip(), l.local.port()),
            ),
            ListenerColumn::AcceptQueue => count(l.accept_queue),
            ListenerColumn::Backlog => l
                .backlog
                .map_or(("-".to_owned(), SortKey::Number(-1.0)), count),
            ListenerColumn::Fill => {
                let fill = l
                    .backlog
                    .filter(|b| *b > 0)
                    .map(|b| l.accept_queue as f64 * 100.0 / b as f64);
                (
                    fill.map_or("-".to_owned(), |f| format!("{f:.0}%")),
                    SortKey::Number(fill.unwrap_or(-1.0)),
                )
            }
            ListenerColumn::SynRecv => count(l.syn_recv()),
            ListenerColumn::Connections => count(l.connections()),
            ListenerColumn::Owner => {
                let owners = owner_list(&l.owners);
                (owners.clone(), SortKey::Text(owners))
            }
        }
    }
}

fn listener_rows(summary: &Summary) -> Vec<GroupRow> {
    summary
        .by_listener
        .iter()
        .map(|l| row(|c: ListenerColumn| c.cell(l), Target::Listener(l.local)))
        .collect()
}

fn counter_rows(summary: &Summary) -> Vec<GroupRow> {
    let mut rows: Vec<GroupRow> = Vec::new();
    for name in KEY_COUNTERS {
        let rate = summary.rate(name);
        rows.push(counter_row(
            name,
            rate.map_or(0, |r| r.delta),
            rate.and_then(|r| r.per_second),
        ));
    }
    for rate in &summary.rates {
        if rate.delta > 0 && !KEY_COUNTERS.contains(&rate.name.as_str()) {
            rows.push(counter_row(&rate.name, rate.delta, rate.per_second));
        }
    }
    rows
}

impl CounterColumn {
    /// The cell of a counter that rose `delta`, `per_second`. The history's cell is empty
    /// here: the table draws its sparkline at the width it has.
    fn cell(self, name: &str, delta: u64, per_second: Option<f64>) -> (String, SortKey) {
        match self {
            CounterColumn::Counter => (name.to_owned(), SortKey::Text(name.to_owned())),
            CounterColumn::SinceLastPoll => count(delta),
            CounterColumn::PerSecond => (
                per_second.map_or("-".to_owned(), |r| format!("{r:.1}")),
                SortKey::Number(per_second.unwrap_or(-1.0)),
            ),
            CounterColumn::History => (String::new(), SortKey::Number(0.0)),
        }
    }
}

fn counter_row(name: &str, delta: u64, per_second: Option<f64>) -> GroupRow {
    row(
        |c: CounterColumn| c.cell(name, delta, per_second),
        Target::Counter(name.to_owned()),
    )
}

impl NamespaceColumn {
    /// The cell of one namespace's row, its data's age at `now`.
    fn cell(self, row: &NamespaceRow, now: Option<std::time::SystemTime>) -> (String, SortKey) {
        use TcpState::{CloseWait, Established, Listen, TimeWait};
        let counts = &row.counts;
        match self {
            NamespaceColumn::Netns => (
                row.label.name.clone(),
                SortKey::Text(row.label.name.clone()),
            ),
            NamespaceColumn::Container => match &row.label.container {
                Some(label) => (label.clone(), SortKey::Text(label.clone())),
                None => ("-".to_owned(), SortKey::Text("~".to_owned())),
            },
            NamespaceColumn::Total => count(counts.total()),
            NamespaceColumn::Established => count(counts.get(Established)),
            NamespaceColumn::Listen => count(counts.get(Listen)),
            NamespaceColumn::CloseWait => count(counts.get(CloseWait)),
            NamespaceColumn::TimeWait => count(counts.get(TimeWait)),
            NamespaceColumn::Other => {
                let named: u64 = [Established, Listen, CloseWait, TimeWait]
                    .iter()
                    .map(|s| counts.get(*s))
                    .sum();
                count(counts.total() - named)
            }
            NamespaceColumn::Anomalies => count(row.anomalies as u64),
            NamespaceColumn::Age => {
                let seconds = match (row.dumped_at, now) {
                    (Some(at), Some(now)) => {
                        now.duration_since(at).unwrap_or_default().as_secs_f64()
                    }
                    _ => f64::MAX,
                };
                let text = if row.error.is_some() {
                    format!("{} (failing)", age(row.dumped_at, now))
                } else {
                    age(row.dumped_at, now)
                };
                // Fresh data first: the natural order of a number is largest first.
                (text, SortKey::Number(-seconds))
            }
        }
    }
}

/// The rows of the namespaces view: every namespace with `-A`, else the one watched.
fn namespace_rows(shown: &OnScreen) -> Vec<GroupRow> {
    let now = shown.polled_at();
    let one;
    let rows: &[NamespaceRow] = match &shown.namespaces {
        Some(namespaces) => &namespaces.rows,
        None => {
            let snapshot = &shown.snapshot;
            one = [NamespaceRow {
                label: crate::model::NetnsLabel {
                    name: snapshot.netns.clone(),
                    inode: snapshot.netns_inode.unwrap_or_default(),
                    container: snapshot.netns_container.clone(),
                },
                counts: shown.summary.counts,
                anomalies: shown.summary.anomalies.len(),
                dumped_at: snapshot.taken_at,
                error: None,
            }];
            &one
        }
    };
    rows.iter()
        .map(|r| {
            row(
                |c: NamespaceColumn| c.cell(r, now),
                Target::Netns(r.label.name.clone(), r.label.inode),
            )
        })
        .collect()
}
