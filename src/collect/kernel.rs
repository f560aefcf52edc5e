//! Kernel TCP counters (`/proc/net/netstat`, `/proc/net/snmp`, `/proc/net/sockstat`) and
//! per-namespace limits (`/proc/sys/net/...`), opened inside the watched namespace.
//!
//! STUB: interface only; the implementation lands separately.

use std::path::Path;

use crate::model::{Counters, Limits};

/// Open handles on one namespace's counter and limit files.
#[derive(Debug, Default)]
pub struct KernelFiles {}

impl KernelFiles {
    /// Open the files of the calling thread's namespace
    /// (`/proc/thread-self/net/*`, `/proc/sys/net/*`). Files that are missing are left out.
    pub fn open() -> KernelFiles {
        KernelFiles::open_at(
            Path::new("/proc/thread-self/net"),
            Path::new("/proc/sys/net"),
        )
    }

    /// Open the files under the given directories (tests point these at fixtures).
    pub fn open_at(_proc_net: &Path, _proc_sys_net: &Path) -> KernelFiles {
        KernelFiles {}
    }

    /// Read the counters now.
    pub fn counters(&self) -> Counters {
        Counters::default()
    }

    /// Read the limits now.
    pub fn limits(&self) -> Limits {
        Limits::default()
    }
}
