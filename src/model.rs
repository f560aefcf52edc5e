//! The domain types every layer shares: TCP states, one socket record, one snapshot.
//!
//! A [`Socket`] is a compact, fixed-size record (no heap allocation), so a million of
//! them are one `Vec` and one allocation. Process owners live in the [`Snapshot`]'s
//! process table and are referenced by index range.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

mod addr;
mod closed;
mod container;
#[cfg(test)]
pub(crate) mod fixture;
mod netns;
mod tcp_info;

pub use addr::{Addr, Endpoint, decimal_len, endpoint, push_decimal};
pub use closed::{ClosedSocket, OwnerFrom};
pub use container::{Cgroup, Cgroups, CgroupsParts, Container, Pod, Runtime};
pub use netns::{Namespaces, NetnsLabel};
pub use tcp_info::{TcpInfo, TcpInfos};

/// One process as every output and every anomaly names it: `nginx[1234]`, its name as read
/// (outputs escape it where they write it, with `format::printable`).
pub fn process_label(comm: &str, pid: u32) -> String {
    format!("{comm}[{pid}]")
}

/// A TCP state as the kernel numbers it (`include/net/tcp_states.h`).
///
/// Request sockets are reported as [`TcpState::SynRecv`] and bound-but-inactive
/// sockets as [`TcpState::Close`], as sock_diag itself reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// An open connection; data flows both ways.
    Established = 1,
    /// connect() sent a SYN, no answer yet.
    SynSent = 2,
    /// A SYN was received and answered; the final ACK has not arrived.
    SynRecv = 3,
    /// This side closed first and sent a FIN that is not yet acknowledged.
    FinWait1 = 4,
    /// Our FIN is acknowledged; waiting for the peer to close.
    FinWait2 = 5,
    /// Both sides closed; the socket lingers 60 s to absorb stray segments.
    TimeWait = 6,
    /// No connection (also: bound but never listened or connected).
    Close = 7,
    /// The peer closed; the local application has not called close().
    CloseWait = 8,
    /// The peer closed, then we closed; our FIN is not yet acknowledged.
    LastAck = 9,
    /// Waiting for connections.
    Listen = 10,
    /// Both sides closed at the same time; FINs crossed.
    Closing = 11,
}

impl TcpState {
    /// Every state in lifecycle order: opening, open, active close, passive close, closed.
    pub const LIFECYCLE: [TcpState; 11] = [
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::Closing,
        TcpState::TimeWait,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Close,
    ];

    /// The state for a kernel state number; `None` outside 1–11.
    pub fn from_kernel(value: u8) -> Option<TcpState> {
        Some(match value {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 | 12 => TcpState::SynRecv,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 | 13 => TcpState::Close,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            _ => return None,
        })
    }

    /// The kernel's state number.
    pub fn kernel_number(self) -> u8 {
        self as u8
    }

