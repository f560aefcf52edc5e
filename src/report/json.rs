//! The JSON document of `sockscope snapshot --json`. These serde types are the contract
//! (`schema_version`), kept apart from the core types so the core can change freely.

use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

mod all_netns;
mod churn;
mod container;

pub use all_netns::{AllNetnsHeadDoc, NamespaceDoc, render_all};

use crate::aggregate::{Anomaly, Subject};
use crate::filter::Filter;
use crate::model::{
    Attribution, Endpoint, Snapshot, Socket, SourceKind, StateCounts, TcpState, push_decimal,
};

/// Version of the JSON document's shape. Bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

pub use churn::{ChurnDoc, MakerDoc};
pub use container::{ContainerDoc, PodDoc};

/// The whole document: the fields before the socket list, the list, the fields after it.
/// It serializes as one flat object, in that order.
#[derive(Serialize)]
pub struct SnapshotDoc<'a> {
    /// Everything that comes before the sockets.
    #[serde(flatten)]
    pub head: HeadDoc<'a>,
    /// The sockets that pass the filters (streamed, never collected).
    pub sockets: SocketsDoc<'a>,
    /// Everything that comes after the sockets.
    #[serde(flatten)]
    pub tail: TailDoc<'a>,
}

/// The fields of the document before the socket list.
#[derive(Serialize)]
pub struct HeadDoc<'a> {
    /// Shape version.
    pub schema_version: u32,
    /// RFC 3339, UTC, milliseconds.
    pub taken_at: String,
    /// Host name.
    pub host: &'a str,
    /// Namespace label.
    pub netns: &'a str,
    /// `netlink` or `procfs`.
    pub source: &'static str,
    /// `complete`, `partial` or `skipped`.
    pub attribution: &'static str,
    /// Every socket in the namespace (not only the listed ones).
    pub total: usize,
    /// State name → count, every state, lifecycle order; counts ignore filters.
    pub states: StatesDoc,
}

/// The fields of the document after the socket list.
#[derive(Serialize)]
pub struct TailDoc<'a> {
    /// Kernel counters by file section.
    pub counters: CountersDoc<'a>,
    /// Per-namespace limits; `null` where unreadable.
    pub limits: LimitsDoc,
    /// Every process holding a socket of the namespace, by pid (not only the listed ones').
    pub processes: Vec<ProcessEntryDoc<'a>>,
    /// Anomalies raised by the rules, most severe first.
    pub anomalies: Vec<AnomalyDoc<'a>>,
}

/// Counts per state, serialized as an object in lifecycle order.
pub struct StatesDoc(pub StateCounts);

impl Serialize for StatesDoc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(TcpState::LIFECYCLE.len()))?;
        for state in TcpState::LIFECYCLE {
            map.serialize_entry(state.name(), &self.0.get(state))?;
        }
        map.end()
    }
}

/// Name/value pairs serialized as an object in their original order.
pub struct PairsDoc<'a, V>(pub &'a [(String, V)]);

impl<V: Serialize> Serialize for PairsDoc<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Kernel counters, one object per source file section.
#[derive(Serialize)]
pub struct CountersDoc<'a> {
    /// `/proc/net/netstat` TcpExt.
    #[serde(rename = "TcpExt")]
    pub tcp_ext: PairsDoc<'a, u64>,
    /// `/proc/net/snmp` Tcp.
    #[serde(rename = "Tcp")]
    pub tcp: PairsDoc<'a, i64>,
    /// `/proc/net/sockstat` TCP line.
    pub sockstat: PairsDoc<'a, u64>,
}

/// Per-namespace limits.
#[derive(Serialize)]
pub struct LimitsDoc {
    /// `[first, last]` ephemeral port.
    pub ip_local_port_range: Option<[u16; 2]>,
    /// `net.ipv4.tcp_max_tw_buckets`.
    pub tcp_max_tw_buckets: Option<u64>,
    /// `net.ipv4.tcp_max_orphans`.
    pub tcp_max_orphans: Option<u64>,
    /// `net.ipv4.tcp_max_syn_backlog`.
    pub tcp_max_syn_backlog: Option<u64>,
    /// `net.core.somaxconn`.
    pub somaxconn: Option<u64>,
    /// `net.ipv4.tcp_syncookies`.
    pub tcp_syncookies: Option<u64>,
    /// `net.ipv4.tcp_fin_timeout`.
    pub tcp_fin_timeout: Option<u64>,
}

