//! Reading one process's descriptor table: every `/proc/PID/fd/N` readlink'ed once, the
//! inodes of its `socket:[INODE]` targets kept. Buffers live in [`FdScanner`] and are
//! reused, so the per-descriptor loop allocates nothing.
//!
//! # Why not procfs
//!
//! This is the hot path (a second of syscalls at a million sockets), so it is written by
//! hand rather than with procfs's `Process::fd()`. That iterator lists the directory and,
//! per descriptor, opens the entry `O_PATH`, readlinks it, `fstatat`s it (for its mode)
//! and closes it, allocating its path and link target: four syscalls and two allocations
//! where this scan makes one readlink into a stack buffer, and looks descriptors up by
//! number instead of listing them. `cargo bench --bench procfs`, one process holding
//! 10,000 sockets, on the 2-core test machine under other builds: this scan 37.8 ms and
//! 31.7 ms (3.2–3.8 µs a descriptor), procfs's `fd()` 59.6 ms and 48.5 ms (1.5–1.6× as
//! long), in two runs.

use std::ffi::CStr;
use std::fmt::{Display, Write};
use std::fs::File;
use std::io::Read;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, RawDir, fstat, openat, readlinkat_raw, statat};
use rustix::io::Errno;

/// `getdents64` buffer: a /proc/PID/fd entry is ~24 bytes, so ~1,300 descriptors per call.
const DIRENT_BUFFER: usize = 32 * 1024;
/// `socket:[4294967295]` is 19 bytes; longer link targets are not sockets.
const LINK_BUFFER: usize = 64;

/// What a failed step means for the process being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScanFailure {
    /// The process (or descriptor) went away mid-scan: skip it silently.
    Vanished,
    /// Its descriptors cannot be read (another user's process without root): count it.
    Unreadable,
}

/// Classify an error from opening, listing or reading a process's descriptors.
pub(super) fn classify(errno: Errno) -> ScanFailure {
    match errno {
        Errno::NOENT | Errno::SRCH => ScanFailure::Vanished,
        _ => ScanFailure::Unreadable,
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

/// Reusable buffers for reading descriptor tables and small /proc files; one per walking
/// thread.
pub(super) struct FdScanner {
    dirents: Vec<MaybeUninit<u8>>,
    path: String,
    buf: Vec<u8>,
}

impl std::fmt::Debug for FdScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FdScanner").finish_non_exhaustive()
    }
}

impl FdScanner {
    /// Buffers sized for /proc.
    pub(super) fn new() -> FdScanner {
        FdScanner {
            // Allocated at the first listing: `-A` opens one collector per namespace, each
            // with an attributor it never uses (the walk is shared), 200 × 64 KB for nothing.
            dirents: Vec::new(),
            path: String::with_capacity(32),
            buf: Vec::with_capacity(1024),
        }
    }

