//! Process attribution: which processes hold each socket, from `/proc/*/fd`.
//!
//! Every process's descriptor table is read — each `/proc/PID/fd/N` readlink'ed once and
//! its `socket:[INODE]` targets kept — and the snapshot's sockets are joined to those
//! inodes (see [`join`]). Sockets with inode 0 (TIME_WAIT, request sockets) belong to no
//! process and are never looked up.
//!
//! # Incremental
//!
//! A full walk costs a syscall per descriptor: a second at a million sockets. So the
//! tables are cached per pid, and at each poll a table is read again only when
//!
//! - the pid is new, or its start time (`/proc/PID/stat` field 22) changed: another process;
//! - its descriptor count changed: the size `stat` reports for `/proc/PID/fd` (Linux 6.2+);
//! - the snapshot holds a socket inode no cached table explains: then the tables not read
//!   this poll are read, busiest first, until every such inode is found (or all are read —
//!   inodes that nobody visible holds are remembered and do not trigger a search again);
//! - or it was last read `cache::RECHECK_POLLS` polls ago (spread by pid).
//!
//! The walk runs while the sockets are dumped, so a socket can be opened after its holder's
//! table was read and still be in the dump. After the dump, when socket inodes are left
//! that no table explains (and the tables not read this poll do not explain them either),
//! the pids are listed again and the tables of new pids, restarted processes and processes
//! whose descriptor count changed since the walk are read once more. A process that
//! closed one socket and opened another in the same descriptor slot since the walk read
//! its table (a server accepting a connection in place of one it closed) changed
//! neither, so when inodes are still unexplained after that, the tables of the
//! processes that could hold them are read again, bounded (`procs/suspects.rs`): the
//! owners of the listeners a server-side socket may come from, then the namespace's
//! other holders. When nothing is missing this costs nothing.
//!
//! Checking a process costs four syscalls instead of one per descriptor. The limits:
//! a process that, between two polls, closes and opens as many descriptors as it
//! had — and whose new descriptors are all sockets some cached table already lists
//! (a socket passed to it, or dup'ed, while another process holds it too) — keeps its old
//! table until the re-check: it can miss being listed as a second owner, or stay listed
//! as the owner of a socket it no longer holds while another process still does. A
//! socket nobody held before is always found. On kernels before 6.2 (no descriptor count)
//! every table is read every poll, as a full walk.
//!
//! The walk runs on a thread of its own while the caller dumps the sockets
//! ([`Attributor::attribute_during`]), and the caller joins in when its dump is done.
//! `comm`, `cmdline` and the open-file limit are read only for processes that hold a
//! snapshot socket, through `procfs` (`procs/identity.rs`), and cached with the table;
//! each such process also carries the descriptor count its table read found (see
//! `procs/cache.rs` for when the limit is read again).

mod cache;
mod identity;
pub mod join;
mod scan;
mod shared;
mod suspects;
mod walk;

use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, open};

use crate::model::{Attribution, Owners, Snapshot};
use cache::ProcessCache;
use join::{InodeOwners, Matches, sorted_difference};
use scan::FdScanner;
use walk::{Outcome, Walk};

/// What the last poll's walk did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Processes listed.
    pub processes: usize,
    /// Descriptor tables read (the others were taken from the cache).
    pub tables_read: usize,
    /// Descriptors readlink'ed.
    pub descriptors_read: u64,
    /// Processes whose descriptors could not be read.
    pub unreadable: u32,
}

