//! What the rules report: [`Anomaly`], its kind (which describes itself: [`KindInfo`]),
//! severity and subject. The [`Tracker`] keeps an anomaly raised across polls.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod tracker;

pub(crate) use tracker::Tracker;

use super::churn::Maker;
use crate::model::{Container, TcpState, endpoint};

/// Which rule raised an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, strum::VariantArray)]
pub enum AnomalyKind {
    /// A process (or an unknown owner on a local port) holds many CLOSE_WAIT sockets.
    CloseWaitBacklog,
    /// A listener has many half-open (SYN_RECV) connections.
    SynRecvFlood,
    /// The kernel answered SYNs with cookies or dropped them: a SYN queue overflowed.
    SynCookies,
    /// Many TIME_WAIT sockets toward one destination, or in the whole namespace.
    TimeWaitExcess,
    /// Many short-lived connections a second toward one destination, or opened by one
    /// process: connections are not reused.
    ConnectionChurn,
    /// A listener's accept queue is (nearly) full, or the kernel dropped connections for it.
    AcceptQueueOverflow,
    /// Many FIN_WAIT2 sockets, in total or held by one process.
    FinWait2Pileup,
    /// Orphaned sockets approach `tcp_max_orphans`.
    OrphanSockets,
    /// A process's open descriptors approach its soft open-file limit (RLIMIT_NOFILE).
    FdExhaustion,
}

impl AnomalyKind {
    /// Every kind, in report order: the order of declaration, derived, so a new kind is
    /// listed by being declared. Its rule goes in the list of rules (`rules::for_rule`) and
    /// its text in [`AnomalyKind::about`]; the compiler asks for both.
    pub const ALL: &'static [AnomalyKind] = <AnomalyKind as strum::VariantArray>::VARIANTS;

