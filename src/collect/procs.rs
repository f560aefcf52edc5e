//! Process attribution: which processes hold each socket, from `/proc/*/fd`.
//!
//! STUB: interface only; the implementation lands separately.

use std::path::PathBuf;

use crate::model::{Attribution, Snapshot};

/// Maps socket inodes to the processes holding them; keeps a per-pid cache between polls.
#[derive(Debug)]
pub struct Attributor {
    proc_root: PathBuf,
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
        }
    }

    /// Fill `snapshot.processes`, `owner_index`, each socket's `owners` and `attribution`.
    pub fn attribute(&mut self, snapshot: &mut Snapshot) {
        let _ = &self.proc_root;
        snapshot.attribution = Attribution::Complete;
    }
}
