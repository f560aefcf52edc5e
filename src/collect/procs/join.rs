//! The inode → process join: which of the snapshot's sockets each process holds, by
//! merging two sorted lists — the sockets' inodes and the `(inode, pid)` pairs the
//! descriptor tables hold — instead of a hash lookup per socket.

use crate::hash::FastMap;
use crate::model::{Owners, Snapshot, Socket};

/// Which processes hold which socket inodes: `(inode, pid)` pairs, as the descriptor
/// tables list them, sorted by inode then pid.
#[derive(Clone, Debug, Default)]
pub struct InodeOwners {
    pairs: Vec<(u32, u32)>,
}

impl InodeOwners {
    /// Pairs in any order, duplicates allowed (a process may hold one socket twice).
    pub fn from_pairs(mut pairs: Vec<(u32, u32)>) -> InodeOwners {
        pairs.sort_unstable();
        pairs.dedup();
        InodeOwners { pairs }
    }

    /// How many `(inode, pid)` pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no process holds any socket.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Marks a socket no process is known to hold.
const NO_RUN: u32 = u32::MAX;

/// One snapshot matched against an [`InodeOwners`]; its buffers are reused across polls.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    /// `inode << 32 | socket index` of every socket with an inode, sorted.
    keys: Vec<u64>,
    /// `(first pair, pairs)` of each socket some process holds.
    runs: Vec<(u32, u32)>,
    /// The run of each socket, by socket index ([`NO_RUN`] for none).
    run_of: Vec<u32>,
    /// Inodes of snapshot sockets no process is known to hold, sorted.
    pub unexplained: Vec<u32>,
    /// Processes holding snapshot sockets, by pid, with how many they hold.
    pub holders: Vec<(u32, u32)>,
}

impl Matches {
    /// Whether any socket has an inode (only those can belong to a process).
    pub fn wanted(sockets: &[Socket]) -> bool {
        sockets.iter().any(|s| s.inode != 0)
    }

    /// Match `sockets` against `owners`.
    pub fn find(&mut self, sockets: &[Socket], owners: &InodeOwners) {
        self.keys.clear();
        self.keys.extend(
            sockets
                .iter()
                .enumerate()
                .filter(|(_, s)| s.inode != 0)
                .map(|(i, s)| u64::from(s.inode) << 32 | i as u64),
        );
        self.keys.sort_unstable();
        self.runs.clear();
        self.run_of.clear();
        self.run_of.resize(sockets.len(), NO_RUN);
        self.unexplained.clear();
        let pairs = &owners.pairs;
        let mut at = 0;
        // Few processes hold many sockets: a small map, not a list of a million pids.
        let mut counts: FastMap<u32, u32> = FastMap::default();
        for &key in &self.keys {
            let inode = (key >> 32) as u32;
            while at < pairs.len() && pairs[at].0 < inode {
                at += 1;
            }
            let len = pairs[at..].iter().take_while(|(i, _)| *i == inode).count();
            if len == 0 {
                self.unexplained.push(inode);
                continue;
            }
            self.run_of[key as u32 as usize] = self.runs.len() as u32;
            self.runs.push((at as u32, len as u32));
            for (_, pid) in &pairs[at..at + len] {
                *counts.entry(*pid).or_default() += 1;
            }
        }
        self.holders.clear();
        self.holders.extend(counts);
        self.holders.sort_unstable();
    }