    /// Everything the outputs say about this kind.
    #[allow(clippy::too_many_lines, reason = "a table: one arm of data per kind")]
    pub const fn about(self) -> &'static KindInfo {
        match self {
            AnomalyKind::CloseWaitBacklog => &KindInfo {
                name: "close_wait_backlog",
                label: "CLOSE_WAIT",
                title: "CLOSE_WAIT backlog",
                unit: "CLOSE_WAIT sockets",
                state: Some(TcpState::CloseWait),
                per_second: false,
                hint: "the peers closed these connections but the process never called close(): \
                 usually a connection leak or a stuck worker; check how it handles a peer's EOF and its \
                 connections to the peers listed",
                namespace_hint: None,
            },
            AnomalyKind::SynRecvFlood => &KindInfo {
                name: "syn_recv_flood",
                label: "SYN_RECV",
                title: "SYN_RECV flood",
                unit: "SYN_RECV sockets",
                state: Some(TcpState::SynRecv),
                per_second: false,
                hint: "many handshakes are half-open: a SYN flood (many distinct sources \
                 suggests spoofed addresses) or clients that cannot complete the handshake; check \
                 net.ipv4.tcp_syncookies, the listen backlog and tcp_max_syn_backlog, and the sources",
                namespace_hint: None,
            },
            AnomalyKind::SynCookies => &KindInfo {
                name: "syn_cookies",
                label: "SYNCOOKIES",
                title: "SYN cookies",
                unit: "SYNs answered with cookies or dropped since the last poll",
                state: Some(TcpState::SynRecv),
                per_second: false,
                hint: "a SYN queue overflowed: the kernel answered with SYN cookies or \
                 dropped SYNs (TCPReqQFullDrop); a SYN flood or a listener too slow for its connection \
                 rate; check SYN_RECV per listener, the listen backlog and net.core.somaxconn",
                namespace_hint: None,
            },
            AnomalyKind::TimeWaitExcess => &KindInfo {
                name: "time_wait_excess",
                label: "TIME_WAIT",
                title: "TIME_WAIT excess",
                unit: "TIME_WAIT sockets",
                state: Some(TcpState::TimeWait),
                per_second: false,
                hint: "many short-lived connections to one destination, each \
                 TIME_WAIT holding a local port for a fixed 60 s, so ports can run out; reuse \
                 connections (keepalive, connection pools), enable net.ipv4.tcp_tw_reuse for outgoing \
                 connections, widen net.ipv4.ip_local_port_range, or spread over more destination \
                 addresses or ports",
                namespace_hint: Some(
                    "TIME_WAIT sockets near net.ipv4.tcp_max_tw_buckets (past it \
                 the kernel destroys them early: TCPTimeWaitOverflow); TIME_WAIT lasts a fixed 60 s, so \
                 cut the connection churn: keepalive and connection pools, net.ipv4.tcp_tw_reuse for \
                 outgoing connections",
                ),
            },
            AnomalyKind::ConnectionChurn => &KindInfo {
                name: "connection_churn",
                label: "CHURN",
                title: "connection churn",
                unit: "short-lived connections closed per second",
                state: None,
                per_second: true,
                hint: "connections are opened and closed again within seconds instead of \
                 reused: keep-alive or a connection pool is missing; each one leaves a TIME_WAIT \
                 socket holding a local port for 60 s and costs a handshake; makers are named where a \
                 poll saw their connections (most close between polls, unattributed)",
                namespace_hint: None,
            },
            AnomalyKind::AcceptQueueOverflow => &KindInfo {
                name: "accept_queue_overflow",
                label: "ACCEPT_Q",
                title: "accept queue overflow",
                unit: "connections waiting for accept()",
                state: Some(TcpState::Listen),
                per_second: false,
                hint: "connections wait for accept() longer than they arrive: the \
                 application is overloaded or blocked; check its workers and latency, and the listen \
                 backlog (capped by net.core.somaxconn)",
                namespace_hint: Some(
                    "the kernel dropped incoming connections because an accept queue \
                 was full (ListenOverflows / ListenDrops): clients see timeouts and retries; check which \
                 listener's queue is full, the application's accept rate and the listen backlog",
                ),
            },
            AnomalyKind::FinWait2Pileup => &KindInfo {
                name: "fin_wait2_pileup",
                label: "FIN_WAIT2",
                title: "FIN_WAIT2 pile-up",
                unit: "FIN_WAIT2 sockets",
                state: Some(TcpState::FinWait2),
                per_second: false,
                hint: "this side closed and the peers have not closed theirs: peers that keep \
                 connections half-open; an orphaned FIN_WAIT2 expires after net.ipv4.tcp_fin_timeout, \
                 one still held by a process (shutdown() without close()) does not; check the peers",
                namespace_hint: None,
            },
            AnomalyKind::OrphanSockets => &KindInfo {
                name: "orphan_sockets",
                label: "ORPHANS",
                title: "orphans",
                unit: "orphaned sockets",
                state: None,
                per_second: false,
                hint: "many sockets closed by their applications are still finishing in the \
                 kernel; near net.ipv4.tcp_max_orphans it resets connections ('too many orphaned \
                 sockets' in the kernel log); check for peers that stop reading and for TCP memory",
                namespace_hint: None,
            },
            AnomalyKind::FdExhaustion => &KindInfo {
                name: "fd_exhaustion",
                label: "FD_LIMIT",
                title: "open-file limit",
                unit: "open descriptors",
                state: None,
                per_second: false,
                hint: "the process nears its open-file limit (soft RLIMIT_NOFILE): at the \
                 limit accept() and connect() fail with 'Too many open files'; when most of its \
                 descriptors are CLOSE_WAIT sockets it leaks connections (it never closes after the \
                 peer's EOF), otherwise raise its limit (LimitNOFILE=, ulimit -n) or find what it holds \
                 open (ls -l /proc/PID/fd)",
                namespace_hint: None,
            },
        }
    }

    /// The serialized `snake_case` name (`close_wait_backlog`).
    pub const fn name(self) -> &'static str {
        self.about().name
    }

    /// The hint for an anomaly of this kind about `subject`.
    pub fn hint(self, subject: &Subject) -> &'static str {
        let about = self.about();
        match (subject, about.namespace_hint) {
            (Subject::Namespace, Some(hint)) => hint,
            _ => about.hint,
        }
    }
}

/// What a kind of anomaly says about itself: its names, the unit of its count, the state it
/// is about and what to check. The dashboard and the reports show only this, so adding a kind
/// changes nothing in them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindInfo {
    /// The serialized `snake_case` name (`close_wait_backlog`): JSON, check output, config.
    pub name: &'static str,
    /// The dashboard's short label, at most ten characters (`CLOSE_WAIT`, `ACCEPT_Q`).
    pub label: &'static str,
    /// The plain name for lists of rules (`CLOSE_WAIT backlog`).
    pub title: &'static str,
    /// What the count counts, after the number in a report line (`CLOSE_WAIT sockets`).
    pub unit: &'static str,
    /// The TCP state it is about, if any: the dashboard colours that state by severity.
    pub state: Option<TcpState>,
    /// The count is a rate per second (`connection_churn`), not a number of things: the
    /// check's summary writes it and its level `80/s>=50/s`.
    pub per_second: bool,
    /// One line: what it usually means and what to check.
    pub hint: &'static str,
    /// The hint when the subject is the whole namespace, where that differs.
    pub namespace_hint: Option<&'static str>,
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// How bad an anomaly is. `Critical` sorts above `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// `"warning"` or `"critical"`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What an anomaly is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// One process.
    Process {
        /// Process id.
        pid: u32,
        /// Short name (`/proc/PID/comm`).
        comm: String,
    },
    /// A listening address (every SO_REUSEPORT socket on it together).
    Listener(SocketAddr),
    /// A remote address and port.
    Destination(SocketAddr),
    /// Sockets with no known owner, grouped by their local port.
    LocalPort(u16),
    /// The whole network namespace (kernel counters and limits).
    Namespace,
}