    /// The name as netstat prints it (`CLOSE_WAIT`); also the JSON spelling.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// Position in [`TcpState::LIFECYCLE`].
    pub fn lifecycle_index(self) -> usize {
        match self {
            TcpState::Listen => 0,
            TcpState::SynSent => 1,
            TcpState::SynRecv => 2,
            TcpState::Established => 3,
            TcpState::FinWait1 => 4,
            TcpState::FinWait2 => 5,
            TcpState::Closing => 6,
            TcpState::TimeWait => 7,
            TcpState::CloseWait => 8,
            TcpState::LastAck => 9,
            TcpState::Close => 10,
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A set of TCP states, as the kernel's `idiag_states` bit mask (`1 << state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct StateSet(u32);

impl StateSet {
    /// Every one of the 11 states.
    pub const ALL: StateSet = StateSet(0xffe);
    /// No state.
    pub const EMPTY: StateSet = StateSet(0);

    /// A set holding the given states.
    pub fn of(states: &[TcpState]) -> StateSet {
        states.iter().fold(StateSet::EMPTY, |set, s| set.with(*s))
    }

    /// This set plus `state`.
    #[must_use]
    pub fn with(self, state: TcpState) -> StateSet {
        StateSet(self.0 | (1 << state.kernel_number()))
    }

    /// This set without `state`.
    #[must_use]
    pub fn without(self, state: TcpState) -> StateSet {
        StateSet(self.0 & !(1 << state.kernel_number()))
    }

    /// The union of two sets.
    #[must_use]
    pub fn union(self, other: StateSet) -> StateSet {
        StateSet(self.0 | other.0)
    }

    /// Whether `state` is in the set.
    pub fn contains(self, state: TcpState) -> bool {
        self.0 & (1 << state.kernel_number()) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kernel bit mask.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The states in the set, in lifecycle order.
    pub fn iter(self) -> impl Iterator<Item = TcpState> {
        TcpState::LIFECYCLE
            .into_iter()
            .filter(move |s| self.contains(*s))
    }
}

/// Address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// AF_INET.
    Inet,
    /// AF_INET6 (IPv4-mapped addresses included).
    Inet6,
}

impl Family {
    /// `"inet"` or `"inet6"`, as ss prints it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }
}

/// Which timer is pending on a socket (`idiag_timer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TimerKind {
    /// No timer.
    #[default]
    Off,
    /// Retransmission (or SYN-ACK retransmission for a request socket).
    Retransmit,
    /// Keepalive.
    Keepalive,
    /// TIME_WAIT expiry.
    TimeWait,
    /// Zero-window probe.
    Probe,
}

impl TimerKind {
    /// The kind for a kernel `idiag_timer` value.
    pub fn from_kernel(value: u8) -> TimerKind {
        match value {
            1 => TimerKind::Retransmit,
            2 => TimerKind::Keepalive,
            3 => TimerKind::TimeWait,
            4 => TimerKind::Probe,
            _ => TimerKind::Off,
        }
    }

    /// The name netstat -o and ss print: `on`, `keepalive`, `timewait`, `probe`, `off`.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Off => "off",
            TimerKind::Retransmit => "on",
            TimerKind::Keepalive => "keepalive",
            TimerKind::TimeWait => "timewait",
            TimerKind::Probe => "probe",
        }
    }
}

/// A pending timer: what it is, when it fires, how often it already fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timer {
    /// Which timer.
    pub kind: TimerKind,
    /// Milliseconds until it fires.
    pub expires_ms: u32,
    /// Retransmissions (or keepalive probes) so far.
    pub retransmits: u8,
}

/// Where a socket's owning processes sit in [`Snapshot::owner_index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Owners {
    /// First index into `owner_index`.
    pub start: u32,
    /// How many owners (0: none known).
    pub len: u32,
}

/// One TCP socket as one poll saw it. Fixed size, no heap data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Socket {
    /// Address family.
    pub family: Family,
    /// Connection state.
    pub state: TcpState,
    /// Local address and port.
    pub local: Addr,
    /// Remote address and port (unspecified for LISTEN and CLOSE).
    pub remote: Addr,
    /// Bytes received and not read by the application; for LISTEN, the accept-queue length.
    pub recv_q: u32,
    /// Bytes sent and not acknowledged; for LISTEN, the backlog.
    pub send_q: u32,
    /// The pending timer.
    pub timer: Timer,
    /// Owning user id (0 for TIME_WAIT and request sockets).
    pub uid: u32,
    /// Socket inode (0 for TIME_WAIT and request sockets: they belong to no process).
    pub inode: u32,
    /// The kernel's socket cookie: stable identity across polls.
    pub cookie: u64,
    /// The processes holding this socket.
    pub owners: Owners,
}

impl Socket {
    /// A socket with the given endpoints and state and every other field zero.
    pub fn new(state: TcpState, local: SocketAddr, remote: SocketAddr) -> Socket {
        Socket {
            family: if local.is_ipv4() {
                Family::Inet
            } else {
                Family::Inet6
            },
            state,
            local: Addr::new(local),
            remote: Addr::new(remote),
            recv_q: 0,
            send_q: 0,
            timer: Timer::default(),
            uid: 0,
            inode: 0,
            cookie: 0,
            owners: Owners::default(),
        }
    }
}

