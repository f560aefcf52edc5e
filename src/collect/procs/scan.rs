//! The descriptor walk: every `/proc/PID/fd/N` readlink'ed once, socket inodes of interest
//! collected as `(inode, pid)` pairs. Buffers live in [`FdScanner`] and are reused, so the
//! per-descriptor loop allocates nothing.

use std::collections::HashSet;
use std::fmt::Write;
use std::hash::BuildHasherDefault;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags, RawDir, openat, readlinkat_raw};
use rustix::io::Errno;

use super::InodeHasher;

/// Socket inodes the snapshot holds.
pub(super) type InodeSet = HashSet<u32, BuildHasherDefault<InodeHasher>>;

/// `getdents64` buffer: a /proc/PID/fd entry is ~24 bytes, so ~1,300 descriptors per call.
const DIRENT_BUFFER: usize = 32 * 1024;
/// `socket:[4294967295]` is 19 bytes; longer link targets are not sockets.
const LINK_BUFFER: usize = 64;

/// What a failed step means for the process being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The process (or descriptor) went away mid-scan: skip it silently.
    Vanished,
    /// Its descriptors cannot be read (another user's process without root): count it.
    Unreadable,
}

/// Classify an error from opening, listing or reading a process's descriptors.
pub(super) fn classify(errno: Errno) -> Failure {
    match errno {
        Errno::NOENT | Errno::SRCH => Failure::Vanished,
        _ => Failure::Unreadable,
    }
}

/// The inode of a `socket:[INODE]` link target; `None` for anything else.
pub(super) fn socket_inode(target: &[u8]) -> Option<u32> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut value = 0u64;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(d - b'0');
    }
    u32::try_from(value).ok()
}

/// Reusable buffers for the walk.
pub(super) struct FdScanner {
    dirents: Vec<MaybeUninit<u8>>,
    path: String,
    pids: Vec<u32>,
}

impl std::fmt::Debug for FdScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FdScanner")
            .field("pids", &self.pids.len())
            .finish_non_exhaustive()
    }
}

impl FdScanner {
    /// Buffers sized for /proc.
    pub(super) fn new() -> FdScanner {
        FdScanner {
            dirents: vec![MaybeUninit::uninit(); DIRENT_BUFFER],
            path: String::with_capacity(32),
            pids: Vec::new(),
        }
    }

    /// Walk every process under `proc_dir` and append `(inode, pid)` for each descriptor
    /// that is a socket in `wanted`. Returns how many processes' descriptors were unreadable.
    pub(super) fn scan(
        &mut self,
        proc_dir: &OwnedFd,
        wanted: &InodeSet,
        hits: &mut Vec<(u32, u32)>,
    ) -> u32 {
        let FdScanner {
            dirents,
            path,
            pids,
        } = self;
        list_pids(proc_dir, dirents, pids);
        let mut unreadable = 0;
        for &pid in pids.iter() {
            path.clear();
            let _ = write!(path, "{pid}/fd");
            let result = openat(
                proc_dir,
                path.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .and_then(|fd_dir| scan_fds(&fd_dir, pid, dirents, wanted, hits));
            if let Err(errno) = result
                && classify(errno) == Failure::Unreadable
            {
                unreadable += 1;
            }
        }
        unreadable
    }
}

/// The numeric entries of the proc root, in directory order.
fn list_pids(proc_dir: &OwnedFd, dirents: &mut [MaybeUninit<u8>], pids: &mut Vec<u32>) {
    pids.clear();
    // The proc root handle is opened fresh for each walk, so it starts at offset 0.
    let mut dir = RawDir::new(proc_dir.as_fd(), dirents);
    while let Some(Ok(entry)) = dir.next() {
        let name = entry.file_name().to_bytes();
        if !name.is_empty()
            && name.iter().all(u8::is_ascii_digit)
            && let Some(pid) = std::str::from_utf8(name)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
        {
            pids.push(pid);
        }
    }
}

/// Readlink every descriptor of one process. A descriptor closed under us is skipped;
/// any other failure ends this process's scan with its errno.
fn scan_fds(
    fd_dir: &OwnedFd,
    pid: u32,
    dirents: &mut [MaybeUninit<u8>],
    wanted: &InodeSet,
    hits: &mut Vec<(u32, u32)>,
) -> Result<(), Errno> {
    let mut link = [0u8; LINK_BUFFER];
    let mut dir = RawDir::new(fd_dir.as_fd(), dirents);
    while let Some(entry) = dir.next() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        match readlinkat_raw(fd_dir, name, &mut link[..]) {
            Ok(len) => {
                if let Some(inode) = socket_inode(&link[..len.min(LINK_BUFFER)])
                    && wanted.contains(&inode)
                {
                    hits.push((inode, pid));
                }
            }
            Err(Errno::NOENT) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}
