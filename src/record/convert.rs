//! Between a namespace's [`Snapshot`] and what a frame keeps of it: its sockets as
//! [`WireSocket`]s and its small tables, and back.

use std::time::Duration;

use crate::hash::FastMap;
use crate::model::{
    Addr, Attribution, Cgroup, Cgroups, CgroupsParts, Container, Counters, EstablishedTier, Family,
    Limits, NetnsLabel, Owners, Pod, Process, Runtime, Snapshot, Socket, SourceKind, TcpInfo,
    TcpInfos, TcpState, Timer, TimerKind,
};

use super::wire::{
    NamespaceFrame, SnapshotHead, SocketsFrame, WireAttribution, WireCgroup, WireCgroups,
    WireContainer, WireCounters, WireLabel, WireLimits, WireProcess, WireSocket, WireTcpInfo,
    WireTime,
};

/// Every socket of `snapshot` as a frame keeps it, in its order.
pub fn wire_sockets(snapshot: &Snapshot) -> Vec<WireSocket> {
    let own: FastMap<u64, u64> = snapshot.cgroups.parts().by_cookie.into_iter().collect();
    let pids: Vec<u32> = snapshot.processes.iter().map(|p| p.pid).collect();
    snapshot
        .sockets
        .iter()
        .enumerate()
        .map(|(i, s)| WireSocket {
            cookie: s.cookie,
            family: match s.family {
                Family::Inet => 0,
                Family::Inet6 => 1,
            },
            state: s.state.kernel_number(),
            local: s.local.get(),
            remote: s.remote.get(),
            recv_q: s.recv_q,
            send_q: s.send_q,
            timer: (
                timer_number(s.timer.kind),
                s.timer.expires_ms,
                s.timer.retransmits,
            ),
            uid: s.uid,
            inode: s.inode,
            owners: snapshot
                .owner_indices(s)
                .iter()
                .filter_map(|&p| pids.get(p as usize).copied())
                .collect(),
            cgroup: own.get(&s.cookie).copied(),
            tcp_info: snapshot.tcp_info_at(i).map(wire_tcp_info),
        })
        .collect()
}

/// The frame of namespace `key`, labelled `label`, whose snapshot is `snapshot`, with its
/// sockets as `sockets` says.
pub fn namespace_frame(
    key: u64,
    label: &NetnsLabel,
    snapshot: &Snapshot,
    sockets: SocketsFrame,
) -> NamespaceFrame {
    let parts = snapshot.cgroups.parts();
    let cookies: crate::hash::FastSet<u64> = snapshot.sockets.iter().map(|s| s.cookie).collect();
    NamespaceFrame {
        key,
        label: WireLabel {
            name: label.name.clone(),
            inode: label.inode,
            container: label.container.clone(),
        },
        head: SnapshotHead {
            taken_at: snapshot.taken_at.map(WireTime::of),
            host: snapshot.host.clone(),
            netns: snapshot.netns.clone(),
            netns_inode: snapshot.netns_inode,
            netns_container: snapshot.netns_container.clone(),
            source: match snapshot.source {
                SourceKind::Netlink => 0,
                SourceKind::ProcNet => 1,
                SourceKind::Synthetic => 2,
            },
            attribution: match snapshot.attribution {
                Attribution::Skipped => WireAttribution::Skipped,
                Attribution::Complete => WireAttribution::Complete,
                Attribution::Partial { unreadable } => WireAttribution::Partial(unreadable),
            },
            tcp_info: !snapshot.tcp_infos.is_empty(),
            established_tier: snapshot.established_tier.map(|t| {
                (
                    WireTime::of(t.read_at),
                    u64::try_from(t.every.as_millis()).unwrap_or(u64::MAX),
                )
            }),
        },
        sockets,
        processes: snapshot
            .processes
            .iter()
            .map(|p| WireProcess {
                pid: p.pid,
                comm: p.comm.clone(),
                cmdline: p.cmdline.clone(),
                descriptors: p.descriptors,
                fd_limit: p.fd_limit,
            })
            .collect(),
        counters: WireCounters {
            tcp_ext: snapshot.counters.tcp_ext.clone(),
            tcp: snapshot.counters.tcp.clone(),
            sockstat: snapshot.counters.sockstat.clone(),
            read_at: snapshot.counters.read_at.map(WireTime::of),
        },
        limits: wire_limits(&snapshot.limits),
        cgroups: WireCgroups {
            dominant: parts.dominant,
            stray: parts
                .by_cookie
                .into_iter()
                .filter(|(cookie, _)| !cookies.contains(cookie))
                .collect(),
            without_before_dominant: parts.without_before_dominant,
            distinct: parts.distinct,
            last: parts.last,
            known: parts.known.iter().map(wire_cgroup).collect(),
        },
    }
}

