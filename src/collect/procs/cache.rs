//! The per-pid cache: what each process's descriptor table held when it was last read, and
//! the identity (`comm`, `cmdline`, open-file limit) of the processes that hold snapshot
//! sockets. Entries are keyed by pid and start time (`/proc/PID/stat` field 22), so a pid
//! the kernel hands to a new process is read afresh.
//!
//! # The open-file limit
//!
//! A soft limit changes only by `setrlimit`/`prlimit`, rarely, but it can. Reading every
//! holder's `/proc/PID/limits` every poll would cost three syscalls per process per poll
//! for a value that almost never moves, so it is read with the identity (the first poll a
//! process holds a snapshot socket), then again
//!
//! - every [`RECHECK_POLLS`] polls (spread by pid, as the descriptor re-checks are), so a
//!   changed limit shows within one to two minutes at one poll a second;
//! - and at every poll while the process holds at least half of its last known limit: only
//!   there can the limit decide an anomaly, and there it is never stale. Few processes are
//!   ever that close, so this stays cheap with thousands of processes.

use std::collections::HashMap;
use std::path::Path;

use super::identity;
use crate::model::Process;

/// Polls between two readings of a descriptor table whose count did not change (see
/// [`super`]'s notes on the change signal); spread by pid so they do not come at once.
pub(super) const RECHECK_POLLS: u64 = 60;

/// One process's descriptor table as last read.
#[derive(Debug)]
pub(super) struct CachedTable {
    /// Start time when the table was read; `None` when `/proc/PID/stat` was unreadable
    /// (the table is then read again every poll).
    pub start_time: Option<u64>,
    /// Descriptors open when the table was read (`stat` size of `/proc/PID/fd`; 0: unknown).
    pub fd_count: u64,
    /// Socket inodes among its descriptors, sorted, without duplicates.
    pub sockets: Vec<u32>,
    /// Poll at which the table is read again even if its count did not change.
    pub recheck_at: u64,
    /// Poll that last read the table.
    pub read_at: u64,
    /// Poll that last listed the pid.
    pub seen_at: u64,
    /// Snapshot sockets it held at the last poll (the busiest are searched first).
    pub matched: u32,
    /// Descriptors the last reading of its table counted (an unchanged count keeps it).
    pub descriptors: u64,
    /// comm, cmdline and open-file limit, once read while it held snapshot sockets.
    pub process: Option<Process>,
    /// Poll at which the open-file limit is read again (see the module notes).
    pub limit_due_at: u64,
}

/// A freshly read descriptor table.
#[derive(Debug)]
pub(super) struct DescriptorTable {
    pub start_time: Option<u64>,
    pub fd_count: u64,
    pub sockets: Vec<u32>,
    pub descriptors: u64,
}

/// Every process seen at the last poll.
#[derive(Debug, Default)]
pub(super) struct ProcessCache {
    entries: HashMap<u32, CachedTable>,
}

impl ProcessCache {
    /// The entry of `pid`.
    pub(super) fn get(&self, pid: u32) -> Option<&CachedTable> {
        self.entries.get(&pid)
    }

