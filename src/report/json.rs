//! The JSON document of `sockscope snapshot --json`. These serde types are the contract
//! (`schema_version`), kept apart from the core types so the core can change freely.

use std::io::{self, Write};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

mod all_netns;
mod anomaly;
mod churn;
mod container;
mod socket;

pub use all_netns::{AllNetnsHeadDoc, NamespaceDoc, render_all};

use crate::aggregate::Anomaly;
use crate::filter::Filter;
use crate::model::{Attribution, Snapshot, SourceKind, StateCounts, TcpState};

/// Version of the JSON document's shape. Bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

pub use anomaly::AnomalyDoc;
pub use churn::{ChurnDoc, MakerDoc};
pub use container::{ContainerDoc, PodDoc};
pub use socket::{
    EndpointDoc, ProcessDoc, ProcessEntryDoc, ProcessesDoc, SocketDoc, SocketsDoc, TcpInfoDoc,
    TimerDoc,
};

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

#[cfg(test)]
mod tests;