impl Subject {
    /// A short label: `nginx[1234]`, `listener 0.0.0.0:80`, `destination 192.0.2.7:443`,
    /// `local port 8080`, `namespace`.
    pub fn label(&self) -> String {
        match self {
            Subject::Process { pid, comm } => crate::model::process_label(comm, *pid),
            Subject::Listener(addr) => format!("listener {}", endpoint(addr)),
            Subject::Destination(addr) => format!("destination {}", endpoint(addr)),
            Subject::LocalPort(port) => format!("local port {port}"),
            Subject::Namespace => "namespace".to_owned(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.label())
    }
}

/// A remote endpoint and how many of the anomaly's sockets point at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCount {
    /// Remote address and port.
    pub peer: SocketAddr,
    /// Sockets toward it.
    pub count: u64,
}

/// A kernel counter that rose since the previous poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterRise {
    /// The kernel's name (`ListenOverflows`).
    pub counter: &'static str,
    /// How much it rose.
    pub rise: u64,
}

/// The facts behind an anomaly, beyond its count; each field is filled only by the rules it
/// makes sense for.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Evidence {
    /// Top remote endpoints, most sockets first (`close_wait_backlog`).
    pub peers: Vec<PeerCount>,
    /// How long the oldest socket of the subject has been in the state (`close_wait_backlog`,
    /// `fin_wait2_pileup`); a lower bound, as identity tracking starts at the first poll, and
    /// `None` when no socket of it was seen before this poll (one look tells no age).
    pub oldest_age: Option<Duration>,
    /// Distinct remote addresses (`syn_recv_flood`: a spoofed flood has many).
    pub distinct_sources: Option<u64>,
    /// Kernel counters that rose since the last poll (counter-based rules).
    pub counter_rises: Vec<CounterRise>,
    /// The time over which `counter_rises` were measured: between two polls, or over a
    /// one-shot poll's dump or counter window; `None` when either reading has no time.
    pub counter_interval: Option<Duration>,
    /// The kernel limit the count was compared with: the SYN backlog, the listen backlog,
    /// the ephemeral port range size, `tcp_max_tw_buckets`, `tcp_max_orphans`, or the
    /// process's soft open-file limit (`fd_exhaustion`).
    pub limit: Option<u64>,
    /// TCP sockets of the namespace the process holds (`fd_exhaustion`: how many of its
    /// descriptors are TCP sockets).
    pub tcp_sockets: Option<u64>,
    /// How many of those are CLOSE_WAIT (`fd_exhaustion`: a leak shows as most of them).
    pub close_wait: Option<u64>,
    /// The closes behind a churn rate (`connection_churn`).
    pub churn: Option<ChurnEvidence>,
    /// Who made the connections, as the destroy events were attributed, most closes first
    /// (`connection_churn` toward a destination; `time_wait_excess`: who made the
    /// connections that closed into TIME_WAIT over the last minute).
    pub makers: Vec<MakerCount>,
}

/// The closes behind a churn rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChurnEvidence {
    /// Connections closed over the span.
    pub closes: u64,
    /// Of those, short-lived (see `[connection_churn] short_lived`).
    pub short_lived: u64,
    /// Of those, seen by no poll (born and closed between two polls).
    pub unseen: u64,
    /// The span the closes were counted over.
    pub span: Duration,
    /// The median lifetime of those a poll saw born (to the power of two of milliseconds
    /// it falls under); `None` when no poll saw one born.
    pub median_lifetime: Option<Duration>,
    /// Bytes sent and received per connection.
    pub bytes_per_connection: Option<u64>,
}

impl ChurnEvidence {
    /// Closes per second over the span.
    pub fn per_second(&self) -> f64 {
        if self.span.is_zero() {
            0.0
        } else {
            self.closes as f64 / self.span.as_secs_f64()
        }
    }
}