/// The filtered socket list, serialized straight from the snapshot.
pub struct SocketsDoc<'a> {
    snapshot: &'a Snapshot,
    filter: &'a Filter,
}

impl Serialize for SocketsDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for (i, socket) in self.snapshot.sockets.iter().enumerate() {
            if self.filter.matches(self.snapshot, socket) {
                seq.serialize_element(&SocketDoc::new(self.snapshot, i))?;
            }
        }
        seq.end()
    }
}

/// An endpoint serialized as [`Endpoint`] text without an intermediate allocation (the
/// socket list is written by [`SocketDoc::write_json`]; this serves the rest).
pub struct EndpointDoc(pub SocketAddr);

impl Serialize for EndpointDoc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Endpoint(self.0))
    }
}

/// One socket.
#[derive(Serialize)]
pub struct SocketDoc<'a> {
    /// netstat spelling (`CLOSE_WAIT`).
    pub state: &'static str,
    /// `inet` or `inet6`.
    pub family: &'static str,
    /// `addr:port`, IPv6 in brackets.
    pub local: EndpointDoc,
    /// `addr:port`, IPv6 in brackets; port `*` when unconnected.
    pub remote: EndpointDoc,
    /// Receive queue (LISTEN: accept queue length).
    pub recv_q: u32,
    /// Send queue (LISTEN: backlog; `null` when unknown, as read from /proc/net/tcp).
    pub send_q: Option<u32>,
    /// The pending timer.
    pub timer: TimerDoc,
    /// Owning uid.
    pub uid: u32,
    /// Socket inode (0: no process can hold it).
    pub inode: u32,
    /// Kernel socket cookie (0 when read from /proc/net/tcp).
    pub cookie: u64,
    /// The inode of the socket's network namespace; only with `--all-netns`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<u64>,
    /// Owning processes.
    pub processes: ProcessesDoc<'a>,
    /// The socket's cgroup v2 path (`/system.slice/docker-<id>.scope`); for TIME_WAIT
    /// and request sockets their listener's; `null` when unknown.
    pub cgroup: Option<&'a str>,
    /// The container the cgroup names; `null` when none.
    pub container: Option<ContainerDoc<'a>>,
    /// tcp_info, for full sockets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_info: Option<TcpInfoDoc>,
}

/// A pending timer.
#[derive(Serialize)]
pub struct TimerDoc {
    /// `off`, `on` (retransmit), `keepalive`, `timewait`, `probe`.
    pub kind: &'static str,
    /// Milliseconds until it fires.
    pub expires_ms: u32,
    /// Retransmits so far.
    pub retransmits: u8,
}

/// The owners of one socket, as `[{pid, comm}]`.
pub struct ProcessesDoc<'a> {
    snapshot: &'a Snapshot,
    socket: &'a Socket,
}

impl Serialize for ProcessesDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.socket.owners.len as usize))?;
        for p in self.snapshot.owners(self.socket) {
            seq.serialize_element(&ProcessDoc {
                pid: p.pid,
                comm: &p.comm,
            })?;
        }
        seq.end()
    }
}

/// An owning process.
#[derive(Serialize)]
pub struct ProcessDoc<'a> {
    /// Process id.
    pub pid: u32,
    /// Short command name.
    pub comm: &'a str,
}

/// A process holding sockets, with its descriptors against its open-file limit.
#[derive(Serialize)]
pub struct ProcessEntryDoc<'a> {
    /// Process id.
    pub pid: u32,
    /// Short command name.
    pub comm: &'a str,
    /// Arguments joined by spaces.
    pub cmdline: &'a str,
    /// Descriptors it has open, of every kind; `null` when unknown.
    pub descriptors: Option<u64>,
    /// Its soft open-file limit (RLIMIT_NOFILE); `null` when unreadable or unlimited.
    pub fd_limit: Option<u64>,
}