/// A process that holds at least one socket of the snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Process {
    /// Process id (in the pid namespace sockscope runs in).
    pub pid: u32,
    /// `/proc/PID/comm`: the short name (at most 15 bytes).
    pub comm: String,
    /// `/proc/PID/cmdline`, arguments joined by spaces (empty for kernel threads).
    pub cmdline: String,
    /// Descriptors it has open, of every kind, as this poll's walk counted them; `None`
    /// when unknown (its table was not read, or it has none listed).
    pub descriptors: Option<u64>,
    /// Its soft open-file limit (`RLIMIT_NOFILE`, "Max open files" in `/proc/PID/limits`);
    /// `None` when unreadable or unlimited. The collector re-reads it only now and then
    /// (every 60–120 polls, and at every poll near the limit), so a `prlimit` shows within
    /// a minute or two.
    pub fd_limit: Option<u64>,
}

/// How complete the process attribution of a snapshot is.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Attribution {
    /// Not attempted (`--no-processes`).
    #[default]
    Skipped,
    /// Every process's descriptor table was read.
    Complete,
    /// Some processes' descriptor tables could not be read (not root): their sockets show no owner.
    Partial {
        /// How many processes could not be read.
        unreadable: u32,
    },
}

/// Where a snapshot's sockets came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SourceKind {
    /// NETLINK_SOCK_DIAG dump.
    #[default]
    Netlink,
    /// `/proc/net/tcp` and `/proc/net/tcp6` (fallback: no cookies, no tcp_info, no bound-inactive sockets).
    ProcNet,
    /// Recorded or synthetic data (tests, replays).
    Synthetic,
}

/// Kernel TCP counters of one namespace: monotonic totals since boot (or namespace creation).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    /// `/proc/net/netstat` TcpExt: name → value, in file order.
    pub tcp_ext: Vec<(String, u64)>,
    /// `/proc/net/snmp` Tcp: name → value, in file order (`MaxConn` is -1 on Linux: kept as a signed value cast).
    pub tcp: Vec<(String, i64)>,
    /// `/proc/net/sockstat` TCP line: inuse, orphan, tw, alloc, mem.
    pub sockstat: Vec<(String, u64)>,
    /// When the files were read; `None`: when the snapshot holding them was taken (rates
    /// are measured between two readings' times).
    pub read_at: Option<SystemTime>,
}

