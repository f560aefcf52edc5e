//! The JSON objects of a socket and of the processes holding it, written fast: a
//! million of them per document.

use std::net::SocketAddr;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::filter::Filter;
use crate::model::{Endpoint, Snapshot, Socket, push_decimal};

use super::ContainerDoc;

/// The filtered socket list, serialized straight from the snapshot.
pub struct SocketsDoc<'a> {
    pub(super) snapshot: &'a Snapshot,
    pub(super) filter: &'a Filter,
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