/// The tcp_info fields sockscope reports.
#[derive(Serialize)]
pub struct TcpInfoDoc {
    /// Smoothed RTT, µs.
    pub rtt_us: u32,
    /// RTT variance, µs.
    pub rttvar_us: u32,
    /// Congestion window, segments.
    pub snd_cwnd: u32,
    /// Retransmits of the current segment.
    pub retransmits: u8,
    /// Retransmitted segments, lifetime.
    pub total_retrans: u32,
    /// Lost segments.
    pub lost: u32,
    /// Unacknowledged segments.
    pub unacked: u32,
    /// ms since data was last sent.
    pub last_data_sent_ms: u32,
    /// ms since data was last received.
    pub last_data_recv_ms: u32,
}

impl SocketDoc<'_> {
    /// Append the bytes `serde_json::to_writer` writes for this document, written by hand:
    /// serde escapes every key and formats through its traits, which took half the time of
    /// writing a million sockets. Text that may need escaping (process names, cgroup paths,
    /// containers) still goes through serde; the rest is ASCII known not to need it. The
    /// derived `Serialize` stays the definition (a test compares the two on every field).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"state\":\"");
        out.extend_from_slice(self.state.as_bytes());
        out.extend_from_slice(b"\",\"family\":\"");
        out.extend_from_slice(self.family.as_bytes());
        out.extend_from_slice(b"\",\"local\":\"");
        Endpoint(self.local.0).write_bytes(out);
        out.extend_from_slice(b"\",\"remote\":\"");
        Endpoint(self.remote.0).write_bytes(out);
        out.extend_from_slice(b"\",\"recv_q\":");
        push_decimal(out, u64::from(self.recv_q));
        out.extend_from_slice(b",\"send_q\":");
        push_optional(out, self.send_q.map(u64::from));
        out.extend_from_slice(b",\"timer\":{\"kind\":\"");
        out.extend_from_slice(self.timer.kind.as_bytes());
        out.extend_from_slice(b"\",\"expires_ms\":");
        push_decimal(out, u64::from(self.timer.expires_ms));
        out.extend_from_slice(b",\"retransmits\":");
        push_decimal(out, u64::from(self.timer.retransmits));
        out.extend_from_slice(b"},\"uid\":");
        push_decimal(out, u64::from(self.uid));
        out.extend_from_slice(b",\"inode\":");
        push_decimal(out, u64::from(self.inode));
        out.extend_from_slice(b",\"cookie\":");
        push_decimal(out, self.cookie);
        if let Some(netns) = self.netns {
            out.extend_from_slice(b",\"netns\":");
            push_decimal(out, netns);
        }
        out.extend_from_slice(b",\"processes\":[");
        for (i, p) in self
            .processes
            .snapshot
            .owners(self.processes.socket)
            .enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"pid\":");
            push_decimal(out, u64::from(p.pid));
            out.extend_from_slice(b",\"comm\":");
            push_serialized(out, &p.comm);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"cgroup\":");
        push_serialized(out, &self.cgroup);
        out.extend_from_slice(b",\"container\":");
        push_serialized(out, &self.container);
        if let Some(i) = &self.tcp_info {
            for (key, value) in [
                (&b",\"tcp_info\":{\"rtt_us\":"[..], i.rtt_us),
                (b",\"rttvar_us\":", i.rttvar_us),
                (b",\"snd_cwnd\":", i.snd_cwnd),
                (b",\"retransmits\":", u32::from(i.retransmits)),
                (b",\"total_retrans\":", i.total_retrans),
                (b",\"lost\":", i.lost),
                (b",\"unacked\":", i.unacked),
                (b",\"last_data_sent_ms\":", i.last_data_sent_ms),
                (b",\"last_data_recv_ms\":", i.last_data_recv_ms),
            ] {
                out.extend_from_slice(key);
                push_decimal(out, u64::from(value));
            }
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// `n`, or `null`.
fn push_optional(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => push_decimal(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

/// What serde writes for `value` (strings escaped as JSON requires).
fn push_serialized(out: &mut Vec<u8>, value: &impl Serialize) {
    // Writing into a Vec cannot fail: every key is a string.
    let _ = serde_json::to_writer(&mut *out, value);
}

impl<'a> SocketDoc<'a> {
    /// The document for the socket at `index` of `snapshot`'s sockets.
    pub fn new(snapshot: &'a Snapshot, index: usize) -> SocketDoc<'a> {
        let s = &snapshot.sockets[index];
        SocketDoc {
            state: s.state.name(),
            family: s.family.name(),
            local: EndpointDoc(s.local.get()),
            remote: EndpointDoc(s.remote.get()),
            recv_q: s.recv_q,
            send_q: snapshot.send_q(s),
            timer: TimerDoc {
                kind: s.timer.kind.name(),
                expires_ms: s.timer.expires_ms,
                retransmits: s.timer.retransmits,
            },
            uid: s.uid,
            inode: s.inode,
            cookie: s.cookie,
            netns: snapshot.netns_inode,
            processes: ProcessesDoc {
                snapshot,
                socket: s,
            },
            cgroup: snapshot.cgroup(s).and_then(|c| c.path.as_deref()),
            container: snapshot.container(s).map(ContainerDoc::new),
            tcp_info: snapshot.tcp_info_at(index).map(|i| TcpInfoDoc {
                rtt_us: i.rtt_us,
                rttvar_us: i.rttvar_us,
                snd_cwnd: i.snd_cwnd,
                retransmits: i.retransmits,
                total_retrans: i.total_retrans,
                lost: i.lost,
                unacked: i.unacked,
                last_data_sent_ms: i.last_data_sent_ms,
                last_data_recv_ms: i.last_data_recv_ms,
            }),
        }
    }
}

impl<'a> SnapshotDoc<'a> {
    /// The document for `snapshot`, listing the sockets that pass `filter`, with the
    /// anomalies the rules raised on it.
    pub fn new(
        snapshot: &'a Snapshot,
        filter: &'a Filter,
        anomalies: &'a [Anomaly],
    ) -> SnapshotDoc<'a> {
        SnapshotDoc {
            head: HeadDoc::new(snapshot),
            sockets: SocketsDoc { snapshot, filter },
            tail: TailDoc::new(snapshot, anomalies),
        }
    }
}

impl<'a> HeadDoc<'a> {
    /// The fields before the socket list.
    pub fn new(snapshot: &'a Snapshot) -> HeadDoc<'a> {
        HeadDoc {
            schema_version: SCHEMA_VERSION,
            taken_at: snapshot
                .taken_at
                .map(|t| humantime::format_rfc3339_millis(t).to_string())
                .unwrap_or_default(),
            host: &snapshot.host,
            netns: &snapshot.netns,
            source: match snapshot.source {
                SourceKind::Netlink => "netlink",
                SourceKind::ProcNet => "procfs",
                SourceKind::Synthetic => "synthetic",
            },
            attribution: match snapshot.attribution {
                Attribution::Complete => "complete",
                Attribution::Partial { .. } => "partial",
                Attribution::Skipped => "skipped",
            },
            total: snapshot.sockets.len(),
            states: StatesDoc(snapshot.state_counts()),
        }
    }
}

impl<'a> TailDoc<'a> {
    /// The fields after the socket list.
    pub fn new(snapshot: &'a Snapshot, anomalies: &'a [Anomaly]) -> TailDoc<'a> {
        let l = &snapshot.limits;
        TailDoc {
            counters: CountersDoc {
                tcp_ext: PairsDoc(&snapshot.counters.tcp_ext),
                tcp: PairsDoc(&snapshot.counters.tcp),
                sockstat: PairsDoc(&snapshot.counters.sockstat),
            },
            limits: LimitsDoc {
                ip_local_port_range: l.ip_local_port_range.map(|(a, b)| [a, b]),
                tcp_max_tw_buckets: l.tcp_max_tw_buckets,
                tcp_max_orphans: l.tcp_max_orphans,
                tcp_max_syn_backlog: l.tcp_max_syn_backlog,
                somaxconn: l.somaxconn,
                tcp_syncookies: l.tcp_syncookies,
                tcp_fin_timeout: l.tcp_fin_timeout,
            },
            processes: snapshot
                .processes
                .iter()
                .map(|p| ProcessEntryDoc {
                    pid: p.pid,
                    comm: &p.comm,
                    cmdline: &p.cmdline,
                    descriptors: p.descriptors,
                    fd_limit: p.fd_limit,
                })
                .collect(),
            anomalies: anomalies
                .iter()
                .map(|a| AnomalyDoc(a, snapshot.netns_inode))
                .collect(),
        }
    }
}

/// Write the document for `snapshot` as one line of JSON followed by a newline. The
/// sockets, which are nearly all of it at scale, are serialized in chunks on two threads and
/// spliced between the fields before and after them: the bytes are those of serializing
/// [`SnapshotDoc`] in one go.
pub fn render(
    snapshot: &Snapshot,
    filter: &Filter,
    anomalies: &[Anomaly],
    out: &mut dyn Write,
) -> io::Result<()> {
    write_head_and_sockets(snapshot, filter, out)?;
    write_tail(snapshot, anomalies, out)
}

/// [`render`], with the anomalies raised by `judge`, which runs on a thread of its own
/// while the sockets are written (they come before the anomalies in the document).
/// Returns the anomalies.
pub fn render_judging<J>(
    snapshot: &Snapshot,
    filter: &Filter,
    judge: J,
    out: &mut dyn Write,
) -> io::Result<Vec<Anomaly>>
where
    J: FnOnce() -> Vec<Anomaly> + Send,
{
    std::thread::scope(|scope| {
        let judging = scope.spawn(judge);
        let written = write_head_and_sockets(snapshot, filter, out);
        let anomalies = judging
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written?;
        write_tail(snapshot, &anomalies, out)?;
        Ok(anomalies)
    })
}

/// The document up to the end of the socket list.
fn write_head_and_sockets(
    snapshot: &Snapshot,
    filter: &Filter,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_head(&HeadDoc::new(snapshot), out)?;
    write_sockets(std::iter::once(snapshot), filter, out)
}

/// The fields before the socket list: `head`'s object without its closing brace.
fn write_head(head: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    let head = serde_json::to_vec(head)?;
    let Some((b'}', head)) = head.split_last() else {
        return Err(io::Error::other("the JSON head is not an object"));
    };
    out.write_all(head)
}

/// `,"sockets":[…]`: the sockets of every snapshot in turn that pass `filter`, formatted
/// on two threads.
fn write_sockets<'a>(
    snapshots: impl IntoIterator<Item = &'a Snapshot>,
    filter: &Filter,
    out: &mut dyn Write,
) -> io::Result<()> {
    out.write_all(b",\"sockets\":[")?;
    let mut list = WithoutFirstByte {
        out: &mut *out,
        first: true,
    };
    for snapshot in snapshots {
        super::chunks::write_in_order(
            &snapshot.sockets,
            |start, sockets, buf, (): &mut ()| {
                for (i, socket) in (start..).zip(sockets) {
                    if filter.matches(snapshot, socket) {
                        buf.push(b',');
                        SocketDoc::new(snapshot, i).write_json(buf);
                    }
                }
            },
            &mut list,
        )?;
    }
    out.write_all(b"]")
}

/// The rest of the document after the socket list, and the newline.
fn write_tail(snapshot: &Snapshot, anomalies: &[Anomaly], out: &mut dyn Write) -> io::Result<()> {
    write_tail_doc(&TailDoc::new(snapshot, anomalies), out)
}

/// `tail`'s fields after the socket list, and the newline.
fn write_tail_doc(tail: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    let tail = serde_json::to_vec(tail)?;
    let Some((b'{', tail)) = tail.split_first() else {
        return Err(io::Error::other("the JSON tail is not an object"));
    };
    out.write_all(b",")?;
    out.write_all(tail)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// A writer that drops the first byte written through it: every listed socket is written
/// after a comma, and the first one's comma is not wanted.
struct WithoutFirstByte<'a> {
    out: &'a mut dyn Write,
    first: bool,
}

impl Write for WithoutFirstByte<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match buf.split_first() {
            Some((_, rest)) if self.first => {
                self.out.write_all(rest)?;
                self.first = false;
                Ok(buf.len())
            }
            _ => self.out.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The JSON object of one anomaly, and the inode of the namespace it was raised in (with
/// `--all-netns`: its `"netns"` key, last; without, no such key). The subject is one key
/// named after its kind: `process: {pid, comm}`, `listener`, `destination`, `local_port`
/// or `namespace: true`. `"churn"` ([`ChurnDoc`]) is there only for `connection_churn`,
/// `"makers"` ([`MakerDoc`]) only when the rule named any.
pub struct AnomalyDoc<'a>(pub &'a Anomaly, pub Option<u64>);

impl Serialize for AnomalyDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct ProcessRef<'a> {
            pid: u32,
            comm: &'a str,
        }
        #[derive(Serialize)]
        struct Peer {
            remote: EndpointDoc,
            count: u64,
        }
        let a = self.0;
        let e = &a.evidence;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", a.kind.name())?;
        map.serialize_entry("severity", a.severity.name())?;
        match &a.subject {
            Subject::Process { pid, comm } => {
                map.serialize_entry("process", &ProcessRef { pid: *pid, comm })?;
            }
            Subject::Listener(addr) => map.serialize_entry("listener", &EndpointDoc(*addr))?,
            Subject::Destination(addr) => {
                map.serialize_entry("destination", &EndpointDoc(*addr))?;
            }
            Subject::LocalPort(port) => map.serialize_entry("local_port", port)?,
            Subject::Namespace => map.serialize_entry("namespace", &true)?,
        }
        map.serialize_entry("subject", &a.subject_label())?;
        map.serialize_entry("container", &a.container.as_deref().map(ContainerDoc::new))?;
        map.serialize_entry("count", &a.count)?;
        map.serialize_entry("threshold", &a.threshold)?;
        map.serialize_entry("critical_threshold", &a.critical_threshold)?;
        map.serialize_entry(
            "first_seen",
            &humantime::format_rfc3339_millis(a.first_seen).to_string(),
        )?;
        map.serialize_entry("trend_per_minute", &a.trend)?;
        map.serialize_entry("hint", a.hint)?;
        let peers: Vec<Peer> = e
            .peers
            .iter()
            .map(|p| Peer {
                remote: EndpointDoc(p.peer),
                count: p.count,
            })
            .collect();
        map.serialize_entry("peers", &peers)?;
        map.serialize_entry("oldest_age_s", &e.oldest_age.map(|d| d.as_secs_f64()))?;
        map.serialize_entry("distinct_sources", &e.distinct_sources)?;
        let rises: Vec<(String, u64)> = e
            .counter_rises
            .iter()
            .map(|r| (r.counter.to_owned(), r.rise))
            .collect();
        map.serialize_entry("counter_rises", &PairsDoc(&rises))?;
        map.serialize_entry(
            "counter_interval_s",
            &e.counter_interval.map(|d| d.as_secs_f64()),
        )?;
        map.serialize_entry("limit", &e.limit)?;
        map.serialize_entry("tcp_sockets", &e.tcp_sockets)?;
        map.serialize_entry("close_wait", &e.close_wait)?;
        if let Some(churn) = &e.churn {
            map.serialize_entry("churn", &ChurnDoc::new(churn))?;
        }
        if !e.makers.is_empty() {
            let makers: Vec<MakerDoc<'_>> = e.makers.iter().map(MakerDoc::new).collect();
            map.serialize_entry("makers", &makers)?;
        }
        if let Some(netns) = self.1 {
            map.serialize_entry("netns", &netns)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests;
