//! The types a recording's frames hold, serialized with postcard: the file format's own,
//! kept apart from the `model` types (the file is a contract; a field renamed in the model
//! must not change what old files mean). Adding a field at the end of a type is a minor
//! version; anything else is a major one (see `docs/recording.md`).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A time, as seconds and nanoseconds since the Unix epoch (a time before it reads as
/// the epoch).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireTime {
    /// Whole seconds.
    pub secs: u64,
    /// Nanoseconds past them.
    pub nanos: u32,
}

impl WireTime {
    /// `time` as kept in a file.
    pub fn of(time: SystemTime) -> WireTime {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        WireTime {
            secs: since.as_secs(),
            nanos: since.subsec_nanos(),
        }
    }

    /// The time it keeps (a file's nonsense saturates rather than panics).
    pub fn time(self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::new(self.secs, self.nanos.min(999_999_999)))
            .unwrap_or(UNIX_EPOCH)
    }
}

/// The payload of one frame: every namespace of one poll.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PollFrame {
    /// When the poll started.
    pub taken_at: WireTime,
    /// Whether the recording watches every namespace (`-A`).
    pub every: bool,
    /// Each namespace the poll holds, in the round's order.
    pub namespaces: Vec<NamespaceFrame>,
}

/// One namespace of a poll: its sockets (all, or what changed) and its small tables in
/// full.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NamespaceFrame {
    /// The watcher's key of the namespace (its nsfs inode with `-A`, 0 for the one).
    pub key: u64,
    /// Its label: name, inode, container.
    pub label: WireLabel,
    /// The snapshot's own fields.
    pub head: SnapshotHead,
    /// The sockets.
    pub sockets: SocketsFrame,
    /// The processes holding its sockets, in the snapshot's order.
    pub processes: Vec<WireProcess>,
    /// Its kernel counters.
    pub counters: WireCounters,
    /// Its kernel limits.
    pub limits: WireLimits,
    /// Its cgroups, but for each socket's own entry (in [`WireSocket::cgroup`]).
    pub cgroups: WireCgroups,
}

/// A namespace's label.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireLabel {
    /// Its name.
    pub name: String,
    /// Its nsfs inode.
    pub inode: u64,
    /// Its container's label.
    pub container: Option<String>,
}

/// The fields of a snapshot besides its tables.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SnapshotHead {
    /// When its poll started.
    pub taken_at: Option<WireTime>,
    /// Host name.
    pub host: String,
    /// Namespace name as the user or discovery named it.
    pub netns: String,
    /// Namespace inode.
    pub netns_inode: Option<u64>,
    /// Container of the namespace.
    pub netns_container: Option<String>,
    /// Where the sockets came from: 0 netlink, 1 /proc/net/tcp, 2 synthetic.
    pub source: u8,
    /// How complete the process attribution is.
    pub attribution: WireAttribution,
    /// Whether `tcp_info` was asked for (each socket's is in [`WireSocket::tcp_info`]).
    pub tcp_info: bool,
    /// The ESTABLISHED tier: when its sockets were read, and how often (ms).
    pub established_tier: Option<(WireTime, u64)>,
}

/// How complete a snapshot's process attribution is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireAttribution {
    /// Not attempted.
    Skipped,
    /// Every process read.
    Complete,
    /// This many processes unreadable.
    Partial(u32),
}

/// A namespace's sockets in one frame.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum SocketsFrame {
    /// Every socket, in the snapshot's order (key frames; and in a delta frame, a
    /// namespace whose sockets cannot be told apart by cookie).
    Every(Vec<WireSocket>),
    /// What changed since the previous frame: sockets new or changed (whole), and the
    /// cookies of those gone.
    Changed {
        /// New or changed sockets.
        changed: Vec<WireSocket>,
        /// Cookies of the sockets gone.
        removed: Vec<u64>,
    },
}

