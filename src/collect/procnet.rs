//! Fallback source: `/proc/net/tcp` and `/proc/net/tcp6`, for kernels without sock_diag.
//! No cookies, no tcp_info, no bound-inactive sockets.
//!
//! STUB: interface only; the implementation lands separately.

use std::path::Path;

use crate::model::Socket;

/// Open handles on one namespace's /proc/net/tcp and tcp6.
#[derive(Debug, Default)]
pub struct ProcNetFiles {}

impl ProcNetFiles {
    /// Open the calling thread's namespace's tables (`/proc/thread-self/net/tcp{,6}`).
    pub fn open() -> std::io::Result<ProcNetFiles> {
        ProcNetFiles::open_at(Path::new("/proc/thread-self/net"))
    }

    /// Open `tcp` and `tcp6` under `dir` (tests point this at fixtures).
    pub fn open_at(_dir: &Path) -> std::io::Result<ProcNetFiles> {
        Ok(ProcNetFiles {})
    }

    /// Read both tables, appending every socket to `out`.
    pub fn read(&self, _out: &mut Vec<Socket>) -> std::io::Result<()> {
        Ok(())
    }
}
