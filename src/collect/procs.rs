//! Process attribution: which processes hold each socket, from `/proc/*/fd`.
//!
//! One walk per poll: every descriptor of every process is readlink'ed once, and
//! `socket:[INODE]` targets whose inode belongs to the snapshot are kept. Sockets with
//! inode 0 (TIME_WAIT, request sockets) belong to no process and are never looked up.
//! `comm` and `cmdline` are read only for processes that hold a snapshot socket, and cached
//! per pid and start time between polls.

mod cache;
mod scan;

use std::hash::Hasher;
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags, open};

use crate::model::{Attribution, Owners, Snapshot};
use cache::ProcessCache;
use scan::{FdScanner, InodeSet};

/// Maps socket inodes to the processes holding them; keeps a per-pid cache between polls.
#[derive(Debug)]
pub struct Attributor {
    proc_root: PathBuf,
    scanner: FdScanner,
    cache: ProcessCache,
    wanted: InodeSet,
    hits: Vec<(u32, u32)>,
    pids: Vec<u32>,
}

impl Default for Attributor {
    fn default() -> Self {
        Attributor::new()
    }
}

impl Attributor {
    /// An attributor reading `/proc`.
    pub fn new() -> Attributor {
        Attributor::with_proc_root("/proc")
    }

    /// An attributor reading another proc root (tests).
    pub fn with_proc_root(root: impl Into<PathBuf>) -> Attributor {
        Attributor {
            proc_root: root.into(),
            scanner: FdScanner::new(),
            cache: ProcessCache::default(),
            wanted: InodeSet::default(),
            hits: Vec::new(),
            pids: Vec::new(),
        }
    }

    /// How many processes the per-pid cache holds (those that held sockets at the last poll).
    pub fn cached_processes(&self) -> usize {
        self.cache.len()
    }

    /// Fill `snapshot.processes`, `owner_index`, each socket's `owners` and `attribution`.
    ///
    /// Processes come out sorted by pid, and so does each socket's owner list. When the
    /// proc root itself cannot be opened, attribution is [`Attribution::Skipped`].
    pub fn attribute(&mut self, snapshot: &mut Snapshot) {
        snapshot.processes.clear();
        snapshot.owner_index.clear();
        for socket in &mut snapshot.sockets {
            socket.owners = Owners::default();
        }
        self.wanted.clear();
        self.wanted.extend(
            snapshot
                .sockets
                .iter()
                .map(|s| s.inode)
                .filter(|inode| *inode != 0),
        );
        if self.wanted.is_empty() {
            snapshot.attribution = Attribution::Complete;
            return;
        }
        let Ok(proc_dir) = open(
            &self.proc_root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            snapshot.attribution = Attribution::Skipped;
            return;
        };

        self.hits.clear();
        let unreadable = self.scanner.scan(&proc_dir, &self.wanted, &mut self.hits);
        // Sorted by inode then pid: each socket's owners are one sorted, duplicate-free run.
        self.hits.sort_unstable();
        self.hits.dedup();

        self.pids.clear();
        self.pids.extend(self.hits.iter().map(|(_, pid)| *pid));
        self.pids.sort_unstable();
        self.pids.dedup();
        self.cache.begin_poll();
        for &pid in &self.pids {
            if let Some(process) = self.cache.lookup(&proc_dir, pid) {
                snapshot.processes.push(process);
            }
        }
        self.cache.end_poll();

        let processes = &snapshot.processes;
        for socket in &mut snapshot.sockets {
            if socket.inode == 0 {
                continue;
            }
            let first = self
                .hits
                .partition_point(|(inode, _)| *inode < socket.inode);
            let start = snapshot.owner_index.len();
            for (_, pid) in self.hits[first..]
                .iter()
                .take_while(|(inode, _)| *inode == socket.inode)
            {
                // A process that exited before its comm was read is not in the table.
                if let Ok(index) = processes.binary_search_by_key(pid, |p| p.pid) {
                    snapshot.owner_index.push(index as u32);
                }
            }
            let len = snapshot.owner_index.len() - start;
            if len > 0 {
                socket.owners = Owners {
                    start: start as u32,
                    len: len as u32,
                };
            }
        }
        snapshot.attribution = if unreadable == 0 {
            Attribution::Complete
        } else {
            Attribution::Partial { unreadable }
        };
    }
}

/// A hasher for socket inodes: small sequential integers, so one multiply spreads them
/// well enough, far cheaper than SipHash on a million lookups.
#[derive(Default)]
struct InodeHasher(u64);

impl Hasher for InodeHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests;