/// One socket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct WireSocket {
    /// The kernel cookie (its identity across frames).
    pub cookie: u64,
    /// 0 AF_INET, 1 AF_INET6.
    pub family: u8,
    /// The kernel state number (1 ESTABLISHED … 11 CLOSING).
    pub state: u8,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// Receive queue (accept queue for LISTEN).
    pub recv_q: u32,
    /// Send queue (backlog for LISTEN).
    pub send_q: u32,
    /// Timer: the kernel's `idiag_timer` number (0 off … 4 probe), ms to expiry,
    /// retransmits.
    pub timer: (u8, u32, u8),
    /// Owning uid.
    pub uid: u32,
    /// Inode.
    pub inode: u32,
    /// The pids of the processes holding it, in order.
    pub owners: Vec<u32>,
    /// Its own entry in the cgroup table, when it has one (0: told none).
    pub cgroup: Option<u64>,
    /// Its `tcp_info`, when the kernel sent it.
    pub tcp_info: Option<WireTcpInfo>,
}

/// The `tcp_info` fields sockscope keeps.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WireTcpInfo {
    /// Smoothed RTT, µs.
    pub rtt_us: u32,
    /// RTT variance, µs.
    pub rttvar_us: u32,
    /// Congestion window, segments.
    pub snd_cwnd: u32,
    /// Retransmits of the current segment.
    pub retransmits: u8,
    /// Retransmits in total.
    pub total_retrans: u32,
    /// Segments thought lost.
    pub lost: u32,
    /// Segments not acknowledged.
    pub unacked: u32,
    /// Since the last data sent, ms.
    pub last_data_sent_ms: u32,
    /// Since the last data received, ms.
    pub last_data_recv_ms: u32,
    /// Bytes acknowledged.
    pub bytes_acked: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Segments sent.
    pub segs_out: u32,
    /// Segments received.
    pub segs_in: u32,
}

/// A process holding sockets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireProcess {
    /// Pid.
    pub pid: u32,
    /// Short name.
    pub comm: String,
    /// Command line.
    pub cmdline: String,
    /// Descriptors open.
    pub descriptors: Option<u64>,
    /// Soft open-file limit.
    pub fd_limit: Option<u64>,
}

/// Kernel counters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireCounters {
    /// TcpExt, in file order.
    pub tcp_ext: Vec<(String, u64)>,
    /// Tcp (snmp), in file order.
    pub tcp: Vec<(String, i64)>,
    /// sockstat TCP line.
    pub sockstat: Vec<(String, u64)>,
    /// When they were read.
    pub read_at: Option<WireTime>,
}

/// Kernel limits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireLimits {
    /// Ephemeral port range.
    pub ip_local_port_range: Option<(u16, u16)>,
    /// `tcp_max_tw_buckets`.
    pub tcp_max_tw_buckets: Option<u64>,
    /// `tcp_max_orphans`.
    pub tcp_max_orphans: Option<u64>,
    /// `tcp_max_syn_backlog`.
    pub tcp_max_syn_backlog: Option<u64>,
    /// `somaxconn`.
    pub somaxconn: Option<u64>,
    /// `tcp_syncookies`.
    pub tcp_syncookies: Option<u64>,
    /// `tcp_fin_timeout`.
    pub tcp_fin_timeout: Option<u64>,
}

/// A namespace's cgroup table but for the sockets' own entries.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireCgroups {
    /// The dominant cgroup id.
    pub dominant: u64,
    /// Entries by cookie of no socket of the snapshot.
    pub stray: Vec<(u64, u64)>,
    /// Full sockets told no id before the dominant one was known.
    pub without_before_dominant: Vec<u64>,
    /// Every distinct id.
    pub distinct: Vec<u64>,
    /// The id recorded last.
    pub last: u64,
    /// What the ids resolved to.
    pub known: Vec<WireCgroup>,
}

/// One cgroup and its container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireCgroup {
    /// Cgroup id.
    pub id: u64,
    /// Path below the cgroup v2 mount.
    pub path: Option<String>,
    /// Its container.
    pub container: Option<WireContainer>,
}

/// A container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireContainer {
    /// Its id (or unit name).
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// 0 docker, 1 containerd, 2 crio, 3 podman, 4 systemd.
    pub runtime: u8,
    /// Its pod: namespace, name, uid.
    pub pod: Option<(Option<String>, Option<String>, String)>,
}