impl Counters {
    /// A TcpExt counter by name.
    pub fn tcp_ext(&self, name: &str) -> Option<u64> {
        self.tcp_ext
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// A Tcp (snmp) counter by name.
    pub fn tcp(&self, name: &str) -> Option<i64> {
        self.tcp.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// A sockstat TCP value by name (`orphan`, `tw`, …).
    pub fn sockstat(&self, name: &str) -> Option<u64> {
        self.sockstat
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

/// Per-namespace kernel limits the rules compare against; `None` where the file was unreadable.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Limits {
    /// `net.ipv4.ip_local_port_range`: first and last ephemeral port.
    pub ip_local_port_range: Option<(u16, u16)>,
    /// `net.ipv4.tcp_max_tw_buckets`.
    pub tcp_max_tw_buckets: Option<u64>,
    /// `net.ipv4.tcp_max_orphans`.
    pub tcp_max_orphans: Option<u64>,
    /// `net.ipv4.tcp_max_syn_backlog`.
    pub tcp_max_syn_backlog: Option<u64>,
    /// `net.core.somaxconn`.
    pub somaxconn: Option<u64>,
    /// `net.ipv4.tcp_syncookies` (0 off, 1 on overflow, 2 always).
    pub tcp_syncookies: Option<u64>,
    /// `net.ipv4.tcp_fin_timeout`, seconds (FIN_WAIT2 orphans; not TIME_WAIT).
    pub tcp_fin_timeout: Option<u64>,
}

/// Socket counts per state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StateCounts([u64; 12]);

impl StateCounts {
    /// Count one more socket in `state`.
    pub fn add(&mut self, state: TcpState) {
        self.0[state.kernel_number() as usize] += 1;
    }

    /// The count for `state`.
    pub fn get(&self, state: TcpState) -> u64 {
        self.0[state.kernel_number() as usize]
    }

    /// Add every count of `other` (the sockets of two groups together).
    pub fn add_counts(&mut self, other: &StateCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// Sum over every state.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Counts of the given sockets.
    pub fn of<'a>(sockets: impl IntoIterator<Item = &'a Socket>) -> StateCounts {
        let mut counts = StateCounts::default();
        for s in sockets {
            counts.add(s.state);
        }
        counts
    }
}

/// One poll of one network namespace: every TCP socket, who owns it, and the kernel's counters.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Snapshot {
    /// When the poll started.
    pub taken_at: Option<SystemTime>,
    /// Host name.
    pub host: String,
    /// The namespace, as the user named it (`host` for sockscope's own); with
    /// `--all-netns`, as discovery named it.
    pub netns: String,
    /// The namespace's inode (`readlink /proc/PID/ns/net` shows `net:[INODE]`), when known:
    /// set for every namespace of an `--all-netns` poll.
    pub netns_inode: Option<u64>,
    /// The container the namespace belongs to (its label), when discovery found one.
    pub netns_container: Option<String>,
    /// Where the sockets came from.
    pub source: SourceKind,
    /// Every socket, de-duplicated.
    pub sockets: Vec<Socket>,
    /// `tcp_info` of the full sockets, when it was asked for (see [`Snapshot::tcp_info`]).
    pub tcp_infos: TcpInfos,
    /// The cgroup (and container) of each full socket, by cookie; TIME_WAIT and request
    /// sockets carry their listener's when that is unambiguous (see [`Cgroups`]).
    pub cgroups: Cgroups,
    /// With `-A` in the dashboard, a snapshot merges every namespace's: the namespace of
    /// each socket (empty for the snapshot of one namespace).
    pub namespaces: Namespaces,
    /// Processes that hold at least one socket.
    pub processes: Vec<Process>,
    /// Indices into `processes`, addressed by each socket's [`Owners`].
    pub owner_index: Vec<u32>,
    /// How complete process attribution is.
    pub attribution: Attribution,
    /// Kernel TCP counters.
    pub counters: Counters,
    /// Per-namespace limits.
    pub limits: Limits,
    /// Set when this poll's ESTABLISHED sockets were carried over from an earlier full read
    /// (the dashboard at scale re-reads them only every few seconds; the collector decides).
    pub established_tier: Option<EstablishedTier>,
}

/// Where a poll's ESTABLISHED sockets came from when it did not read them itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EstablishedTier {
    /// When the full read they come from started.
    pub read_at: SystemTime,
    /// How often they are read again.
    pub every: Duration,
}

impl Snapshot {
    /// The indices into `processes` of the processes holding `socket`.
    pub fn owner_indices(&self, socket: &Socket) -> &[u32] {
        let start = socket.owners.start as usize;
        let end = start + socket.owners.len as usize;
        self.owner_index.get(start..end).unwrap_or_default()
    }

    /// The processes holding `socket`.
    pub fn owners(&self, socket: &Socket) -> impl Iterator<Item = &Process> + '_ {
        self.owner_indices(socket)
            .iter()
            .filter_map(|i| self.processes.get(*i as usize))
    }

    /// Whether the LISTEN sockets' send-q is their backlog. `/proc/net/tcp` prints
    /// `write_seq - snd_una` there, not the backlog: read from it, the backlog is unknown.
    pub fn backlog_known(&self) -> bool {
        self.source != SourceKind::ProcNet
    }

