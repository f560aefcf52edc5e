//! Every namespace at once in the dashboard (`sockscope -A`): the Namespaces view's rows
//! and the anomalies of every namespace, each naming its namespace, from a round of the
//! watcher (each namespace's rules run there, on the collector thread, as in
//! `snapshot -A`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::aggregate::Anomaly;
use crate::model::{NetnsLabel, StateCounts};
use crate::watch::Round;

/// One row of the Namespaces view.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceRow {
    /// Its name, inode and container.
    pub label: NetnsLabel,
    /// Its sockets per state, as of its last dump.
    pub counts: StateCounts,
    /// Anomalies raised in it.
    pub anomalies: usize,
    /// When its data was dumped (`None`: never yet).
    pub dumped_at: Option<SystemTime>,
    /// Why its last dump failed, while no later one succeeded.
    pub error: Option<String>,
}

/// What the dashboard shows of every namespace after one poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespacesOnScreen {
    /// One row per namespace, sockscope's own first, then by name.
    pub rows: Vec<NamespaceRow>,
    /// The anomalies of every namespace, most severe first, each naming its namespace.
    pub anomalies: Vec<Anomaly>,
    /// Namespaces found but not watched for lack of descriptors.
    pub over_limit: usize,
    /// Namespaces this poll dumped.
    pub dumped: usize,
    /// When the poll started: the data ages are measured to it.
    pub taken_at: Option<SystemTime>,
}

impl NamespacesOnScreen {
    /// How old the oldest namespace's data is at `now` (`None` without namespaces).
    pub fn oldest(&self, now: SystemTime) -> Option<Duration> {
        self.rows
            .iter()
            .map(|r| {
                r.dumped_at.map_or(Duration::MAX, |at| {
                    now.duration_since(at).unwrap_or_default()
                })
            })
            .max()
    }
}

impl NamespacesOnScreen {
    /// What the screen shows of every namespace after `round`: a row per namespace (its
    /// counts as of its last dump, its anomalies as its judge last raised them), and the
    /// anomalies of all, each naming its namespace.
    pub fn of(round: &Round) -> NamespacesOnScreen {
        let mut rows = Vec::with_capacity(round.namespaces.len());
        let mut anomalies = Vec::new();
        for namespace in &round.namespaces {
            let raised = namespace
                .verdict
                .as_ref()
                .map_or(&[][..], |v| v.anomalies.as_slice());
            anomalies.extend(raised.iter().map(|a| Anomaly {
                netns: Some(namespace.label.name.clone()),
                ..a.clone()
            }));
            rows.push(NamespaceRow {
                label: namespace.label.clone(),
                counts: namespace
                    .snapshot
                    .as_ref()
                    .map(|s| s.state_counts())
                    .unwrap_or_default(),
                anomalies: raised.len(),
                dumped_at: namespace.dumped_at,
                error: namespace.error.clone(),
            });
        }
        // Most severe first; namespace order within a severity.
        anomalies.sort_by_key(|a| std::cmp::Reverse(a.severity));
        NamespacesOnScreen {
            rows,
            anomalies,
            over_limit: round.over_limit,
            dumped: round.dumped,
            taken_at: Some(round.taken_at),
        }
    }
}

/// The shared form the screen keeps.
pub type SharedNamespaces = Arc<NamespacesOnScreen>;