/// Maps socket inodes to the processes holding them; keeps a per-pid cache between polls.
#[derive(Debug)]
pub struct Attributor {
    proc_root: PathBuf,
    scanners: [FdScanner; 2],
    cache: ProcessCache,
    owners: InodeOwners,
    owners_stale: bool,
    matches: Matches,
    known_unowned: Vec<u32>,
    pids: Vec<u32>,
    poll: u64,
    stats: WalkStats,
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
            scanners: [FdScanner::new(), FdScanner::new()],
            cache: ProcessCache::default(),
            owners: InodeOwners::default(),
            owners_stale: true,
            matches: Matches::default(),
            known_unowned: Vec::new(),
            pids: Vec::new(),
            poll: 0,
            stats: WalkStats::default(),
        }
    }

    /// How many processes have their identity cached (those that held sockets at the last poll).
    pub fn cached_processes(&self) -> usize {
        self.cache.identities()
    }

    /// What the last poll's walk did.
    pub fn last_walk(&self) -> WalkStats {
        self.stats
    }

    /// Fill `snapshot.processes`, `owner_index`, each socket's `owners` and `attribution`.
    ///
    /// Processes come out sorted by pid, and so does each socket's owner list. When the
    /// proc root itself cannot be opened, attribution is [`Attribution::Skipped`].
    pub fn attribute(&mut self, snapshot: &mut Snapshot) {
        let taken = std::mem::take(snapshot);
        let result: Result<Snapshot, Infallible> = self.attribute_during(|| Ok(taken));
        let Ok(attributed) = result;
        *snapshot = attributed;
    }

    /// Run `collect` (the socket dump) on this thread while the descriptor tables are
    /// walked on another, help the walk when `collect` is done, then attribute the
    /// snapshot it returned as [`Attributor::attribute`] does. An error from `collect`
    /// is returned as is, and the rest of the walk skipped.
    pub fn attribute_during<E>(
        &mut self,
        collect: impl FnOnce() -> Result<Snapshot, E>,
    ) -> Result<Snapshot, E> {
        self.attribute_parts_during(|| {
            collect().map(|snapshot| {
                let len = snapshot.sockets.len();
                (snapshot, vec![len])
            })
        })
    }

    /// [`Attributor::attribute_during`] for a snapshot whose sockets are the namespaces'
    /// in turn, as many of each as the lengths `collect` returns with it say: where an
    /// inode no table explains is looked for depends on its namespace (see [`suspects`]).
    fn attribute_parts_during<E>(
        &mut self,
        collect: impl FnOnce() -> Result<(Snapshot, Vec<usize>), E>,
    ) -> Result<Snapshot, E> {
        let Some((proc_dir, counts_known)) = self.begin_poll() else {
            let (mut snapshot, _) = collect()?;
            clear_owners(&mut snapshot);
            snapshot.attribution = Attribution::Skipped;
            return Ok(snapshot);
        };
        let walk = Walk::new(&proc_dir, &self.pids, &self.cache, self.poll, counts_known);
        let [mine, helper] = &mut self.scanners;
        let (dumped, outcomes) = std::thread::scope(|scope| {
            let helping = scope.spawn(|| walk.run(helper));
            let dumped = collect();
            if dumped.is_err() {
                walk.abandon();
            }
            let mut outcomes = walk.run(mine);
            match helping.join() {
                Ok(theirs) => outcomes.extend(theirs),
                Err(panic) => std::panic::resume_unwind(panic),
            }
            (dumped, outcomes)
        });
        let (mut snapshot, parts) = dumped?;
        self.end_walk(outcomes);
        self.finish(&proc_dir, counts_known, &parts, &mut snapshot);
        Ok(snapshot)
    }

    /// Start a poll: open the proc root and list its pids. Returns the proc root and
    /// whether the kernel reports descriptor counts; `None` when the root cannot be opened.
    fn begin_poll(&mut self) -> Option<(OwnedFd, bool)> {
        self.poll += 1;
        let proc_dir = open(
            &self.proc_root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        scan::list_pids(&proc_dir, &mut self.pids);
        // Linux 6.2+ reports a descriptor count, and this process has a few.
        let counts_known = self.scanners[0]
            .fd_count(&proc_dir, "self")
            .is_ok_and(|n| n > 0);
        Some((proc_dir, counts_known))
    }

    /// Take in what the walk found for each pid.
    fn end_walk(&mut self, outcomes: Vec<(u32, Outcome)>) {
        self.stats = WalkStats {
            processes: self.pids.len(),
            ..WalkStats::default()
        };
        for (pid, outcome) in outcomes {
            self.apply(pid, outcome);
        }
        self.owners_stale |= self.cache.end_poll(self.poll);
    }

    fn apply(&mut self, pid: u32, outcome: Outcome) {
        match outcome {
            Outcome::Unchanged => self.cache.keep(pid, self.poll),
            Outcome::Read(table) => {
                self.stats.tables_read += 1;
                self.stats.descriptors_read += table.descriptors;
                self.owners_stale |= self.cache.store(pid, table, self.poll);
            }
            Outcome::Unreadable => {
                self.stats.unreadable += 1;
                self.owners_stale |= self.cache.remove(pid);
            }
            Outcome::Gone => self.owners_stale |= self.cache.remove(pid),
        }
    }

    fn rebuild_owners(&mut self) {
        if self.owners_stale {
            let pairs = self
                .cache
                .iter()
                .flat_map(|(pid, e)| e.sockets.iter().map(move |inode| (*inode, pid)))
                .collect();
            self.owners = InodeOwners::from_pairs(pairs);
            self.owners_stale = false;
        }
    }

    /// Join the snapshot to the cached tables, looking further for sockets nobody is
    /// known to hold, then read the identity of every holder. `parts` are the lengths of
    /// the namespaces whose sockets follow each other in the snapshot.
    fn finish(
        &mut self,
        proc_dir: &OwnedFd,
        counts_known: bool,
        parts: &[usize],
        snapshot: &mut Snapshot,
    ) {
        clear_owners(snapshot);
        if !Matches::wanted(&snapshot.sockets) {
            self.cache.set_matched(&[]);
            snapshot.attribution = Attribution::Complete;
            return;
        }
        self.rebuild_owners();
        self.matches.find(&snapshot.sockets, &self.owners);
        let mut missing = sorted_difference(&self.matches.unexplained, &self.known_unowned);
        if !missing.is_empty() {
            // Pids whose tables were read after the dump: they hold what they held then.
            let mut reread = Vec::new();
            for pid in self.cache.unread_at(self.poll) {
                reread.push(pid);
                if self.read_again(proc_dir, pid, &mut missing) {
                    break;
                }
            }
            if !missing.is_empty() {
                self.read_changed(proc_dir, counts_known, &mut missing, &mut reread);
            }
            if !missing.is_empty() {
                let suspects = suspects::suspects(
                    &snapshot.sockets,
                    parts,
                    &missing,
                    &self.matches,
                    &self.owners,
                    &reread,
                    |pid| self.cache.get(pid).map_or(0, |e| e.descriptors),
                );
                for pid in suspects {
                    if self.read_again(proc_dir, pid, &mut missing) {
                        break;
                    }
                }
            }
            if self.owners_stale {
                self.rebuild_owners();
                self.matches.find(&snapshot.sockets, &self.owners);
            }
        }
        self.known_unowned.clone_from(&self.matches.unexplained);
        self.cache.set_matched(&self.matches.holders);
        for &(pid, _) in &self.matches.holders {
            if let Some(process) = self.cache.identity(&self.proc_root, pid, self.poll) {
                snapshot.processes.push(process);
            }
        }
        self.matches.write_owners(&self.owners, snapshot);
        self.matches.release();
        // A process whose table cannot be read matters only if it may hold a socket of
        // this snapshot: one that no readable table explains.
        snapshot.attribution = match self.stats.unreadable {
            0 => Attribution::Complete,
            _ if self.known_unowned.is_empty() => Attribution::Complete,
            unreadable => Attribution::Partial { unreadable },
        };
    }
}