    /// The contents of `/proc/PID/<file>`.
    pub(super) fn read(
        &mut self,
        proc_dir: &OwnedFd,
        pid: u32,
        file: &str,
    ) -> Result<&[u8], ScanFailure> {
        let path = self.path(pid, file);
        let fd = openat(
            proc_dir,
            path,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(classify)?;
        self.buf.clear();
        File::from(fd).read_to_end(&mut self.buf).map_err(|e| {
            e.raw_os_error().map_or(ScanFailure::Unreadable, |n| {
                classify(Errno::from_raw_os_error(n))
            })
        })?;
        Ok(&self.buf)
    }

    fn path(&mut self, pid: impl Display, file: &str) -> &str {
        self.path.clear();
        let _ = write!(self.path, "{pid}/{file}");
        &self.path
    }

    /// How many descriptors `pid` has open: the size `stat` reports for `/proc/PID/fd`
    /// (Linux 6.2 and later; 0 before, and for kernel threads).
    pub(super) fn fd_count(&mut self, proc_dir: &OwnedFd, pid: impl Display) -> Result<u64, Errno> {
        let path = self.path(pid, "fd");
        Ok(statat(proc_dir, path, AtFlags::empty())?.st_size as u64)
    }

    /// Append the socket inodes among `pid`'s descriptors to `inodes`; returns how many
    /// descriptors were read. A descriptor closed under us is skipped; any other failure
    /// ends the scan with its errno.
    ///
    /// With the descriptor count known (`fd_count` > 0), descriptors are looked up by
    /// number from 0 until that many were found, without listing the directory: a listing
    /// of /proc/PID/fd looks up every entry just to report its inode number, which costs
    /// as much again as the readlinks. Tables with holes, and tables that changed since
    /// the count, fall back to the listing for the numbers above the last one probed.
    pub(super) fn socket_inodes(
        &mut self,
        proc_dir: &OwnedFd,
        pid: u32,
        fd_count: u64,
        inodes: &mut Vec<u32>,
    ) -> Result<u64, Errno> {
        let path = self.path(pid, "fd");
        let fd_dir = openat(
            proc_dir,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut found = 0;
        let mut next = 0u64;
        let mut misses = 0;
        let miss_limit = (fd_count / 8).max(32);
        while found < fd_count {
            let mut name = [0u8; 24];
            let len = decimal(next, &mut name);
            let name = CStr::from_bytes_with_nul(&name[..=len]).map_err(|_| Errno::INVAL)?;
            next += 1;
            match read_socket_link(&fd_dir, name, inodes) {
                Ok(()) => found += 1,
                Err(Errno::NOENT) => {
                    misses += 1;
                    if misses > miss_limit {
                        break;
                    }
                }
                Err(errno) => return Err(errno),
            }
        }
        // Probing stops at the count taken before the table was opened; a descriptor
        // opened since in a lower hole (by the process, or by this walk itself when the
        // process is this one) would hide the highest one, so the count must still hold.
        if fd_count > 0 && found == fd_count && fstat(&fd_dir)?.st_size as u64 == fd_count {
            return Ok(found);
        }
        if self.dirents.is_empty() {
            self.dirents = vec![MaybeUninit::uninit(); DIRENT_BUFFER];
        }
        let mut dir = RawDir::new(fd_dir.as_fd(), &mut self.dirents);
        while let Some(entry) = dir.next() {
            let entry = entry?;
            let name = entry.file_name();
            let number = std::str::from_utf8(name.to_bytes())
                .ok()
                .and_then(|n| n.parse::<u64>().ok());
            if number.is_none_or(|n| n < next) {
                // "." and "..", or probed already.
                continue;
            }
            match read_socket_link(&fd_dir, name, inodes) {
                Ok(()) => found += 1,
                Err(Errno::NOENT) => {}
                Err(errno) => return Err(errno),
            }
        }
        Ok(found)
    }
}

/// Readlink one descriptor and append its inode to `inodes` if it is a socket.
fn read_socket_link(fd_dir: &OwnedFd, name: &CStr, inodes: &mut Vec<u32>) -> Result<(), Errno> {
    let mut link = [0u8; LINK_BUFFER];
    let len = readlinkat_raw(fd_dir, name, &mut link[..])?;
    if let Some(inode) = socket_inode(&link[..len.min(LINK_BUFFER)]) {
        inodes.push(inode);
    }
    Ok(())
}

/// Write `n` in decimal at the start of `out`, NUL-terminated; returns its length.
fn decimal(mut n: u64, out: &mut [u8; 24]) -> usize {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        out[i] = *d;
    }
    out[len] = 0;
    len
}

/// The numeric entries of the proc root, in directory order.
pub(super) fn list_pids(proc_dir: &OwnedFd, pids: &mut Vec<u32>) {
    pids.clear();
    let mut dirents = vec![MaybeUninit::uninit(); DIRENT_BUFFER];
    // The proc root handle is opened fresh for each walk, so it starts at offset 0.
    let mut dir = RawDir::new(proc_dir.as_fd(), &mut dirents);
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
