//! Outputs that render a snapshot once: the text report and the JSON document.
//! None of them talks to the kernel or counts anything the collector did not give it.

pub mod anomaly;
pub mod check;
mod chunks;
pub mod json;
pub mod text;

use crate::aggregate::Anomaly;
use crate::model::Snapshot;

/// One namespace of an `--all-netns` report: its snapshot (whose `netns`, `netns_inode`
/// and `netns_container` say which namespace it is) and the anomalies its own rules raised.
#[derive(Clone, Debug, Default)]
pub struct NamespaceReport {
    /// The namespace's one poll.
    pub snapshot: Snapshot,
    /// What its rules raised, most severe first.
    pub anomalies: Vec<Anomaly>,
}

/// The snapshot the report tests start from: host `web-1`, the host namespace, one process
/// (pid 4242) that socket owners index as 0, and no sockets yet.
#[cfg(test)]
pub(crate) fn fixture(comm: &str, cmdline: &str) -> crate::model::Snapshot {
    use crate::model::{Attribution, Process, Snapshot};
    use std::time::{Duration, SystemTime};
    Snapshot {
        taken_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)),
        host: "web-1".into(),
        netns: "host".into(),
        processes: vec![Process {
            pid: 4242,
            comm: comm.into(),
            cmdline: cmdline.into(),
            ..Process::default()
        }],
        owner_index: vec![0],
        attribution: Attribution::Complete,
        ..Snapshot::default()
    }
}