    /// Every entry.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &CachedTable)> {
        self.entries.iter().map(|(pid, e)| (*pid, e))
    }

    /// How many processes have their identity cached.
    pub(super) fn identities(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.process.is_some())
            .count()
    }

    /// `pid` was listed at `poll` and its table did not need reading.
    pub(super) fn keep(&mut self, pid: u32, poll: u64) {
        if let Some(e) = self.entries.get_mut(&pid) {
            e.seen_at = poll;
        }
    }

    /// Store a table read at `poll`. Returns whether the socket inodes changed.
    pub(super) fn store(&mut self, pid: u32, table: DescriptorTable, poll: u64) -> bool {
        let recheck_at = poll + RECHECK_POLLS + u64::from(pid) % RECHECK_POLLS;
        match self.entries.get_mut(&pid) {
            Some(e) => {
                if e.start_time != table.start_time || table.start_time.is_none() {
                    e.process = None;
                }
                let changed = e.sockets != table.sockets;
                e.start_time = table.start_time;
                e.fd_count = table.fd_count;
                e.descriptors = table.descriptors;
                e.sockets = table.sockets;
                e.recheck_at = recheck_at;
                e.read_at = poll;
                e.seen_at = poll;
                changed
            }
            None => {
                let changed = !table.sockets.is_empty();
                self.entries.insert(
                    pid,
                    CachedTable {
                        start_time: table.start_time,
                        fd_count: table.fd_count,
                        sockets: table.sockets,
                        recheck_at,
                        read_at: poll,
                        seen_at: poll,
                        matched: 0,
                        descriptors: table.descriptors,
                        process: None,
                        limit_due_at: 0,
                    },
                );
                changed
            }
        }
    }

    /// Forget `pid` (it exited, or its table is unreadable). Returns whether it held sockets.
    pub(super) fn remove(&mut self, pid: u32) -> bool {
        self.entries
            .remove(&pid)
            .is_some_and(|e| !e.sockets.is_empty())
    }

    /// Forget the pids `poll` did not list. Returns whether any of them held sockets.
    pub(super) fn end_poll(&mut self, poll: u64) -> bool {
        let mut changed = false;
        self.entries.retain(|_, e| {
            let keep = e.seen_at == poll;
            changed |= !keep && !e.sockets.is_empty();
            keep
        });
        changed
    }

    /// Pids listed at `poll` whose table was not read at it, busiest first: where a socket
    /// nobody is known to hold is looked for.
    pub(super) fn unread_at(&self, poll: u64) -> Vec<u32> {
        let mut pids: Vec<(u32, u32)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.seen_at == poll && e.read_at != poll)
            .map(|(pid, e)| (*pid, e.matched))
            .collect();
        pids.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        pids.into_iter().map(|(pid, _)| pid).collect()
    }

    /// Record how many snapshot sockets each process holds (`matched`, by pid, sorted) and
    /// drop the identity of those that hold none.
    pub(super) fn set_matched(&mut self, matched: &[(u32, u32)]) {
        for (pid, e) in &mut self.entries {
            e.matched = matched
                .binary_search_by_key(pid, |(p, _)| *p)
                .map_or(0, |i| matched[i].1);
            if e.matched == 0 {
                e.process = None;
            }
        }
    }

    /// The identity of `pid` at `poll`, with the descriptors its table last counted: from
    /// the cache, or read now under `proc_root`; the open-file limit is read again when
    /// due (see the module notes). `None` when it has exited.
    pub(super) fn identity(&mut self, proc_root: &Path, pid: u32, poll: u64) -> Option<Process> {
        let entry = self.entries.get_mut(&pid)?;
        let due_at = poll + RECHECK_POLLS + u64::from(pid) % RECHECK_POLLS;
        let mut process = match entry.process.take() {
            Some(mut process) => {
                let near = process
                    .fd_limit
                    .is_some_and(|limit| entry.descriptors.saturating_mul(2) >= limit);
                if poll >= entry.limit_due_at || near {
                    process.fd_limit = identity::soft_nofile(&identity::handle(proc_root, pid)?);
                    entry.limit_due_at = due_at;
                }
                process
            }
            None => {
                entry.limit_due_at = due_at;
                identity::read(proc_root, pid, entry.start_time)?
            }
        };
        process.descriptors = Some(entry.descriptors);
        if entry.start_time.is_some() {
            entry.process = Some(process.clone());
        }
        Some(process)
    }
}

/// Field 22 of `/proc/PID/stat` (start time in clock ticks since boot). The comm in
/// field 2 may hold spaces and parentheses, so fields are counted after the last `)`.
pub(super) fn parse_start_time(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After ")" comes field 3 (state); field 22 is the 20th from there.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}