impl Attributor {
    /// After the dump, for sockets no table explains: they may have been opened after the
    /// walk read their holder's table, or by a process started after the pids were listed.
    /// List the pids again and read the tables of the processes that changed since the
    /// walk — a new pid, another start time, another descriptor count — until every such
    /// socket is found. Without descriptor counts (kernels before 6.2) only new and
    /// restarted processes can be told apart, and only they are read.
    fn read_changed(
        &mut self,
        proc_dir: &OwnedFd,
        counts_known: bool,
        missing: &mut Vec<u32>,
        reread: &mut Vec<u32>,
    ) {
        let mut walked = std::mem::take(&mut self.pids);
        walked.sort_unstable();
        let mut now = Vec::with_capacity(walked.len());
        // A directory handle lists its entries once: list them through a new one.
        if let Ok(listing) = open(
            &self.proc_root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            scan::list_pids(&listing, &mut now);
        }
        for &pid in &now {
            let scanner = &mut self.scanners[0];
            let Some((start_time, fd_count)) = walk::identify(scanner, proc_dir, pid) else {
                continue;
            };
            let changed = match self.cache.get(pid) {
                // Unreadable or gone when the walk came: it said so already.
                None => walked.binary_search(&pid).is_err(),
                Some(e) if counts_known => !walk::still_valid(
                    (e.start_time, e.fd_count, u64::MAX),
                    start_time,
                    fd_count,
                    self.poll,
                    counts_known,
                ),
                Some(e) => {
                    e.start_time.is_some() && start_time.is_some() && e.start_time != start_time
                }
            };
            if !changed {
                continue;
            }
            let outcome = walk::read_table(scanner, proc_dir, pid, start_time, fd_count);
            reread.push(pid);
            if self.found(pid, outcome, missing) {
                break;
            }
        }
        self.pids = walked;
    }

    /// Read `pid`'s table again now; returns whether every `missing` inode is found.
    fn read_again(&mut self, proc_dir: &OwnedFd, pid: u32, missing: &mut Vec<u32>) -> bool {
        let outcome = walk::read_fresh(&mut self.scanners[0], proc_dir, pid);
        self.found(pid, outcome, missing)
    }

    /// Take in a table read after the dump and strike the inodes it holds off `missing`;
    /// returns whether none is left.
    fn found(&mut self, pid: u32, outcome: Outcome, missing: &mut Vec<u32>) -> bool {
        if let Outcome::Read(table) = &outcome {
            missing.retain(|inode| table.sockets.binary_search(inode).is_err());
        }
        self.apply(pid, outcome);
        missing.is_empty()
    }
}

/// The socket inodes among `pid`'s descriptors under `proc_root`, read as every poll's walk
/// reads a table (sorted, without duplicates), and how many descriptors it has: for tools
/// and benches that look at one process.
pub fn socket_inodes_of(proc_root: &Path, pid: u32) -> rustix::io::Result<(Vec<u32>, u64)> {
    let proc_dir = open(
        proc_root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut scanner = FdScanner::new();
    let count = scanner.fd_count(&proc_dir, pid)?;
    let mut inodes = Vec::new();
    let descriptors = scanner.socket_inodes(&proc_dir, pid, count, &mut inodes)?;
    inodes.sort_unstable();
    inodes.dedup();
    Ok((inodes, descriptors))
}

fn clear_owners(snapshot: &mut Snapshot) {
    snapshot.processes.clear();
    snapshot.owner_index.clear();
    for socket in &mut snapshot.sockets {
        socket.owners = Owners::default();
    }
}

#[cfg(test)]
mod tests;