    /// The pids holding the socket at `index` of the snapshot the last [`Matches::find`]
    /// (made with these `owners`) matched, by pid.
    pub(super) fn holders_of<'a>(
        &'a self,
        owners: &'a InodeOwners,
        index: usize,
    ) -> impl Iterator<Item = u32> + 'a {
        self.run_of
            .get(index)
            .and_then(|&run| self.runs.get(run as usize))
            .into_iter()
            .flat_map(move |&(first, len)| {
                owners.pairs[first as usize..(first + len) as usize]
                    .iter()
                    .map(|&(_, pid)| pid)
            })
    }

    /// Give back the per-socket buffers (a million sockets hold 20 MB in them); the next
    /// [`Matches::find`] allocates them again.
    pub fn release(&mut self) {
        self.keys = Vec::new();
        self.runs = Vec::new();
        self.run_of = Vec::new();
    }

    /// Fill `snapshot.owner_index` and each socket's `owners` from the last [`Matches::find`]
    /// (made with these `owners`), pointing into `snapshot.processes` (sorted by pid);
    /// holders missing from it (exited before their name was read) are left out.
    pub fn write_owners(&self, owners: &InodeOwners, snapshot: &mut Snapshot) {
        snapshot.owner_index.clear();
        // The index in `processes` of each holder (holders and processes are both by pid).
        let index_of: FastMap<u32, u32> = snapshot
            .processes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.pid, i as u32))
            .collect();
        let Snapshot {
            sockets,
            owner_index,
            ..
        } = snapshot;
        // In snapshot order: one sequential pass over the sockets.
        for (socket, &run) in sockets.iter_mut().zip(&self.run_of) {
            socket.owners = Owners::default();
            let Some(&(first, len)) = self.runs.get(run as usize) else {
                continue;
            };
            let start = owner_index.len();
            for (_, pid) in &owners.pairs[first as usize..(first + len) as usize] {
                if let Some(&index) = index_of.get(pid) {
                    owner_index.push(index);
                }
            }
            let len = owner_index.len() - start;
            if len > 0 {
                socket.owners = Owners {
                    start: start as u32,
                    len: len as u32,
                };
            }
        }
    }
}

/// The items of sorted `all` that are not in sorted `known`.
pub(super) fn sorted_difference(all: &[u32], known: &[u32]) -> Vec<u32> {
    let mut k = 0;
    all.iter()
        .copied()
        .filter(|x| {
            while k < known.len() && known[k] < *x {
                k += 1;
            }
            known.get(k) != Some(x)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Process, TcpState};

    #[test]
    fn each_socket_gets_its_holders_by_pid_and_strangers_are_unexplained() {
        let any = "127.0.0.1:1".parse().unwrap();
        let socket = |inode| {
            let mut s = Socket::new(TcpState::Established, any, any);
            s.inode = inode;
            s
        };
        let mut snapshot = Snapshot {
            sockets: vec![socket(30), socket(0), socket(10), socket(99), socket(20)],
            processes: [5, 7]
                .map(|pid| Process {
                    pid,
                    comm: format!("p{pid}"),
                    cmdline: String::new(),
                    ..Process::default()
                })
                .to_vec(),
            ..Snapshot::default()
        };
        let owners =
            InodeOwners::from_pairs(vec![(10, 7), (30, 5), (10, 5), (20, 9), (10, 7), (40, 5)]);
        let mut matches = Matches::default();
        matches.find(&snapshot.sockets, &owners);
        assert_eq!(matches.unexplained, [99]);
        assert_eq!(matches.holders, [(5, 2), (7, 1), (9, 1)]);
        matches.write_owners(&owners, &mut snapshot);
        let pids = |i: usize| -> Vec<u32> {
            snapshot
                .owners(&snapshot.sockets[i])
                .map(|p| p.pid)
                .collect()
        };
        assert_eq!(pids(2), [5, 7]);
        assert_eq!(pids(0), [5]);
        assert!(pids(4).is_empty(), "pid 9 has no process entry");
        assert_eq!(snapshot.sockets[4].owners, Owners::default());
        assert_eq!(snapshot.owner_index, [0, 0, 1]);
    }

    #[test]
    fn difference_of_sorted_lists() {
        assert_eq!(sorted_difference(&[1, 3, 5, 7], &[2, 3, 7, 9]), [1, 5]);
        assert_eq!(sorted_difference(&[], &[1]), Vec::<u32>::new());
        assert_eq!(sorted_difference(&[4], &[]), [4]);
    }
}