/// The snapshot a frame's tables and `sockets` (every socket, in order) describe, or what
/// in them cannot be a snapshot.
pub fn snapshot_of(frame: &NamespaceFrame, sockets: &[WireSocket]) -> Result<Snapshot, String> {
    let head = &frame.head;
    let processes: Vec<Process> = frame.processes.iter().map(process).collect();
    let mut index_of: FastMap<u32, u32> = FastMap::default();
    for (i, p) in processes.iter().enumerate() {
        index_of
            .entry(p.pid)
            .or_insert(u32::try_from(i).unwrap_or(u32::MAX));
    }
    let mut owner_index = Vec::new();
    let mut by_cookie = Vec::new();
    let mut tcp_infos = TcpInfos::default();
    let mut out = Vec::with_capacity(sockets.len());
    for w in sockets {
        let state = TcpState::from_kernel(w.state)
            .ok_or_else(|| format!("a socket in state {}, which is no TCP state", w.state))?;
        let start = owner_index.len();
        owner_index.extend(w.owners.iter().filter_map(|pid| index_of.get(pid)));
        let len = owner_index.len() - start;
        let owners = if len == 0 {
            Owners::default()
        } else {
            Owners {
                start: u32::try_from(start).map_err(|_| "too many owners".to_owned())?,
                len: u32::try_from(len).map_err(|_| "too many owners".to_owned())?,
            }
        };
        if let Some(id) = w.cgroup {
            by_cookie.push((w.cookie, id));
        }
        if head.tcp_info {
            tcp_infos.push(w.cookie, w.tcp_info.map(tcp_info));
        }
        out.push(Socket {
            family: if w.family == 0 {
                Family::Inet
            } else {
                Family::Inet6
            },
            state,
            local: Addr::new(w.local),
            remote: Addr::new(w.remote),
            recv_q: w.recv_q,
            send_q: w.send_q,
            timer: Timer {
                kind: TimerKind::from_kernel(w.timer.0),
                expires_ms: w.timer.1,
                retransmits: w.timer.2,
            },
            uid: w.uid,
            inode: w.inode,
            cookie: w.cookie,
            owners,
        });
    }
    by_cookie.extend(frame.cgroups.stray.iter().copied());
    by_cookie.sort_unstable();
    let cgroups = Cgroups::from_parts(CgroupsParts {
        dominant: frame.cgroups.dominant,
        by_cookie,
        without_before_dominant: frame.cgroups.without_before_dominant.clone(),
        distinct: frame.cgroups.distinct.clone(),
        last: frame.cgroups.last,
        known: frame.cgroups.known.iter().map(cgroup).collect(),
    });
    Ok(Snapshot {
        taken_at: head.taken_at.map(WireTime::time),
        host: head.host.clone(),
        netns: head.netns.clone(),
        netns_inode: head.netns_inode,
        netns_container: head.netns_container.clone(),
        source: match head.source {
            0 => SourceKind::Netlink,
            1 => SourceKind::ProcNet,
            _ => SourceKind::Synthetic,
        },
        sockets: out,
        tcp_infos,
        cgroups,
        namespaces: crate::model::Namespaces::default(),
        processes,
        owner_index,
        attribution: match head.attribution {
            WireAttribution::Skipped => Attribution::Skipped,
            WireAttribution::Complete => Attribution::Complete,
            WireAttribution::Partial(unreadable) => Attribution::Partial { unreadable },
        },
        counters: counters(&frame.counters),
        limits: limits(&frame.limits),
        established_tier: head
            .established_tier
            .map(|(read_at, every)| EstablishedTier {
                read_at: read_at.time(),
                every: Duration::from_millis(every),
            }),
    })
}

/// The namespace label a frame keeps.
pub fn label_of(frame: &NamespaceFrame) -> NetnsLabel {
    NetnsLabel {
        name: frame.label.name.clone(),
        inode: frame.label.inode,
        container: frame.label.container.clone(),
    }
}

fn process(p: &WireProcess) -> Process {
    Process {
        pid: p.pid,
        comm: p.comm.clone(),
        cmdline: p.cmdline.clone(),
        descriptors: p.descriptors,
        fd_limit: p.fd_limit,
    }
}