/// A maker of closed connections and how many it made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MakerCount {
    /// The process, as attributed (`None`: the connections no poll or listener named).
    pub maker: Option<Maker>,
    /// Connections it closed.
    pub closes: u64,
}

/// One raised anomaly, as every output renders it.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Which rule.
    pub kind: AnomalyKind,
    /// Warning or critical.
    pub severity: Severity,
    /// What it is about.
    pub subject: Subject,
    /// The measured value: sockets, queue length, or a counter's rise since the last poll.
    pub count: u64,
    /// The warning level `count` was compared with (raised at `count >= threshold`).
    pub threshold: u64,
    /// The critical level.
    pub critical_threshold: u64,
    /// When it was first raised; kept across polls while it stays raised.
    pub first_seen: SystemTime,
    /// Change of `count` per minute over the last minute; `None` until two polls saw it.
    pub trend: Option<f64>,
    /// One line: what it usually means and what to check.
    pub hint: &'static str,
    /// The facts behind it.
    pub evidence: Evidence,
    /// The container of a process subject, when every socket of it that has one is in
    /// the same one.
    pub container: Option<Arc<Container>>,
    /// The namespace it was raised in, when the dashboard watches many (`-A`); `None`
    /// where one namespace is judged at a time.
    pub netns: Option<String>,
}

impl Anomaly {
    /// The subject's label, naming its container when known:
    /// `leaky-app[4242] in docker:3f2a1c9e0b7d (web-1)`; else its namespace, when set:
    /// `leaky-app[4242] in netns dsh-3`.
    pub fn subject_label(&self) -> String {
        let label = self.subject.label();
        match (&self.container, &self.netns) {
            (Some(c), _) => format!("{label} in {}", c.label()),
            (None, Some(netns)) => format!("{label} in netns {netns}"),
            (None, None) => label,
        }
    }
}

/// What a rule measured for one subject in one poll. Rules report every subject at or above
/// its clear mark; the tracker decides whether it is raised.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Observation {
    pub kind: AnomalyKind,
    pub subject: Subject,
    pub count: u64,
    pub warning: u64,
    pub critical: u64,
    /// Raised at least at this severity whatever the count (a kernel counter that rose).
    pub forced: Option<Severity>,
    pub evidence: Evidence,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_describes_itself() {
        for kind in AnomalyKind::ALL {
            let about = kind.about();
            for (what, text) in [
                ("name", about.name),
                ("label", about.label),
                ("title", about.title),
                ("unit", about.unit),
                ("hint", about.hint),
            ] {
                assert!(!text.trim().is_empty(), "{kind:?} has an empty {what}");
            }
            assert!(
                about.label.len() <= 10,
                "{kind:?}: label {:?} is too wide",
                about.label
            );
            assert!(!about.namespace_hint.is_some_and(str::is_empty), "{kind:?}");
        }
    }

    #[test]
    fn all_lists_the_kinds_once_each_in_report_order() {
        // The tracker sorts anomalies by kind: ALL must follow the declaration order.
        assert!(AnomalyKind::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_kind_has_its_own_name_and_label() {
        let mut names: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.name()).collect();
        let mut labels: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.about().label).collect();
        names.sort_unstable();
        names.dedup();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(names.len(), AnomalyKind::ALL.len());
        assert_eq!(labels.len(), AnomalyKind::ALL.len());
    }

    #[test]
    fn the_namespace_wide_hint_is_used_for_the_namespace_only() {
        let kind = AnomalyKind::TimeWaitExcess;
        let destination = Subject::Destination("192.0.2.7:443".parse().unwrap());
        assert_eq!(kind.hint(&destination), kind.about().hint);
        assert_eq!(
            kind.hint(&Subject::Namespace),
            kind.about().namespace_hint.unwrap()
        );
        let kind = AnomalyKind::OrphanSockets;
        assert_eq!(kind.hint(&Subject::Namespace), kind.about().hint);
    }

    #[test]
    fn kinds_severities_and_subjects_print_as_their_names_and_honour_padding() {
        assert_eq!(
            format!("[{:<22}]", AnomalyKind::CloseWaitBacklog),
            "[close_wait_backlog    ]"
        );
        assert_eq!(format!("[{:>9}]", Severity::Warning), "[  warning]");
        assert_eq!(format!("{}", Severity::Critical), "critical");
        assert_eq!(format!("[{:<10}]", Subject::Namespace), "[namespace ]");
    }
}
