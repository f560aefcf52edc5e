//! One walk of `/proc/*/fd` for the snapshots of many namespaces (`--all-netns`). Socket
//! inodes are unique host-wide (sockfs numbers them, whatever the namespace), so the
//! sockets of every namespace are attributed together, as one snapshot, and then given
//! back to their namespaces, each with the processes that hold its own sockets.

use std::convert::Infallible;

use super::Attributor;
use crate::model::{Owners, Process, Snapshot, Socket};

impl Attributor {
    /// Run `collect` (one dump per namespace) while the descriptor tables are walked once,
    /// as [`Attributor::attribute_during`] does for one snapshot, and give every snapshot
    /// that `collect` returned its owners. Failed dumps are returned as they are. A socket
    /// no table explains after the dump is looked for among its own namespace's
    /// listener owners and holders (`procs/suspects.rs`).
    pub fn attribute_each_during<E>(
        &mut self,
        collect: impl FnOnce() -> Vec<Result<Snapshot, E>>,
    ) -> Vec<Result<Snapshot, E>> {
        let mut results = Vec::new();
        let mut lens = Vec::new();
        let merged: Result<Snapshot, Infallible> = self.attribute_parts_during(|| {
            results = collect();
            let mut all = Snapshot::default();
            for snapshot in results.iter_mut().flatten() {
                lens.push(snapshot.sockets.len());
                all.sockets.append(&mut snapshot.sockets);
            }
            Ok((all, lens.clone()))
        });
        let Ok(mut all) = merged;
        // From the end: each split_off moves only the part it takes.
        let mut lens = lens.into_iter().rev();
        for snapshot in results.iter_mut().rev().flatten() {
            let len = lens.next().unwrap_or(0);
            let mut sockets = all.sockets.split_off(all.sockets.len().saturating_sub(len));
            let (processes, owner_index) = owners_of(&all, &mut sockets);
            snapshot.sockets = sockets;
            snapshot.processes = processes;
            snapshot.owner_index = owner_index;
            snapshot.attribution = all.attribution.clone();
        }
        results
    }
}

/// The processes holding `sockets` (a part of `all`, whose owners they still point at), in
/// pid order as in `all`, and the owner index that `sockets` are rewritten to point into.
fn owners_of(all: &Snapshot, sockets: &mut [Socket]) -> (Vec<Process>, Vec<u32>) {
    let mut used: Vec<u32> = sockets
        .iter()
        .flat_map(|s| all.owner_indices(s).iter().copied())
        .collect();
    used.sort_unstable();
    used.dedup();
    let processes = used
        .iter()
        .filter_map(|&i| all.processes.get(i as usize).cloned())
        .collect();
    let mut owner_index = Vec::new();
    for socket in sockets {
        let start = owner_index.len();
        for old in all.owner_indices(socket) {
            if let Ok(new) = used.binary_search(old) {
                owner_index.push(u32::try_from(new).unwrap_or(u32::MAX));
            }
        }
        socket.owners = Owners {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(owner_index.len() - start).unwrap_or(0),
        };
    }
    (processes, owner_index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;
    use crate::model::fixture::socket;

    #[test]
    fn a_part_keeps_only_its_own_holders_in_pid_order() {
        let process = |pid| Process {
            pid,
            comm: format!("p{pid}"),
            ..Process::default()
        };
        let all = Snapshot {
            processes: vec![process(10), process(20), process(30)],
            owner_index: vec![2, 0, 2],
            ..Snapshot::default()
        };
        let mut part = vec![
            socket(TcpState::Established)
                .inode(1)
                .owners(Owners { start: 1, len: 2 }),
            socket(TcpState::Established).inode(2),
            socket(TcpState::Established)
                .inode(3)
                .owners(Owners { start: 0, len: 1 }),
        ];
        let (processes, owner_index) = owners_of(&all, &mut part);
        let pids: Vec<u32> = processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, [10, 30]);
        assert_eq!(owner_index, [0, 1, 1]);
        assert_eq!(part[0].owners, Owners { start: 0, len: 2 });
        assert_eq!(part[1].owners, Owners { start: 2, len: 0 });
        assert_eq!(part[2].owners, Owners { start: 2, len: 1 });
    }

    #[test]
    fn every_namespace_s_sockets_come_back_to_it_and_failures_stay() {
        let mut attributor = Attributor::with_proc_root("/nonexistent-proc-root");
        let part = |inodes: &[u32]| Snapshot {
            sockets: inodes
                .iter()
                .map(|&i| socket(TcpState::Established).inode(i))
                .collect(),
            ..Snapshot::default()
        };
        let results = attributor
            .attribute_each_during(|| vec![Ok(part(&[1, 2])), Err("gone"), Ok(part(&[3]))]);
        let inodes: Vec<Result<Vec<u32>, &str>> = results
            .iter()
            .map(|r| {
                r.as_ref()
                    .map(|s| s.sockets.iter().map(|s| s.inode).collect())
                    .map_err(|e| *e)
            })
            .collect();
        assert_eq!(inodes, [Ok(vec![1, 2]), Err("gone"), Ok(vec![3])]);
    }
}
