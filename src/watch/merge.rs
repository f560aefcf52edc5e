//! The merged view of every namespace watched: one snapshot of every namespace's latest
//! sockets, each socket's namespace beside it ([`Namespaces`](crate::model::Namespaces)).

use crate::hash::FastMap;
use crate::model::{Counters, NetnsLabel, Owners, Snapshot};

use super::round::NamespaceRound;

/// Whether two snapshots of one namespace hold the same sockets, owned by the same
/// processes, in the same cgroups (timers and queues included: a socket's timer that
/// moved is a change).
pub(super) fn same_sockets(old: &Snapshot, new: &Snapshot) -> bool {
    old.sockets == new.sockets
        && old.processes == new.processes
        && old.owner_index == new.owner_index
        && old.cgroups == new.cgroups
}

/// Every namespace's last snapshot as one: the sockets one after another, each socket's
/// namespace recorded by cookie, the processes once each (a process can hold sockets of
/// several namespaces), the cgroups of all, the counters summed over the namespaces (each
/// as of its last dump), the limits and host of the first (sockscope's own).
pub fn merge(namespaces: &[NamespaceRound]) -> Snapshot {
    let parts: Vec<(&NetnsLabel, &Snapshot)> = namespaces
        .iter()
        .filter_map(|n| Some((&n.label, n.snapshot.as_deref()?)))
        .collect();
    let mut merged = Snapshot {
        netns: format!("{} namespaces", namespaces.len()),
        ..Snapshot::default()
    };
    let mut pids: FastMap<u32, u32> = FastMap::default();
    let mut known = Vec::new();
    // tcp_info of the namespace a detail pane focuses on: slots in socket order, when any
    // part has them.
    let infos = parts.iter().any(|(_, s)| !s.tcp_infos.is_empty());
    merged
        .sockets
        .reserve(parts.iter().map(|(_, s)| s.sockets.len()).sum());
    for (i, (label, snapshot)) in parts.iter().enumerate() {
        if i == 0 {
            merged.host.clone_from(&snapshot.host);
            merged.limits = snapshot.limits.clone();
            merged.source = snapshot.source;
            merged.attribution = snapshot.attribution.clone();
        }
        let at = merged.namespaces.push((*label).clone());
        let mut renumbered = Vec::with_capacity(snapshot.processes.len());
        for process in &snapshot.processes {
            let next = u32::try_from(merged.processes.len()).unwrap_or(u32::MAX);
            let index = *pids.entry(process.pid).or_insert_with(|| {
                merged.processes.push(process.clone());
                next
            });
            renumbered.push(index);
        }
        for (i, socket) in snapshot.sockets.iter().enumerate() {
            if infos {
                merged
                    .tcp_infos
                    .push(socket.cookie, snapshot.tcp_infos.at(i, socket).copied());
            }
            let mut socket = *socket;
            let start = merged.owner_index.len();
            merged.owner_index.extend(
                snapshot
                    .owner_indices(&socket)
                    .iter()
                    .filter_map(|&o| renumbered.get(o as usize).copied()),
            );
            socket.owners = Owners {
                start: u32::try_from(start).unwrap_or(u32::MAX),
                len: u32::try_from(merged.owner_index.len() - start).unwrap_or(0),
            };
            merged.namespaces.insert(socket.cookie, at);
            merged
                .cgroups
                .record(&socket, snapshot.cgroups.id_of(&socket).unwrap_or(0));
            merged.sockets.push(socket);
        }
        known.extend(snapshot.cgroups.known().iter().cloned());
        add_counters(&mut merged.counters, &snapshot.counters);
    }
    merged.cgroups.set_known(known);
    merged
}

/// Add `more`'s counters to `sum`'s, name by name (names `sum` lacks are appended).
fn add_counters(sum: &mut Counters, more: &Counters) {
    fn add<T: Copy + std::ops::Add<Output = T>>(sum: &mut Vec<(String, T)>, more: &[(String, T)]) {
        for (name, value) in more {
            match sum.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => *v = *v + *value,
                None => sum.push((name.clone(), *value)),
            }
        }
    }
    add(&mut sum.tcp_ext, &more.tcp_ext);
    add(&mut sum.tcp, &more.tcp);
    add(&mut sum.sockstat, &more.sockstat);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::model::{Process, Socket, TcpState};

    fn state(name: &str, inode: u64, snapshot: Snapshot) -> NamespaceRound {
        let label = NetnsLabel {
            name: name.to_owned(),
            inode,
            container: None,
        };
        NamespaceRound::polled(inode, label, Ok(Arc::new(snapshot)))
    }

    fn socket(cookie: u64, state: TcpState, owners: Owners) -> Socket {
        let mut s = Socket::new(
            state,
            "192.0.2.1:80".parse().unwrap(),
            "192.0.2.9:4000".parse().unwrap(),
        );
        s.cookie = cookie;
        s.owners = owners;
        s
    }

    fn process(pid: u32, comm: &str) -> Process {
        Process {
            pid,
            comm: comm.into(),
            ..Process::default()
        }
    }

    #[test]
    fn merging_keeps_each_socket_with_its_namespace_and_its_owner() {
        let one = Snapshot {
            sockets: vec![
                socket(1, TcpState::Listen, Owners { start: 0, len: 1 }),
                socket(2, TcpState::CloseWait, Owners { start: 1, len: 1 }),
            ],
            processes: vec![process(10, "web"), process(11, "leaky")],
            owner_index: vec![0, 1],
            counters: Counters {
                tcp: vec![("ActiveOpens".to_owned(), 3)],
                ..Counters::default()
            },
            ..Snapshot::default()
        };
        let two = Snapshot {
            // Process 11 holds a socket here too: it is listed once.
            sockets: vec![socket(
                3,
                TcpState::Established,
                Owners { start: 0, len: 1 },
            )],
            processes: vec![process(11, "leaky")],
            owner_index: vec![0],
            counters: Counters {
                tcp: vec![("ActiveOpens".to_owned(), 4)],
                ..Counters::default()
            },
            ..Snapshot::default()
        };
        let mut vanished = state("gone", 3, Snapshot::default());
        vanished.snapshot = None;
        let merged = merge(&[state("host", 1, one), state("web", 2, two), vanished]);
        assert_eq!(merged.sockets.len(), 3);
        assert_eq!(merged.netns, "3 namespaces");
        let owner = |cookie: u64| {
            let s = merged.sockets.iter().find(|s| s.cookie == cookie).unwrap();
            merged.owners(s).map(|p| p.pid).collect::<Vec<_>>()
        };
        assert_eq!(owner(1), [10]);
        assert_eq!(owner(2), [11]);
        assert_eq!(owner(3), [11]);
        assert_eq!(merged.processes.len(), 2);
        let netns = |cookie| merged.namespaces.of(cookie).map(|l| l.name.as_str());
        assert_eq!(
            (netns(1), netns(2), netns(3)),
            (Some("host"), Some("host"), Some("web"))
        );
        assert_eq!(merged.counters.tcp("ActiveOpens"), Some(7));
        assert_eq!(merged.namespaces.len(), 2);
    }
}
