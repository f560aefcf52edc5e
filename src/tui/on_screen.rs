//! One poll as the screen shows it: the snapshot and the summaries, shared with the
//! aggregator rather than copied.

use std::sync::Arc;

use crate::aggregate::{Anomaly, Summary};
use crate::model::Snapshot;

use super::namespaces::SharedNamespaces;

/// One poll as the screen shows it. The summaries are the aggregators' own
/// ([`Aggregator::shared_summary`](crate::aggregate::Aggregator::shared_summary)): taking in
/// a poll copies no summary and no history as long as the previous `OnScreen` is let go first.
#[derive(Clone, Debug)]
pub struct OnScreen {
    /// The snapshot.
    pub snapshot: Arc<Snapshot>,
    /// The summary of every socket.
    pub summary: Arc<Summary>,
    /// The summary of the sockets the filter keeps (`None`: no filter).
    pub narrowed: Option<Arc<Summary>>,
    /// With `-A`: every namespace's row and anomalies (`None`: one namespace watched).
    pub namespaces: Option<SharedNamespaces>,
}

impl OnScreen {
    /// The summary the table's group views use.
    pub fn table_summary(&self) -> &Summary {
        self.narrowed.as_deref().unwrap_or(&self.summary)
    }

    /// Whether the tables show their CONTAINER column and the detail pane a socket's
    /// cgroup and container: when the snapshot (all of it, whatever the filter keeps) has
    /// sockets in more than one cgroup or more than one namespace (`-A`), or any socket in
    /// a container
    /// ([`Cgroups::mixed`](crate::model::Cgroups::mixed)). A host where every socket is in
    /// one plain cgroup (`/`), or whose kernel tells no cgroups, looks as it did before.
    pub fn has_containers(&self) -> bool {
        self.snapshot.cgroups.mixed() || self.snapshot.namespaces.len() > 1
    }

    /// When the last poll was taken. With `-A` that is the poll's time, not the sockets':
    /// a poll that dumped no namespace (or none whose sockets changed) leaves the sockets
    /// on screen as they were, and what ages (data, anomalies) is measured to the poll.
    pub fn polled_at(&self) -> Option<std::time::SystemTime> {
        self.namespaces
            .as_ref()
            .and_then(|n| n.taken_at)
            .or(self.snapshot.taken_at)
    }

    /// The anomalies the panel lists: every namespace's with `-A` (each naming its
    /// namespace), else the summary's.
    pub fn anomalies(&self) -> &[Anomaly] {
        match &self.namespaces {
            Some(namespaces) => &namespaces.anomalies,
            None => &self.summary.anomalies,
        }
    }
}
