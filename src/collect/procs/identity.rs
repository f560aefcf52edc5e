//! The cold reads of one process, through `procfs`: its name and start time (`stat`), its
//! command line and its open-file limit (`limits`). They are made once per process that
//! holds a snapshot socket (and the limit now and then again, see [`super::cache`]), so
//! the crate's parsing costs nothing a poll notices; the per-poll reads of every process
//! (start time, descriptor count, descriptor table) stay hand-written in [`super::scan`].
//!
//! Every read of one process goes through one `/proc/PID` handle, so they all describe the
//! same process even if its pid is reused meanwhile, and the start time read through it
//! is checked against the one the descriptor table was read with.

use std::io::Read as _;
use std::path::Path;

use procfs::ProcError;
use procfs::process::{LimitValue, Process as ProcHandle};

use crate::model::Process;

/// A process's `/proc/PID` handle; `None` when it is gone.
pub(super) fn handle(proc_root: &Path, pid: u32) -> Option<ProcHandle> {
    ProcHandle::new_with_root(proc_root.join(pid.to_string())).ok()
}

/// `pid`'s name, command line and open-file limit, if it is still the process whose
/// descriptor table was read at `start_time` (`None`: it is gone, or the pid is another
/// process's now). What cannot be read (another user's process) is left empty.
pub(super) fn read(proc_root: &Path, pid: u32, start_time: Option<u64>) -> Option<Process> {
    let process = handle(proc_root, pid)?;
    let comm = match process.stat() {
        Ok(stat) if start_time.is_some_and(|t| t != stat.starttime) => return None,
        Ok(stat) => stat.comm,
        Err(ProcError::NotFound(_)) => return None,
        Err(_) => String::new(),
    };
    let mut raw = Vec::new();
    let cmdline = match process.open_relative("cmdline") {
        Ok(mut file) => match file.read_to_end(&mut raw) {
            Ok(_) => cmdline_text(&raw),
            Err(_) => String::new(),
        },
        Err(ProcError::NotFound(_)) => return None,
        Err(_) => String::new(),
    };
    Some(Process {
        pid,
        comm,
        cmdline,
        descriptors: None,
        fd_limit: soft_nofile(&process),
    })
}

/// The soft open-file limit of the process behind `process`; `None` when it is unreadable
/// or unlimited.
pub(super) fn soft_nofile(process: &ProcHandle) -> Option<u64> {
    match process.limits().ok()?.max_open_files.soft_limit {
        LimitValue::Value(n) => Some(n),
        LimitValue::Unlimited => None,
    }
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
