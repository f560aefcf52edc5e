//! Per-pid identity cache: a process's `comm` and `cmdline`, keyed by pid *and* start time
//! (`/proc/PID/stat` field 22), so a pid the kernel hands to a new process is read afresh.

use std::collections::HashMap;
use std::fmt::Write;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags, openat};

use super::scan::{Failure, classify};
use crate::model::Process;

/// One cached process and the poll that last saw it.
#[derive(Debug)]
struct Entry {
    start_time: u64,
    process: Process,
    generation: u64,
}

/// comm/cmdline of the processes that held sockets at the last poll.
#[derive(Debug, Default)]
pub(super) struct ProcessCache {
    entries: HashMap<u32, Entry>,
    generation: u64,
    path: String,
    buf: Vec<u8>,
}

impl ProcessCache {
    /// Start a poll: entries not looked up before [`ProcessCache::end_poll`] are dropped.
    pub(super) fn begin_poll(&mut self) {
        self.generation += 1;
    }

    /// Forget the processes this poll did not ask about.
    pub(super) fn end_poll(&mut self) {
        let generation = self.generation;
        self.entries.retain(|_, e| e.generation == generation);
    }

    /// How many processes are cached.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The process `pid`, from the cache when its start time is unchanged, else read from
    /// `proc_dir`. `None` when it has exited.
    pub(super) fn lookup(&mut self, proc_dir: &OwnedFd, pid: u32) -> Option<Process> {
        let start_time = match self.read(proc_dir, pid, "stat") {
            Ok(()) => parse_start_time(&self.buf),
            Err(Failure::Vanished) => return None,
            Err(Failure::Unreadable) => None,
        };
        if let (Some(start), Some(entry)) = (start_time, self.entries.get_mut(&pid))
            && entry.start_time == start
        {
            entry.generation = self.generation;
            return Some(entry.process.clone());
        }
        let comm = match self.read(proc_dir, pid, "comm") {
            Ok(()) => comm_text(&self.buf),
            Err(Failure::Vanished) => return None,
            Err(Failure::Unreadable) => String::new(),
        };
        let cmdline = match self.read(proc_dir, pid, "cmdline") {
            Ok(()) => cmdline_text(&self.buf),
            Err(Failure::Vanished) => return None,
            Err(Failure::Unreadable) => String::new(),
        };
        let process = Process { pid, comm, cmdline };
        match start_time {
            Some(start_time) => {
                self.entries.insert(
                    pid,
                    Entry {
                        start_time,
                        process: process.clone(),
                        generation: self.generation,
                    },
                );
            }
            None => {
                self.entries.remove(&pid);
            }
        }
        Some(process)
    }

    /// Read `/proc/PID/<file>` into `self.buf`.
    fn read(&mut self, proc_dir: &OwnedFd, pid: u32, file: &str) -> Result<(), Failure> {
        self.path.clear();
        let _ = write!(self.path, "{pid}/{file}");
        self.buf.clear();
        let fd = openat(
            proc_dir,
            self.path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(classify)?;
        File::from(fd).read_to_end(&mut self.buf).map_err(|e| {
            e.raw_os_error().map_or(Failure::Unreadable, |n| {
                classify(rustix::io::Errno::from_raw_os_error(n))
            })
        })?;
        Ok(())
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

/// `/proc/PID/comm` without its newline.
pub(super) fn comm_text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(raw)).into_owned()
}

/// `/proc/PID/cmdline`: NUL-separated arguments joined by spaces, trailing NULs dropped.
pub(super) fn cmdline_text(raw: &[u8]) -> String {
    let end = raw.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let joined: Vec<u8> = raw[..end]
        .iter()
        .map(|b| if *b == 0 { b' ' } else { *b })
        .collect();
    String::from_utf8_lossy(&joined).into_owned()
}
