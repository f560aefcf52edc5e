//! One walk over every listed process, shared between threads: each claims the next pid,
//! checks whether its descriptor table may have changed since the cache read it, and reads
//! it again only then.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cache::{DescriptorTable, ProcessCache, parse_start_time};
use super::scan::{FdScanner, ScanFailure, classify};

/// What the walk found for one pid.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Same process, same number of descriptors, not due for a re-read: the cached table stands.
    Unchanged,
    /// The table, read now.
    Read(DescriptorTable),
    /// Its descriptors cannot be read (another user's process, without root).
    Unreadable,
    /// It exited during the walk.
    Gone,
}

/// The pids of one poll and the cursor the walking threads share.
pub(super) struct Walk<'a> {
    proc_dir: &'a OwnedFd,
    pids: &'a [u32],
    cache: &'a ProcessCache,
    poll: u64,
    counts_known: bool,
    next: AtomicUsize,
}

impl<'a> Walk<'a> {
    /// A walk over `pids` at `poll`, judging tables against `cache`; `counts_known` when
    /// the kernel reports descriptor counts (see [`still_valid`]).
    pub(super) fn new(
        proc_dir: &'a OwnedFd,
        pids: &'a [u32],
        cache: &'a ProcessCache,
        poll: u64,
        counts_known: bool,
    ) -> Walk<'a> {
        Walk {
            proc_dir,
            pids,
            cache,
            poll,
            counts_known,
            next: AtomicUsize::new(0),
        }
    }

    /// Visit pids until none is left; any number of threads may run this at once.
    pub(super) fn run(&self, scanner: &mut FdScanner) -> Vec<(u32, Outcome)> {
        let mut outcomes = Vec::new();
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&pid) = self.pids.get(i) else {
                return outcomes;
            };
            outcomes.push((pid, self.visit(scanner, pid)));
        }
    }

    /// Leave the pids no thread has claimed yet unvisited.
    pub(super) fn abandon(&self) {
        self.next.store(self.pids.len(), Ordering::Relaxed);
    }

    fn visit(&self, scanner: &mut FdScanner, pid: u32) -> Outcome {
        let Some((start_time, fd_count)) = identify(scanner, self.proc_dir, pid) else {
            return Outcome::Gone;
        };
        let unchanged = self.cache.get(pid).is_some_and(|e| {
            still_valid(
                (e.start_time, e.fd_count, e.recheck_at),
                start_time,
                fd_count,
                self.poll,
                self.counts_known,
            )
        });
        if unchanged {
            return Outcome::Unchanged;
        }
        read_table(scanner, self.proc_dir, pid, start_time, fd_count)
    }
}

/// Whether a table cached as `(start time, descriptor count, re-check poll)` still stands
/// for a process seen now with `start_time` and `fd_count` at `poll`: the same process
/// (known start time), an unchanged count that means something (0 only when `counts_known`:
/// the kernel reports counts, so 0 is a process without descriptors, a kernel thread), and
/// not yet due for a re-read.
pub(super) fn still_valid(
    (cached_start, cached_count, recheck_at): (Option<u64>, u64, u64),
    start_time: Option<u64>,
    fd_count: u64,
    poll: u64,
    counts_known: bool,
) -> bool {
    start_time.is_some()
        && cached_start == start_time
        && (fd_count != 0 || counts_known)
        && cached_count == fd_count
        && poll < recheck_at
}

/// `pid`'s start time (`None` if unreadable) and descriptor count (0 if unknown), the
/// count taken before the table is read so that a change during the read shows at the
/// next poll; `None` when the process is gone (its descriptor directory is).
///
/// Made for every pid at every poll, so `stat` is read by hand, not with procfs's
/// `Process::new(pid)?.stat()`: that opens a `/proc/PID` handle first and parses all 52
/// fields, 10–17 % more per process (`cargo bench --bench procfs`: 9.8 µs against 10.8 µs,
/// and 8.7 µs against 10.2 µs); the cold reads of a holder go through procfs
/// ([`super::identity`]).
pub(super) fn identify(
    scanner: &mut FdScanner,
    proc_dir: &OwnedFd,
    pid: u32,
) -> Option<(Option<u64>, u64)> {
    // Whether the process is gone is for the descriptor table to say: a process whose
    // stat cannot be read may still have descriptors to count as unreadable.
    let start_time = scanner
        .read(proc_dir, pid, "stat")
        .ok()
        .and_then(parse_start_time);
    let fd_count = match scanner.fd_count(proc_dir, pid) {
        Ok(n) => n,
        Err(e) if classify(e) == ScanFailure::Vanished => return None,
        Err(_) => 0,
    };
    Some((start_time, fd_count))
}

/// Read `pid`'s descriptor table now, whatever the cache holds.
pub(super) fn read_fresh(scanner: &mut FdScanner, proc_dir: &OwnedFd, pid: u32) -> Outcome {
    match identify(scanner, proc_dir, pid) {
        Some((start_time, fd_count)) => read_table(scanner, proc_dir, pid, start_time, fd_count),
        None => Outcome::Gone,
    }
}

/// Read `pid`'s descriptor table now.
pub(super) fn read_table(
    scanner: &mut FdScanner,
    proc_dir: &OwnedFd,
    pid: u32,
    start_time: Option<u64>,
    fd_count: u64,
) -> Outcome {
    let mut sockets = Vec::new();
    match scanner.socket_inodes(proc_dir, pid, fd_count, &mut sockets) {
        Ok(descriptors) => {
            sockets.sort_unstable();
            sockets.dedup();
            Outcome::Read(DescriptorTable {
                start_time,
                fd_count,
                sockets,
                descriptors,
            })
        }
        Err(errno) => match classify(errno) {
            ScanFailure::Vanished => Outcome::Gone,
            ScanFailure::Unreadable => Outcome::Unreadable,
        },
    }
}