fn timer_number(kind: TimerKind) -> u8 {
    match kind {
        TimerKind::Off => 0,
        TimerKind::Retransmit => 1,
        TimerKind::Keepalive => 2,
        TimerKind::TimeWait => 3,
        TimerKind::Probe => 4,
    }
}

fn wire_tcp_info(i: &TcpInfo) -> WireTcpInfo {
    WireTcpInfo {
        rtt_us: i.rtt_us,
        rttvar_us: i.rttvar_us,
        snd_cwnd: i.snd_cwnd,
        retransmits: i.retransmits,
        total_retrans: i.total_retrans,
        lost: i.lost,
        unacked: i.unacked,
        last_data_sent_ms: i.last_data_sent_ms,
        last_data_recv_ms: i.last_data_recv_ms,
        bytes_acked: i.bytes_acked,
        bytes_received: i.bytes_received,
        segs_out: i.segs_out,
        segs_in: i.segs_in,
    }
}

fn tcp_info(i: WireTcpInfo) -> TcpInfo {
    TcpInfo {
        rtt_us: i.rtt_us,
        rttvar_us: i.rttvar_us,
        snd_cwnd: i.snd_cwnd,
        retransmits: i.retransmits,
        total_retrans: i.total_retrans,
        lost: i.lost,
        unacked: i.unacked,
        last_data_sent_ms: i.last_data_sent_ms,
        last_data_recv_ms: i.last_data_recv_ms,
        bytes_acked: i.bytes_acked,
        bytes_received: i.bytes_received,
        segs_out: i.segs_out,
        segs_in: i.segs_in,
    }
}

/// The counters a frame keeps.
pub fn counters(c: &WireCounters) -> Counters {
    Counters {
        tcp_ext: c.tcp_ext.clone(),
        tcp: c.tcp.clone(),
        sockstat: c.sockstat.clone(),
        read_at: c.read_at.map(WireTime::time),
    }
}

fn wire_limits(l: &Limits) -> WireLimits {
    WireLimits {
        ip_local_port_range: l.ip_local_port_range,
        tcp_max_tw_buckets: l.tcp_max_tw_buckets,
        tcp_max_orphans: l.tcp_max_orphans,
        tcp_max_syn_backlog: l.tcp_max_syn_backlog,
        somaxconn: l.somaxconn,
        tcp_syncookies: l.tcp_syncookies,
        tcp_fin_timeout: l.tcp_fin_timeout,
    }
}

fn limits(l: &WireLimits) -> Limits {
    Limits {
        ip_local_port_range: l.ip_local_port_range,
        tcp_max_tw_buckets: l.tcp_max_tw_buckets,
        tcp_max_orphans: l.tcp_max_orphans,
        tcp_max_syn_backlog: l.tcp_max_syn_backlog,
        somaxconn: l.somaxconn,
        tcp_syncookies: l.tcp_syncookies,
        tcp_fin_timeout: l.tcp_fin_timeout,
    }
}

const RUNTIMES: [Runtime; 5] = [
    Runtime::Docker,
    Runtime::Containerd,
    Runtime::Crio,
    Runtime::Podman,
    Runtime::Systemd,
];

fn wire_cgroup(c: &Cgroup) -> WireCgroup {
    WireCgroup {
        id: c.id,
        path: c.path.as_deref().map(str::to_owned),
        container: c.container.as_deref().map(|k| WireContainer {
            id: k.id.clone(),
            name: k.name.clone(),
            runtime: u8::try_from(RUNTIMES.iter().position(|r| *r == k.runtime).unwrap_or(4))
                .unwrap_or(4),
            pod: k
                .pod
                .as_ref()
                .map(|p| (p.namespace.clone(), p.name.clone(), p.uid.clone())),
        }),
    }
}

fn cgroup(c: &WireCgroup) -> Cgroup {
    Cgroup {
        id: c.id,
        path: c.path.as_deref().map(Into::into),
        container: c.container.as_ref().map(|k| {
            std::sync::Arc::new(Container {
                id: k.id.clone(),
                name: k.name.clone(),
                runtime: RUNTIMES
                    .get(usize::from(k.runtime))
                    .copied()
                    .unwrap_or(Runtime::Systemd),
                pod: k.pod.as_ref().map(|(namespace, name, uid)| Pod {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    uid: uid.clone(),
                }),
            })
        }),
    }
}