    /// `socket`'s send queue as the outputs show it: for a LISTEN socket its backlog, `None`
    /// when the source does not give it (see [`Snapshot::backlog_known`]).
    pub fn send_q(&self, socket: &Socket) -> Option<u32> {
        (socket.state != TcpState::Listen || self.backlog_known()).then_some(socket.send_q)
    }

    /// The `tcp_info` of the socket at `index` of [`Snapshot::sockets`], if the kernel sent
    /// it (full sockets, when asked for).
    pub fn tcp_info_at(&self, index: usize) -> Option<&TcpInfo> {
        self.tcp_infos.at(index, self.sockets.get(index)?)
    }

    /// `socket`'s `tcp_info`, found by its cookie: a search through every socket's, for one
    /// socket at a time; in a pass over the sockets use [`Snapshot::tcp_info_at`].
    pub fn tcp_info(&self, socket: &Socket) -> Option<&TcpInfo> {
        self.tcp_infos.find(socket.cookie)
    }

    /// `socket`'s cgroup, if the kernel told it (or its listener's, for TIME_WAIT and
    /// request sockets).
    pub fn cgroup(&self, socket: &Socket) -> Option<&Cgroup> {
        self.cgroups.of(socket)
    }

    /// The container `socket`'s cgroup names, if any.
    pub fn container(&self, socket: &Socket) -> Option<&Container> {
        self.cgroup(socket)?.container.as_deref()
    }

    /// Counts per state over every socket.
    pub fn state_counts(&self) -> StateCounts {
        StateCounts::of(&self.sockets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_bound_inactive_numbers_map_to_reported_states() {
        assert_eq!(TcpState::from_kernel(12), Some(TcpState::SynRecv));
        assert_eq!(TcpState::from_kernel(13), Some(TcpState::Close));
        assert_eq!(TcpState::from_kernel(0), None);
        assert_eq!(TcpState::from_kernel(14), None);
    }

    #[test]
    fn lifecycle_index_is_the_position_in_lifecycle() {
        for (i, s) in TcpState::LIFECYCLE.iter().enumerate() {
            assert_eq!(s.lifecycle_index(), i);
        }
    }

    #[test]
    fn lifecycle_holds_every_state_once() {
        let set = StateSet::of(&TcpState::LIFECYCLE);
        assert_eq!(set, StateSet::ALL);
        assert_eq!(set.iter().count(), 11);
    }

    #[test]
    fn tcp_info_belongs_to_the_socket_in_its_slot_and_is_found_by_cookie() {
        let info = |rtt_us| TcpInfo {
            rtt_us,
            ..TcpInfo::default()
        };
        let socket = |cookie| {
            let mut s = Socket::new(
                TcpState::Established,
                "192.0.2.1:1".parse().unwrap(),
                "192.0.2.2:2".parse().unwrap(),
            );
            s.cookie = cookie;
            s
        };
        let mut infos = TcpInfos::default();
        for (cookie, rtt) in [(9, Some(1)), (3, None), (0, Some(3)), (5, Some(5))] {
            infos.push(cookie, rtt.map(info));
        }
        assert_eq!(infos.len(), 2, "no slot for 3 (none sent) nor cookie 0");
        assert_eq!(infos.at(0, &socket(9)), Some(&info(1)));
        assert_eq!(infos.at(1, &socket(3)), None);
        assert_eq!(infos.at(2, &socket(0)), None);
        assert_eq!(infos.at(3, &socket(5)), Some(&info(5)));
        assert_eq!(infos.at(0, &socket(5)), None, "a slot is another socket's");
        assert_eq!(infos.at(4, &socket(5)), None, "past the last slot");
        assert_eq!(infos.find(5), Some(&info(5)));
        assert_eq!(infos.find(0), None);
        assert_eq!(infos.find(4), None);
        let kept = infos.retain_by_index(|i| i != 0);
        assert_eq!(kept.at(2, &socket(5)), Some(&info(5)));
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn socket_record_stays_small() {
        assert!(
            std::mem::size_of::<Socket>() <= 80,
            "{}",
            std::mem::size_of::<Socket>()
        );
    }
}
